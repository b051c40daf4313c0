"""Every optimizer under jax.jit + lax.scan + optax.chain, under inject_hyperparams, and with
hyperparameters that are traced (jit, vmap) or differentiated (grad), checked against eager runs and
finite differences.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l.optimizers import OPTIMIZERS, make, momentum, smoothed_nesterov

STEPS = 20

# Non-default hyperparameters, modest enough for every rule to stay well-behaved on the task.
HYPERPARAMS = {
    "sgd": {"learning_rate": 0.1},
    "momentum": {"learning_rate": 0.05, "momentum": 0.8},
    "nesterov": {"learning_rate": 0.05, "momentum": 0.8},
    "smoothed_nesterov": {"learning_rate": 0.05, "momentum": 0.8, "points": 3},
    "adagrad": {"learning_rate": 0.3, "eps": 1e-6},
    "rmsprop": {"learning_rate": 0.05, "decay": 0.8, "eps": 1e-6},
    "adadelta": {"rho": 0.8, "eps": 1e-4, "initial_delta": 0.5, "learning_rate": 0.7},
    "adam": {"learning_rate": 0.05, "b1": 0.8, "b2": 0.95, "eps": 1e-6, "eps_root": 1e-8},
    "adamax": {"learning_rate": 0.05, "b1": 0.8, "b2": 0.95, "eps": 1e-6},
}


def test_every_registered_optimizer_is_covered():
    assert set(HYPERPARAMS) == set(OPTIMIZERS)


def _task():
    """A separable quadratic on a mixed pytree: leaves of different shapes, a nested tuple."""
    params = {
        "w": jnp.linspace(-1.0, 1.0, 6).reshape(3, 2),
        "rest": (jnp.arange(4.0), jnp.ones(())),
    }
    scale = jax.tree.map(lambda p: 1.0 + jnp.arange(p.size, dtype=p.dtype).reshape(p.shape), params)

    def loss(p):
        terms = jax.tree.map(lambda x, c: jnp.sum(0.5 * c * (x - 0.3) ** 2), p, scale)
        return sum(jax.tree.leaves(terms))

    return params, loss


def _stepwise_run(opt, params, loss, steps=STEPS):
    """The reference: a Python loop of single jitted steps (one small compile, no scan/chain)."""
    grad_fn = jax.grad(loss)

    @jax.jit
    def step(params, state):
        updates, state = opt.update(grad_fn(params), state, params, grad_fn=grad_fn)
        return optax.apply_updates(params, updates), state

    state = opt.init(params)
    for _ in range(steps):
        params, state = step(params, state)
    return params


def _scanned_run(opt, params, loss, steps=STEPS):
    grad_fn = jax.grad(loss)

    def step(carry, _):
        params, state = carry
        updates, state = opt.update(grad_fn(params), state, params, grad_fn=grad_fn)
        return (optax.apply_updates(params, updates), state), loss(params)

    (params, state), losses = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
    return params, state, losses


@pytest.mark.parametrize("name", sorted(HYPERPARAMS))
def test_jit_scan_and_chain_agree_with_a_stepwise_run(name, assert_trees_close):
    params, loss = _task()
    plain = make(name, **HYPERPARAMS[name])
    # A clip norm no gradient reaches: the chain must be the plain optimizer, number for number.
    chained = optax.chain(optax.clip_by_global_norm(1e6), make(name, **HYPERPARAMS[name]))

    @jax.jit
    def both():
        return _scanned_run(plain, params, loss), _scanned_run(chained, params, loss)

    (plain_params, plain_state, losses), (chained_params, _, _) = both()
    expected = _stepwise_run(plain, params, loss)
    assert_trees_close(plain_params, expected, rtol=2e-5, atol=1e-6)
    assert_trees_close(chained_params, expected, rtol=2e-5, atol=1e-6)
    assert losses[-1] < losses[0]  # and the optimizer does descend on the task
    # The state is arrays only, of stable dtypes; step counters are int32.
    for leaf in jax.tree.leaves(plain_state):
        assert leaf.dtype in (jnp.float32, jnp.int32)
    init_leaves = jax.tree.leaves(plain.init(params))
    assert [x.dtype for x in init_leaves] == [x.dtype for x in jax.tree.leaves(plain_state)]


def test_chain_clipping_really_acts_on_the_gradient():
    """One sgd step after clip_by_global_norm(c) is -lr * g * c / ||g|| when ||g|| > c."""
    params = {"a": jnp.array([3.0, 0.0]), "b": jnp.array([[4.0]])}
    grads = params  # global norm 5
    opt = optax.chain(optax.clip_by_global_norm(1.0), make("sgd", learning_rate=0.5))
    updates, _ = jax.jit(opt.update)(grads, opt.init(params), params)
    np.testing.assert_allclose(updates["a"], [-0.5 * 3.0 / 5.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(updates["b"], [[-0.5 * 4.0 / 5.0]], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(HYPERPARAMS))
def test_traced_lr_under_jit_and_vmap_matches_concrete_lr(name, assert_trees_close):
    """A tuner's shape of use: lr is a traced array, here a batch of them under jit(vmap(...))."""
    params, loss = _task()
    hyperparams = {k: v for k, v in HYPERPARAMS[name].items() if k != "learning_rate"}
    lrs = jnp.array([0.05, 0.2])

    def final_params(lr):
        return _scanned_run(make(name, learning_rate=lr, **hyperparams), params, loss, steps=5)[0]

    batched = jax.jit(jax.vmap(final_params))(lrs)
    # The same runs with lr a Python float, closed over (validated, folded in as a constant).
    concrete = jax.jit(lambda: [final_params(0.05), final_params(0.2)])()
    for i in range(2):
        row = jax.tree.map(lambda x, i=i: x[i], batched)
        assert_trees_close(row, concrete[i], rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(HYPERPARAMS))
