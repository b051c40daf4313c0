"""adagrad, rmsprop, adadelta, adam, adamax against NumPy float64 recurrences and against optax.

The oracle comparisons run with float64 enabled in JAX (the ``x64`` fixture) and hold the
optimizers to 1e-6 relative.
"""

import numpy as np
import optax
import pytest

from l2l.optimizers import adadelta, adagrad, adam, adamax, rmsprop

# --- NumPy float64 oracles: generators over one leaf's gradient sequence, yielding the updates.


def adagrad_oracle(lr, eps):
    def rule(grads):
        G = np.zeros_like(grads[0])
        for g in grads:
            G = G + g**2
            yield -lr * g / np.sqrt(G + eps)

    return rule


def rmsprop_oracle(lr, gamma, eps):
    def rule(grads):
        E = np.zeros_like(grads[0])
        for g in grads:
            E = gamma * E + (1 - gamma) * g**2
            yield -lr * g / np.sqrt(E + eps)

    return rule


def adadelta_oracle(gamma, eps, initial_delta, lr):
    def rule(grads):
        E = np.zeros_like(grads[0])
        D = np.full_like(grads[0], initial_delta)
        for g in grads:
            E = gamma * E + (1 - gamma) * g**2
            step = np.sqrt(D + eps) / np.sqrt(E + eps) * g
            D = gamma * D + (1 - gamma) * step**2
            yield -lr * step

    return rule


def adam_oracle(lr, b1, b2, eps, eps_root):
    def rule(grads):
        m = np.zeros_like(grads[0])
        v = np.zeros_like(grads[0])
        for t, g in enumerate(grads, start=1):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g**2
            m_hat = m / (1 - b1**t)
            v_hat = v / (1 - b2**t)
            yield -lr * m_hat / (np.sqrt(v_hat + eps_root) + eps)

    return rule


def adamax_oracle(lr, b1, b2, eps):
    def rule(grads):
        m = np.zeros_like(grads[0])
        u = np.zeros_like(grads[0])
        for t, g in enumerate(grads, start=1):
            m = b1 * m + (1 - b1) * g
            u = np.maximum(b2 * u, np.abs(g))
            yield -lr / (1 - b1**t) * m / (u + eps)

    return rule


CASES = [
    # (id, our optimizer, its oracle) with non-default hyperparameters where they matter.
    ("adagrad", adagrad(learning_rate=0.3, eps=1e-3), adagrad_oracle(0.3, 1e-3)),
    ("rmsprop", rmsprop(learning_rate=0.02, decay=0.8, eps=1e-4), rmsprop_oracle(0.02, 0.8, 1e-4)),
    ("adadelta-zero-start", adadelta(rho=0.7, eps=1e-4), adadelta_oracle(0.7, 1e-4, 0.0, 1.0)),
    (
        "adadelta-big-start",
        adadelta(rho=0.95, eps=1e-6, initial_delta=50.0, learning_rate=0.5),
        adadelta_oracle(0.95, 1e-6, 50.0, 0.5),
    ),
    (
        "adam",
        adam(learning_rate=0.01, b1=0.8, b2=0.95, eps=1e-3, eps_root=1e-4),
        adam_oracle(0.01, 0.8, 0.95, 1e-3, 1e-4),
    ),
    (
        "adamax",
        adamax(learning_rate=0.02, b1=0.8, b2=0.9, eps=0.1),
        adamax_oracle(0.02, 0.8, 0.9, 0.1),
    ),
]


@pytest.mark.parametrize("name, opt, oracle", CASES, ids=[c[0] for c in CASES])
def test_matches_numpy_float64_recurrence(
    name, opt, oracle, x64, grad_sequence, initial_params, run_updates, leafwise, assert_trees_close
):
    del name
    actual = run_updates(opt, grad_sequence, initial_params)
    assert actual[0]["w"].dtype == np.float64  # the comparison really is in float64
    assert_trees_close(actual, leafwise(oracle, grad_sequence), rtol=1e-6)


EQUIVALENT_TO_OPTAX = [
    (
        "adagrad",
        adagrad(learning_rate=0.3, eps=1e-3),
        optax.adagrad(0.3, initial_accumulator_value=0.0, eps=1e-3),
    ),
    (
        "rmsprop",
        rmsprop(learning_rate=0.02, decay=0.8, eps=1e-4),
        optax.rmsprop(0.02, decay=0.8, eps=1e-4),
    ),
    (
        "adadelta",
        adadelta(rho=0.7, eps=1e-4, learning_rate=0.5),
        optax.adadelta(0.5, rho=0.7, eps=1e-4),
    ),
    (
        "adam",
        adam(learning_rate=0.01, b1=0.8, b2=0.95, eps=1e-3, eps_root=1e-4),
        optax.adam(0.01, b1=0.8, b2=0.95, eps=1e-3, eps_root=1e-4),
    ),
    # optax.adamax puts eps inside the max; with eps far below float64 resolution of every
    # nonzero |g| the rules coincide (and both give 0 where g and u are 0).
    (
        "adamax-tiny-eps",
        adamax(learning_rate=0.02, b1=0.8, b2=0.9, eps=1e-30),
        optax.adamax(0.02, 0.8, 0.9, eps=1e-30),
    ),
]


@pytest.mark.parametrize(
    "name, ours, reference", EQUIVALENT_TO_OPTAX, ids=[c[0] for c in EQUIVALENT_TO_OPTAX]
)
def test_equivalent_to_optax(
    name, ours, reference, x64, grad_sequence, initial_params, run_updates, assert_trees_close
):
    del name
    assert_trees_close(
        run_updates(ours, grad_sequence, initial_params),
        run_updates(reference, grad_sequence, initial_params),
        rtol=1e-9,
    )


def test_adamax_eps_outside_the_max_differs_from_optax(x64, run_updates, assert_trees_close):
    """Where eps matters, ours divides by u_t + eps (the paper), not optax's max(., |g| + eps)."""
    grads = [{"x": np.array([1.0, -2.0])}, {"x": np.array([0.5, 0.1])}]
    params = {"x": np.zeros(2)}
    lr, b1, b2, eps = 0.1, 0.5, 0.5, 0.5
    ours = run_updates(adamax(lr, b1, b2, eps), grads, params)
    # Step 1: m = 0.5 g, u = |g|, update = -lr / 0.5 * 0.5 g / (|g| + eps).
    np.testing.assert_allclose(ours[0]["x"], [-0.1 / 1.5, 0.2 / 2.5], rtol=1e-12)
    theirs = run_updates(optax.adamax(lr, b1, b2, eps), grads, params)
    assert not np.allclose(ours[1]["x"], theirs[1]["x"])


def test_adadelta_big_start_takes_bigger_first_steps(x64, run_updates):
    """D_0 sets the first step: s_1 = sqrt(D_0 + eps) / sqrt((1 - gamma) g^2 + eps) * g."""
    grads = [{"x": np.array([2.0])}]
    params = {"x": np.zeros(1)}
    gamma, eps = 0.9, 1e-6
    for initial_delta in (0.0, 50.0):
        (update,) = run_updates(adadelta(gamma, eps, initial_delta), grads, params)
        expected = -np.sqrt(initial_delta + eps) / np.sqrt(0.1 * 4.0 + eps) * 2.0
        np.testing.assert_allclose(update["x"], [expected], rtol=1e-12)


def test_adamax_state_counts_in_int32(initial_params):
    state = adamax().init(initial_params)
    assert state.count.dtype == np.int32 and state.count.shape == ()
