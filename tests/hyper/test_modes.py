"""The hypergradient modes inside a stack: every level of a height-3 stack gets the same numbers
in forward and reverse mode, a stack with ``mode='run'`` stores level 0's whole-run
hypergradient, and a new mode is one class and a registration (each mode alone is tested in
``tests/hyper/modes``); the modes' options are checked. In float64, where the modes differ only
by rounding."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l import hyper
from l2l.hyper import modes


def _trace(opt, params, loss, steps, grad_fn=False):
    """Every level's hypergradients and hyperparameters after each update (compiled once)."""
    extra = {"grad_fn": jax.grad(loss)} if grad_fn else {}
    update = jax.jit(lambda g, s, p: opt.update(g, s, p, **extra))
    state = opt.init(params)
    seen = []
    for _ in range(steps):
        updates, state = update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
        seen.append([(lvl.hypergradient, lvl.hyperparams) for lvl in state.levels])
    return params, seen


def test_forward_and_reverse_stacks_agree_at_every_level(x64, problems):
    """Adam (learning its step size and betas, log and sigmoid) under Adam (learning its step size
    and b1) under SGD: every level's hypergradient and hyperparameters, step by step, agree to
    rtol 1e-9 (level 2 learns from update 3 on)."""
    params, loss = problems["smooth"]()
    # eps = 1e-4: Adam's first step does not depend on b1, so the first hypergradient of b1 is a
    # rounding error (1e-17) in both modes, which eps = 1e-8 would make a 1e-9 step of the middle
    # level, different in each mode.
    levels = (
        hyper.adam(0.05, 0.8, 0.95, eps=1e-6, eps_root=1e-8, learn=("learning_rate", "b1", "b2")),
        hyper.adam(0.01, eps=1e-4, learn=("learning_rate", "b1")),
        hyper.sgd(0.02),
    )
    traces = {
        mode: _trace(hyper.stack(*levels, mode=mode), params, loss, 4)
        for mode in ("forward", "reverse")
    }
    (p_fwd, fwd), (p_rev, rev) = traces["forward"], traces["reverse"]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-15), fwd, rev)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9), p_fwd, p_rev)
    for level in (0, 1):  # The hypergradients did act.
        assert fwd[-1][level][1]["learning_rate"] != fwd[0][level][1]["learning_rate"]


def test_a_whole_run_stack_stores_the_gradient_through_the_unrolled_run(x64, problems):
    """SGD / SGD(0) with mode='run', mu = 1: the hypergradient in the state after update T + 1 is
    d f(theta_T) / d alpha through all T steps (``jax.grad`` of the unrolled plain SGD), which is
    not the one-step hypergradient."""
    params, loss = problems["quadratic"]()
    steps = 5
    opt = hyper.stack(hyper.sgd(0.05, reparam="raw"), hyper.sgd(0.0), mode="run", discount=1.0)
    _, seen = _trace(opt, params, loss, steps + 1, grad_fn=True)
    ours = seen[-1][0][0]["learning_rate"]

    def unrolled(alpha):
        x = params
        for _ in range(steps):
            x = x - alpha * jax.grad(loss)(x)
        return loss(x)

    np.testing.assert_allclose(ours, jax.grad(unrolled)(0.05), rtol=1e-9)
    one_step = _trace(hyper.stack(hyper.sgd(0.05, reparam="raw"), hyper.sgd(0.0)), params, loss, 6)
    assert abs(ours - one_step[1][-1][0][0]["learning_rate"]) > 1e-3 * abs(ours)


class CentralDifference(NamedTuple):
    """A mode written outside l2l from the ``Mode`` signature alone: the one-step hypergradient
    g_t . (u(phi + eps e_j) - u(phi - eps e_j)) / (2 eps), the last update re-run at its inputs."""

    discounted = False
    needs_grad_fn = False

    def above(self):
        return self

    def init(self, phi, params, rule_state, update=None):
        return modes.Memory((), (), rule_state, jax.tree.map(jnp.zeros_like, params))

    def hypergradient(self, update, phi, memory, grads, with_norms):
        eps = 1e-6

        def step_at(p):
            return update(p, memory.previous_grad, memory.previous_rule_state, None)[0]

        columns = [
            jax.tree.map(
                lambda a, b: (a - b) / (2 * eps),
                step_at(phi + eps * e),
                step_at(phi - eps * e),
            )
            for e in jnp.eye(phi.shape[0], dtype=phi.dtype)
        ]
        dots = jnp.stack([optax.tree.vdot(grads, c) for c in columns])
        norms = jnp.stack([optax.tree.norm(c) for c in columns]) if with_norms else None
        return dots, norms

    def step(self, update, phi, grads, rule_state, params, memory, grad_fn):
        step, new_rule_state = update(phi, grads, rule_state, params)
        return step, new_rule_state, modes.Memory((), (), rule_state, grads)


def test_a_new_mode_is_a_class_and_a_registration(x64, problems, monkeypatch):
    """Registered by name, a central-difference mode runs in a stack of height 3 and gives forward
    mode's numbers at every level to the finite difference's error."""
    monkeypatch.setitem(modes.HYPERGRADIENT_MODES, "central", lambda discount: CentralDifference())
    params, loss = problems["smooth"]()
    levels = (hyper.adam(0.05, learn=("learning_rate", "b1")), hyper.sgd(0.02), hyper.sgd(0.01))
    ours = _trace(hyper.stack(*levels, mode="central"), params, loss, 5)
    forward = _trace(hyper.stack(*levels), params, loss, 5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9), ours, forward)
    first, last = ours[1][0][0][1], ours[1][-1][0][1]  # Level 0's hyperparameters.
    assert last["learning_rate"] != first["learning_rate"] and last["b1"] != first["b1"]


def test_mode_options_are_checked():
    with pytest.raises(ValueError, match="mode='backward'.*expected one of"):
        hyper.stack(hyper.sgd(0.1), hyper.sgd(), mode="backward")
    with pytest.raises(ValueError, match=r"discount mu must lie in \[0, 1\]"):
        hyper.stack(hyper.sgd(0.1), hyper.sgd(), mode="run", discount=1.5)
    with pytest.raises(ValueError, match="discounts the whole-run tangents of mode='run'"):
        hyper.stack(hyper.sgd(0.1), hyper.sgd(), discount=0.5)
    with pytest.raises(ValueError, match="growth ratio must be > 1"):
        hyper.stack(hyper.sgd(0.1), hyper.sgd(), guard=1.0)
    opt = hyper.stack(hyper.sgd(0.1), hyper.sgd(), mode="run")
    params = jnp.ones(3)
    with pytest.raises(ValueError, match="needs `params` and the keyword argument `grad_fn`"):
        opt.update(params, opt.init(params), params)
    assert hyper.MODES == ("forward", "reverse", "run")