def test_gradient_through_the_updates_wrt_lr_matches_finite_difference(name, x64):
    """A hyperoptimizer's shape of use: d(loss after 5 steps)/d(lr), in float64."""
    params, loss = _task()
    params = jax.tree.map(lambda x: x.astype(jnp.float64), params)
    hyperparams = {k: v for k, v in HYPERPARAMS[name].items() if k != "learning_rate"}
    lr = HYPERPARAMS[name]["learning_rate"]

    def loss_after(lr):
        return loss(
            _scanned_run(make(name, learning_rate=lr, **hyperparams), params, loss, steps=5)[0]
        )

    value_and_grad = jax.jit(jax.value_and_grad(loss_after))  # one compile: lr is always float64
    h = 1e-6
    lr_minus, lr_0, lr_plus = jnp.array([lr - h, lr, lr + h], dtype=jnp.float64)
    finite_difference = (value_and_grad(lr_plus)[0] - value_and_grad(lr_minus)[0]) / (2 * h)
    np.testing.assert_allclose(value_and_grad(lr_0)[1], finite_difference, rtol=1e-5)


def test_inject_hyperparams_matches_the_plain_optimizer(
    grad_sequence, initial_params, run_updates, assert_trees_close
):
    injected = optax.inject_hyperparams(momentum)(learning_rate=0.05, momentum=0.8)
    assert_trees_close(
        run_updates(injected, grad_sequence[:10], initial_params),
        run_updates(momentum(0.05, 0.8), grad_sequence[:10], initial_params),
        rtol=1e-6,
        atol=1e-7,
    )


def test_smoothed_nesterov_points_must_be_static_under_inject_hyperparams(assert_trees_close):
    params, loss = _task()
    grad_fn = jax.grad(loss)

    def one_step(opt):
        state = opt.init(params)
        return jax.jit(lambda s: opt.update(grad_fn(params), s, params, grad_fn=grad_fn)[0])(state)

    with pytest.raises(TypeError, match=r"static_args=\('points',\)"):
        one_step(
            optax.inject_hyperparams(smoothed_nesterov)(learning_rate=0.05, momentum=0.8, points=3)
        )
    static = optax.inject_hyperparams(smoothed_nesterov, static_args=("points",))
    assert_trees_close(
        one_step(static(learning_rate=0.05, momentum=0.8, points=3)),
        one_step(smoothed_nesterov(0.05, 0.8, points=3)),
        rtol=1e-6,
    )
