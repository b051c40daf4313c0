"""``mode='run'`` alone (``l2l.hyper.modes.WholeRun``, no stack): with mu = 1 its hypergradient is
``jax.grad`` of the loss through the unrolled run of the plain optimizer, with mu = 0 forward
mode's one-step hypergradient, in between it interpolates; overflowed tangents restart."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l import hyper
from l2l.hyper.modes import Forward, WholeRun

# Each level with its learning rate learned in a given parameterization, and optax's plain rule.
PLAIN = {
    "sgd": (lambda r: hyper.sgd(0.05, reparam=r), optax.sgd),
    "momentum": (
        lambda r: hyper.sgd(0.05, 0.6, learn={"learning_rate": r}),
        lambda lr: optax.sgd(lr, momentum=0.6),
    ),
    "adam": (
        lambda r: hyper.adam(0.05, learn={"learning_rate": r}),
        lambda lr: optax.adam(lr, eps_root=1e-16),
    ),
}
LEARNING_RATE = ("learning_rate",)


def _unrolled_loss(plain, params, loss, steps):
    """f(theta_T) after ``steps`` updates of the plain optimizer ``plain``."""
    state = plain.init(params)
    for _ in range(steps):
        updates, state = plain.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
    return loss(params)


@pytest.mark.parametrize(
    "problem, reparam", [("mlp", "log"), ("quadratic", "raw")], ids=["mlp-log", "quadratic-raw"]
)
@pytest.mark.parametrize("rule", sorted(PLAIN))
def test_mu_1_is_the_gradient_through_the_unrolled_run(x64, walk, problems, rule, reparam, problem):
    """After T updates, g_T . Z_T = d f(theta_T) / d phi through all T steps: ``jax.grad`` of the
    unrolled plain optax optimizer; and not the one-step hypergradient."""
    make, plain = PLAIN[rule]
    steps = 5
    seen = walk(WholeRun(1.0), make(reparam), LEARNING_RATE, problems[problem], steps)
    params, loss = problems[problem]()
    forward = {"raw": lambda phi: phi, "log": jnp.exp}[reparam]
    phi0 = {"raw": 0.05, "log": np.log(0.05)}[reparam]
    expected = jax.jit(
        jax.grad(lambda phi: _unrolled_loss(plain(forward(phi)), params, loss, steps))
    )(jnp.asarray(phi0))
    np.testing.assert_allclose(seen.hypergradients[-1], [expected], rtol=1e-9)
    one_step = walk(
        Forward(), make(reparam), LEARNING_RATE, problems[problem], steps
    ).hypergradients[-1]
    assert abs(expected - one_step[0]) > 1e-3 * abs(expected)


@pytest.mark.parametrize("rule", sorted(PLAIN))
def test_mu_0_is_the_one_step_hypergradient(x64, walk, problems, rule):
    """With mu = 0 every tangent and hypergradient is forward mode's."""
    level = PLAIN[rule][0]("log")
    run = walk(WholeRun(0.0), level, LEARNING_RATE, problems["smooth"], 6)
    one_step = walk(Forward(), level, LEARNING_RATE, problems["smooth"], 6)
    for ours, theirs in [
        (run.hypergradients, one_step.hypergradients),
        ([m.tangent for m in run.memories], [m.tangent for m in one_step.memories]),
        (run.params, one_step.params),
    ]:
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12), ours, theirs)


def test_discounting_interpolates_between_one_step_and_whole_run(x64, walk, problems):
    """The hypergradient with mu = 0.5 lies strictly between those of mu = 0 and mu = 1 on an SGD
    run where every term of the sum has the same sign (a convex quadratic, small step)."""
    level = hyper.sgd(0.02)
    values = {
        mu: float(
            walk(WholeRun(mu), level, LEARNING_RATE, problems["quadratic"], 12).hypergradients[-1][
                0
            ]
        )
        for mu in (0.0, 0.5, 1.0)
    }
    assert values[0.0] > values[0.5] > values[1.0]  # More negative: more of the run counted.


def test_tangents_that_overflow_restart_from_zero(x64, problems, raw_values):
    """A non-finite carried tangent gives one non-finite hypergradient (which the stack skips), not
    every later one: the next tangent is the one-step tangent, d step / d log alpha = the step."""
    params, loss = problems["quadratic"]()
    grad_fn = jax.grad(loss)
    level, mode = hyper.sgd(0.02), WholeRun(1.0)
    update, phi = level.raw_update(LEARNING_RATE), raw_values(level, LEARNING_RATE)
    rule_state = level.rule(level.hyperparams).init(params)
    memory = mode.init(phi, params, rule_state)
    for _ in range(3):
        step, rule_state, memory = mode.step(
            update, phi, grad_fn(params), rule_state, params, memory, grad_fn
        )
        params = optax.apply_updates(params, step)
    memory = memory._replace(tangent=jnp.full_like(memory.tangent, jnp.inf))
    hypergradient, _ = mode.hypergradient(update, phi, memory, grad_fn(params), False)
    assert not np.all(np.isfinite(hypergradient))
    step, rule_state, memory = mode.step(
        update, phi, grad_fn(params), rule_state, params, memory, grad_fn
    )
    np.testing.assert_allclose(memory.tangent[0], step, rtol=1e-12)
    params = optax.apply_updates(params, step)
    for _ in range(3):
        hypergradient, _ = mode.hypergradient(update, phi, memory, grad_fn(params), False)
        assert np.all(np.isfinite(hypergradient))
        step, rule_state, memory = mode.step(
            update, phi, grad_fn(params), rule_state, params, memory, grad_fn
        )
        params = optax.apply_updates(params, step)


def test_memory_is_k_tangents_of_the_parameters_and_the_rule_state(raw_values):
    """Whole-run mode keeps d theta / d phi and d s / d phi: k copies of the parameters and of the
    rule state's float leaves (none for SGD), whatever the number of steps."""
    params = {"w": jnp.zeros((30, 20)), "b": jnp.zeros(20)}
    size = sum(x.size for x in jax.tree.leaves(params))

    def kept(level):
        names = level.learned_names(top=False)
        state = level.rule(level.hyperparams).init(params)
        memory = WholeRun(1.0).init(raw_values(level, names), params, state)
        assert memory.previous_rule_state == memory.previous_grad == ()
        return sum(x.size for x in jax.tree.leaves(memory)) / size

    assert kept(hyper.adam(1e-3, learn=("learning_rate", "b1", "b2"))) == 3 * 3  # theta, mu, nu.
    assert kept(hyper.sgd(0.1)) == 1
