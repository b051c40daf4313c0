"""``mode='reverse'`` alone (``l2l.hyper.modes.Reverse``, no stack): the same one-step
hypergradients and tangent norms as forward mode, for every level kind in each parameterization
it accepts, in float64, where the two differ only by rounding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2l import hyper
from l2l.hyper.modes import Forward, Reverse

# Every level kind, learning every hyperparameter it can.
LEVELS = {
    "sgd": lambda r: hyper.sgd(0.05, reparam=r),
    "momentum": lambda r: hyper.sgd(
        0.05, 0.7, learn=("learning_rate", "momentum"), reparam={"learning_rate": r}
    ),
    "adam": lambda r: hyper.adam(
        0.05, 0.8, 0.95, eps=1e-6, eps_root=1e-8, learn=("learning_rate", "b1", "b2"), reparam=r
    ),
    "adagrad": lambda r: hyper.adagrad(0.3, eps=1e-6, reparam=r),
    "rmsprop": lambda r: hyper.rmsprop(
        0.05, 0.8, eps=1e-6, learn=("learning_rate", "decay"), reparam={"learning_rate": r}
    ),
}


@pytest.mark.parametrize("reparam", ["raw", "log", "sqrt", "auto"])
@pytest.mark.parametrize("rule", sorted(LEVELS))
def test_reverse_mode_equals_forward_mode(x64, walk, problems, rule, reparam):
    """Hypergradients and tangent norms after each of 4 updates agree to rtol 1e-9; the steps are
    the same."""
    if rule == "adam" and reparam == "sqrt":
        reparam = {"learning_rate": "sqrt", "b1": "sigmoid", "b2": "sigmoid"}
    elif rule == "adam" and reparam in ("raw", "log"):
        reparam = {"learning_rate": reparam, "b1": "raw", "b2": "raw"}
    level = LEVELS[rule](reparam)
    names = level.learned_names(top=False)
    forward = walk(Forward(), level, names, problems["smooth"], 4)
    reverse = walk(Reverse(), level, names, problems["smooth"], 4)
    assert len(forward.hypergradients) == len(reverse.hypergradients) == 4
    for ours, theirs in [
        (reverse.hypergradients, forward.hypergradients),
        (reverse.norms, forward.norms),
        (reverse.params, forward.params),
    ]:
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-15), ours, theirs
        )
    assert np.all(np.abs(np.asarray(forward.hypergradients[-1])) > 1e-6)  # Not vacuous.


def test_without_norms_only_the_hypergradient(x64, walk, problems):
    """Where the level above reads plain hypergradients, no tangent norms are computed."""
    level = hyper.sgd(0.05, reparam="raw")
    seen = walk(Reverse(), level, ("learning_rate",), problems["smooth"], 1)
    update, memory = level.raw_update(("learning_rate",)), seen.memories[-1]
    phi = jnp.asarray([0.05])
    hypergradient, norms = Reverse().hypergradient(update, phi, memory, seen.grads[-1], False)
    assert norms is None
    np.testing.assert_allclose(hypergradient, seen.hypergradients[-1], rtol=1e-15)


def test_memory_is_one_gradient_and_one_rule_state(raw_values):
    """Reverse mode keeps the last gradient and the rule state before the last update, whatever
    the number k of learned hyperparameters."""
    params = {"w": jnp.zeros((30, 20)), "b": jnp.zeros(20)}
    level = hyper.adam(1e-3, learn=("learning_rate", "b1", "b2"))
    rule_state = level.rule(level.hyperparams).init(params)
    memory = Reverse().init(raw_values(level, level.learn), params, rule_state)
    assert memory.tangent == memory.state_tangent == ()
    jax.tree.map(np.testing.assert_array_equal, memory.previous_grad, params)  # zeros
    assert jax.tree.structure(memory.previous_rule_state) == jax.tree.structure(rule_state)
    size = sum(x.size for x in jax.tree.leaves(params))
    kept = sum(x.size for x in jax.tree.leaves(memory)) / size
    assert kept == pytest.approx(3, abs=0.01)  # The gradient, mu and nu (+ Adam's count).
