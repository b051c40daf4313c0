"""The state of a hyperoptimizer stack, and how to read it from any optimizer state that holds one
(a stack's own, or e.g. an ``optax.chain``'s): ``find_state``, ``hyperparams``, ``skipped``,
``guarded``, ``rolled_back``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import optax


class LevelState(NamedTuple):
    """State of one level of a stack."""

    hyperparams: dict[str, jax.Array]  # h: every hyperparameter of the rule, now (float scalars;
    #   a fixed schedule as its value at the last update), by optax's names.
    raw: dict[str, jax.Array]  # phi: the learned ones as the level above steps them, h = T(phi).
    hypergradient: dict[str, jax.Array]  # d f / d phi: through the last update (modes 'forward',
    #   'reverse'), through the whole run (mode 'run', level 0); 0 before there is one.
    rule_state: optax.OptState  # the rule's state over this level's parameters (level i > 0: the
    #   learned phi of level i - 1 packed into one vector, in the order of its learned names).
    # What the level's hypergradient mode keeps for the next hypergradient (its ``Memory``):
    tangent: optax.Updates  # forward modes: d step / d phi of the last update (mode 'run', level
    #   0: d theta / d phi), every leaf with a leading axis of k learned values; () otherwise.
    state_tangent: tuple  # mode 'run', level 0: d rule_state / d phi for its float leaves, each
    #   with a leading axis of k; () otherwise.
    previous_rule_state: optax.OptState  # mode 'reverse': rule_state before the last update.
    previous_grad: optax.Updates  # mode 'reverse': the gradient of the last update.
    previous_params: optax.Params  # mode 'reverse', a rule that reads its parameters (weight
    #   decay): the parameters of the last update; () otherwise.
    grad_norm: jax.Array  # ||g|| of the last update (the divergence guard's reference).
    growth: jax.Array  # ||g_t|| / ||g_{t-1}|| at the last update (1 before there are two).
    count: jax.Array  # updates this level has made, int32.
    skipped: jax.Array  # steps whose hypergradient or stepped phi was not finite (phi kept), int32.
    guarded: jax.Array  # level 0: steps on which the divergence guard cut the step size, int32.


class Rollback(NamedTuple):
    """What the loss guard of a stack (``stack(rollback=...)``) keeps: the last accepted point."""

    params: optax.Params  # the parameters of the last accepted update.
    levels: tuple[LevelState, ...]  # the stack's levels as that update found them (level 0's
    #   step size already halved by each rollback to this point).
    reference: jax.Array  # the running mean of accepted losses (not finite before the first).
    spikes: jax.Array  # 1 when the last update's loss was not accepted, else 0, int32.
    count: jax.Array  # rollbacks made, int32.


class HyperState(NamedTuple):
    """State of ``stack``."""

    levels: tuple[LevelState, ...]  # levels[0] updates the optimizee; levels[-1] learns nothing.
    rollback: Rollback | tuple = ()  # the loss guard's, with ``stack(rollback=...)``; else ().


def find_state(opt_state: Any) -> HyperState:
    """The ``HyperState`` in ``opt_state`` (a stack's own state, or e.g. an ``optax.chain``'s).

    Raises:
      ValueError: ``opt_state`` holds no stack, or more than one.
    """
    found = [
        node
        for node in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, HyperState))
        if isinstance(node, HyperState)
    ]
    if len(found) != 1:
        raise ValueError(
            f"Expected exactly one hyperoptimizer stack in this optimizer state, found "
            f"{len(found)}; pass the state of the stack itself."
        )
    return found[0]


def hyperparams(opt_state: Any) -> tuple[dict[str, jax.Array], ...]:
    """The current hyperparameters of every level, bottom first, by optax's names
    (``{'learning_rate': ..., 'b1': ...}``): those of the last update (of the first, before any).

    A fixed schedule reads as its value at that update."""
    return tuple(level.hyperparams for level in find_state(opt_state).levels)


def skipped(opt_state: Any) -> tuple[jax.Array, ...]:
    """Per level, how many hyper-steps were skipped because a hypergradient was not finite."""
    return tuple(level.skipped for level in find_state(opt_state).levels)


def guarded(opt_state: Any) -> jax.Array:
    """How many times the divergence guard cut level 0's step size."""
    return find_state(opt_state).levels[0].guarded


def rolled_back(opt_state: Any) -> jax.Array:
    """How many times the loss guard (``stack(rollback=...)``) took the run back to its last
    accepted point.

    Raises:
      ValueError: the stack has no loss guard (or there is no stack in ``opt_state``).
    """
    state = find_state(opt_state)
    if not isinstance(state.rollback, Rollback):
        raise ValueError("This stack has no loss guard: build it with stack(..., rollback=2.0).")
    return state.rollback.count
