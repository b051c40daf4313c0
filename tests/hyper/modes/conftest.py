"""A walk of one hypergradient mode alone (no stack) along a trajectory, for the tests of each
mode."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
import pytest


def _raw_values(level, names):
    """phi: the level's initial values of ``names`` in their parameterizations, packed."""
    return jnp.stack([level.parameterization(n).inverse(level.hyperparams[n]) for n in names])


class Walk(NamedTuple):
    """A trajectory made by one mode alone, its learned values fixed."""

    loss: object  # f
    params: list  # theta_0 .. theta_T
    grads: list  # g_0 .. g_T, g_t = grad f(theta_t)
    rule_states: list  # the rule state before update t, t = 0 .. T - 1
    steps: list  # update t's step, t = 0 .. T - 1
    memories: list  # the mode's memory after update t, t = 0 .. T - 1
    hypergradients: list  # d f(theta_t) / d phi by the mode, t = 1 .. T
    norms: list  # the norms of update t - 1's tangents, t = 1 .. T


def _walk(mode, level, names, problem, steps):
    """``steps`` updates of ``level``, its learned values ``names`` fixed at their initial ones,
    made by ``mode``, which gives a hypergradient before each update but the first and after the
    last; ``problem``: ``() -> (params, loss)``."""
    params, loss = problem()
    grad_fn = jax.grad(loss)
    update, phi = level.raw_update(names), _raw_values(level, names)
    rule_state = level.rule(level.hyperparams).init(params)
    memory = mode.init(phi, params, rule_state)
    # Compiled once per walk: eager, the modes' vmapped jvps run op by op, slower in all.
    hypergradient_of = jax.jit(lambda m, g: mode.hypergradient(update, phi, m, g, True))
    step_of = jax.jit(lambda g, s, p, m: mode.step(update, phi, g, s, p, m, grad_fn))
    seen = Walk(loss, [], [], [], [], [], [], [])
    for t in range(steps + 1):
        grads = grad_fn(params)
        seen.params.append(params)
        seen.grads.append(grads)
        if t > 0:
            hypergradient, norms = hypergradient_of(memory, grads)
            seen.hypergradients.append(hypergradient)
            seen.norms.append(norms)
        if t == steps:
            return seen
        seen.rule_states.append(rule_state)
        step, rule_state, memory = step_of(grads, rule_state, params, memory)
        seen.steps.append(step)
        seen.memories.append(memory)
        params = optax.apply_updates(params, step)


@pytest.fixture
def walk():
    """``walk(mode, level, names, problem, steps) -> Walk``."""
    return _walk


@pytest.fixture
def raw_values():
    """``raw_values(level, names) -> phi``."""
    return _raw_values
