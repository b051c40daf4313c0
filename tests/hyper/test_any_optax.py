"""A level of any optimizer factory (``hyper.level(factory, ...)``): optax's AdamW and Lion, an
optax.contrib rule (Muon) and a zoo optimizer (its output scale), each against oracles that do not
use l2l's hypergradient code: the forward hypergradient equals reverse mode's and a central
difference of the loss after one plain optax update; the whole-run hypergradient equals
``jax.grad`` through the unrolled plain optax run; a stack whose top step size is 0 follows the
plain optax trajectory; and what cannot be learned is refused in one line. In float64."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l import hyper
from l2l.learned import zoo

ZOO = "mnist-lstm"
# name -> (factory, initial hyperparameters, the learned ones). eps_root is given, so the plain
# optax oracle is built from exactly the numbers the level uses (a level's default is 1e-16).
CASES = {
    "adamw": (
        optax.adamw,
        {"learning_rate": 0.05, "weight_decay": 0.1, "eps_root": 1e-16},
        ("learning_rate", "weight_decay"),
    ),
    "lion": (
        "lion",
        {"learning_rate": 0.01, "weight_decay": 0.05},
        ("learning_rate", "weight_decay"),
    ),
    "muon": (optax.contrib.muon, {"learning_rate": 0.02, "beta": 0.9}, ("learning_rate", "beta")),
    "zoo": (None, {"output_scale": 0.1}, ("output_scale",)),
}
STEPS = 4


def _case(name):
    factory, hyperparams, learned = CASES[name]
    factory = zoo.factory(ZOO) if name == "zoo" else factory
    plain = optax.lion if factory == "lion" else factory
    return factory, plain, hyperparams, learned


def _plain_run(plain, hyperparams, params, loss, steps):
    """Parameters, gradients and states of ``steps`` plain optax updates (no l2l in the loop)."""
    opt = optax.with_extra_args_support(plain(**hyperparams))
    state, seen = opt.init(params), []
    for _ in range(steps):
        grads = jax.grad(loss)(params)
        seen.append((params, grads, state))
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params, seen


def _plain_trajectory(plain, hyperparams, params, loss, steps):
    """``_plain_run``, its updates compiled once."""
    opt = optax.with_extra_args_support(plain(**hyperparams))
    update = jax.jit(lambda p, s: opt.update(jax.grad(loss)(p), s, p))
    state, seen = opt.init(params), []
    for _ in range(steps):
        seen.append((params, jax.grad(loss)(params), state))
        updates, state = update(params, state)
        params = optax.apply_updates(params, updates)
    return params, seen


def _loss_after_one_update(plain, hyperparams, loss):
    """(learned values, theta, g, state) -> f(theta + u): one plain optax update, compiled."""

    def after(values, theta, grads, state):
        opt = optax.with_extra_args_support(plain(**{**hyperparams, **values}))
        return loss(optax.apply_updates(theta, opt.update(grads, state, theta)[0]))

    return jax.jit(after)


def _stack_hypergradients(level, mode, params, loss, steps, hvp=False, **options):
    """Level 0's hypergradient after each of ``steps + 1`` updates of a stack whose top step size
    is 0 (its hyperparameters stay at their initial values); ``hvp``: the loss's Hessian-vector
    products handed to the update (``hvp_fn``), from ``jax.linearize``."""
    opt = hyper.stack(level, hyper.sgd(0.0), mode=mode, guard=None, **options)

    def update_fn(g, s, p):
        if not hvp:
            return opt.update(g, s, p, grad_fn=jax.grad(loss))
        return opt.update(g, s, p, hvp_fn=jax.linearize(jax.grad(loss), p)[1])

    update = jax.jit(update_fn)
    state, seen = opt.init(params), []
    for _ in range(steps + 1):
        updates, state = update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
        seen.append(state.levels[0].hypergradient)
    return seen


@pytest.mark.parametrize("name", list(CASES))
def test_forward_hypergradient_equals_reverse_and_a_central_difference(x64, problems, name):
    """d f(theta_t) / d h through the last update, h raw: forward = reverse to rtol 1e-9, and =
    (f(theta_{t-1} + u(h + eps)) - f(theta_{t-1} + u(h - eps))) / (2 eps) with u one plain optax
    update from the same state, to rtol 1e-6, at every update t = 1 .. 4."""
    factory, plain, hyperparams, learned = _case(name)
    params, loss = problems["mlp"]()
    level = hyper.level(factory, **hyperparams, learn=learned, reparam="raw")
    forward = _stack_hypergradients(level, "forward", params, loss, STEPS)
    reverse = _stack_hypergradients(level, "reverse", params, loss, STEPS)
    _, trajectory = _plain_trajectory(plain, hyperparams, params, loss, STEPS)
    after_one_update = _loss_after_one_update(plain, hyperparams, loss)
    at = {h: jnp.asarray(hyperparams[h]) for h in learned}
    for t in range(1, STEPS + 1):
        for h in learned:
            eps = 1e-6 * hyperparams[h]
            up, down = ({**at, h: at[h] + eps}, {**at, h: at[h] - eps})
            central = (
                after_one_update(up, *trajectory[t - 1])
                - after_one_update(down, *trajectory[t - 1])
            ) / (2 * eps)
            np.testing.assert_allclose(forward[t][h], reverse[t][h], rtol=1e-9, atol=1e-14)
            np.testing.assert_allclose(forward[t][h], central, rtol=1e-6, atol=1e-10)
    assert all(abs(float(forward[-1][h])) > 1e-6 for h in learned)  # Not trivially zero.


@pytest.mark.parametrize("name", ["adamw", "zoo"])
def test_whole_run_hypergradient_equals_the_gradient_through_the_unrolled_optax_run(
    x64, problems, name
):
    """mode='run', mu = 1: after update T + 1 the hypergradient is d f(theta_T) / d h through all
    T = 4 plain optax updates (``jax.grad`` of the unrolled run), AdamW's weight decay (whose update
    reads theta) included; the same with the Hessian-vector products handed over (``hvp_fn``)."""
    factory, plain, hyperparams, learned = _case(name)
    params, loss = problems["mlp"]()
    level = hyper.level(factory, **hyperparams, learn=learned, reparam="raw")
    ours = _stack_hypergradients(level, "run", params, loss, STEPS, discount=1.0)[-1]
    handed = _stack_hypergradients(level, "run", params, loss, STEPS, hvp=True, discount=1.0)[-1]

    def unrolled(values):
        return loss(_plain_run(plain, {**hyperparams, **values}, params, loss, STEPS)[0])

    oracle = jax.jit(jax.grad(unrolled))({h: jnp.asarray(hyperparams[h]) for h in learned})
    for h in learned:
        np.testing.assert_allclose(ours[h], oracle[h], rtol=1e-8)
        np.testing.assert_allclose(handed[h], oracle[h], rtol=1e-8)


@pytest.mark.parametrize("name", list(CASES))
def test_a_stack_whose_top_step_size_is_zero_follows_plain_optax(x64, problems, name):
    """The default stack (hyperparameters learned as logs and logits, normalized, guard on), its
    top SGD at step size 0: 10 updates give plain optax's parameters to rtol 1e-10 (the only
    difference: exp(log h) rounds h by an ulp, which Muon's Newton-Schulz iterations amplify to
    2e-12; the others agree to 1e-14)."""
    factory, plain, hyperparams, learned = _case(name)
    params, loss = problems["mlp"]()
    opt = hyper.stack(hyper.level(factory, **hyperparams, learn=learned), hyper.sgd(0.0))
    update = jax.jit(opt.update)
    state, ours = opt.init(params), params
    for _ in range(10):
        updates, state = update(jax.grad(loss)(ours), state, ours)
        ours = optax.apply_updates(ours, updates)
    theirs, _ = _plain_trajectory(plain, hyperparams, params, loss, 10)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-15), ours, theirs
    )
    assert int(hyper.guarded(state)) == 0
    for h in learned:
        np.testing.assert_allclose(hyper.hyperparams(state)[0][h], hyperparams[h], rtol=1e-14)


@pytest.mark.parametrize(
    "factory, hyperparams, learned, why",
    [
        (optax.contrib.muon, {"learning_rate": 0.02}, "ns_steps", "an integer"),
        (optax.adamw, {"learning_rate": 0.1, "mask": lambda p: p}, "mask", "a function"),
        (
            "adamw",
            {"learning_rate": optax.linear_schedule(0.1, 0, 10)},
            "learning_rate",
            "schedule",
        ),
        (optax.sgd, {"learning_rate": 0.1}, "nesterov", "a bool"),
        (optax.sgd, {"learning_rate": 0.1}, "momentum", "None"),
    ],
    ids=["int", "callable", "schedule", "bool", "none-default"],
)
def test_what_cannot_be_learned_is_refused_in_one_line(factory, hyperparams, learned, why):
    with pytest.raises(ValueError, match=why) as error:
        hyper.level(factory, **hyperparams, learn=(learned,))
    message = str(error.value)
    assert f"`{learned}`" in message and "\n" not in message
    assert "optax." in message or "adamw" in message  # It names the factory.


def test_names_and_defaults_are_optax_s():
    """A level takes the factory's names and defaults (but eps_root 1e-16, not 0), learns its
    learning_rate by default, and a name string resolves in optax, then optax.contrib."""
    level = hyper.level(optax.adamw, learning_rate=1e-3)
    assert {k: level.hyperparams[k] for k in ("b1", "b2", "eps", "weight_decay", "eps_root")} == {
        "b1": 0.9,
        "b2": 0.999,
        "eps": 1e-8,
        "weight_decay": 1e-4,
        "eps_root": 1e-16,
    }
    assert level.learned_names(top=False) == ("learning_rate",) and level.name == "optax.adamw"
    assert hyper.level("contrib.muon").factory is optax.contrib.muon
    assert hyper.level("lion").factory is optax.lion
    state = hyper.stack(level, hyper.sgd()).init({"w": jnp.ones(3)})
    assert set(hyper.hyperparams(state)[0]) == {
        "learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay",
    }  # fmt: skip
    with pytest.raises(ValueError, match="optax.adamw has no default `learning_rate`"):
        hyper.stack(hyper.level(optax.adamw), hyper.sgd())
    with pytest.raises(ValueError, match="cannot use optimizer 'adamz'"):
        hyper.level("adamz")
    with pytest.raises(TypeError, match=r"no setting 'scale'; its settings: output_scale"):
        zoo.factory(ZOO)(scale=1.0)
