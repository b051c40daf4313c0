"""``mode='forward'`` alone (``l2l.hyper.modes.Forward``, no stack): its one-step hypergradient
against Baydin's closed form and against central finite differences of the plain rule."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l import hyper
from l2l.hyper.modes import Forward


def _dot(a, b):
    return sum(float(np.vdot(x, y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("reparam", ["raw", "log"])
def test_sgd_hypergradient_is_baydins_rule(x64, walk, problems, reparam):
    """d f(theta_t) / d alpha = -g_t . g_{t-1} (raw), alpha times that per unit of log alpha; the
    tangent's norm is ||g_{t-1}||, alpha times it."""
    alpha = 0.05
    seen = walk(
        Forward(), hyper.sgd(alpha, reparam=reparam), ("learning_rate",), problems["smooth"], 6
    )
    scale = {"raw": 1.0, "log": alpha}[reparam]
    for t in range(1, 7):
        g, previous = seen.grads[t], seen.grads[t - 1]
        np.testing.assert_allclose(
            seen.hypergradients[t - 1], [-scale * _dot(g, previous)], rtol=1e-12
        )
        np.testing.assert_allclose(
            seen.norms[t - 1], [scale * np.sqrt(_dot(previous, previous))], rtol=1e-12
        )


LEARNED_RULES = {
    "adam": (
        lambda **h: hyper.adam(**h, learn=("learning_rate", "b1", "b2")),
        {"learning_rate": 0.05, "b1": 0.8, "b2": 0.95, "eps": 1e-6, "eps_root": 1e-8},
    ),
    "rmsprop": (
        lambda **h: hyper.rmsprop(**h, learn=("learning_rate", "decay")),
        {"learning_rate": 0.05, "decay": 0.8, "eps": 1e-6},
    ),
    "adagrad": (hyper.adagrad, {"learning_rate": 0.3, "eps": 1e-6}),
    "momentum": (
        lambda **h: hyper.sgd(**h, learn=("learning_rate", "momentum")),
        {"learning_rate": 0.05, "momentum": 0.7},
    ),
}


@pytest.mark.parametrize("reparam", ["raw", "auto"])
@pytest.mark.parametrize("rule", sorted(LEARNED_RULES))
def test_hypergradient_equals_central_finite_difference(
    x64, walk, problems, raw_values, rule, reparam
):
    """d f(theta_t) / d phi for every learned hyperparameter, against a central difference of
    f(theta_{t-1} + u(g_{t-1}, s_{t-2}; T(phi))) computed with the plain rule; the step is the
    plain rule's."""
    make, values = LEARNED_RULES[rule]
    level = make(**values, reparam=reparam)
    names = level.learned_names(top=False)
    assert len(names) == {"adam": 3, "rmsprop": 2, "adagrad": 1, "momentum": 2}[rule]
    steps = 5
    seen = walk(Forward(), level, names, problems["smooth"], steps)
    phi = raw_values(level, names)
    theta, state, grad = seen.params[-2], seen.rule_states[-1], seen.grads[-2]
    plain_step, _ = level.rule(level.values(dict(zip(names, phi)))).update(grad, state)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-14), seen.steps[-1], plain_step
    )

    def f_of_raw(name, value):
        raw = dict(zip(names, phi))
        raw[name] = value
        step, _ = level.rule(level.values(raw)).update(grad, state)
        return float(seen.loss(optax.apply_updates(theta, step)))

    for j, name in enumerate(names):
        value = float(phi[j])
        eps = 1e-6 * max(abs(value), 1e-2)
        finite_difference = (f_of_raw(name, value + eps) - f_of_raw(name, value - eps)) / (2 * eps)
        np.testing.assert_allclose(
            seen.hypergradients[-1][j], finite_difference, rtol=1e-6, atol=1e-9, err_msg=name
        )
        assert abs(finite_difference) > 1e-6  # The check is not vacuous.


def test_memory_is_k_tangents_of_the_parameters(raw_values):
    """Forward mode keeps the last update's k tangents: k copies of the parameters, in their
    dtypes, whatever the rule's state."""
    params = {"w": jnp.zeros((30, 20)), "b": jnp.zeros(20, jnp.bfloat16)}
    level = hyper.adam(1e-3, learn=("learning_rate", "b1", "b2"))
    phi = raw_values(level, level.learn)
    memory = Forward().init(phi, params, level.rule(level.hyperparams).init(params))
    assert jax.tree.map(lambda t: (t.shape, t.dtype), memory.tangent) == {
        "w": ((3, 30, 20), jnp.float32),
        "b": ((3, 20), jnp.bfloat16),
    }
    assert memory.state_tangent == memory.previous_rule_state == memory.previous_grad == ()
