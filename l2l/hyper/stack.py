r"""Hyperoptimizers: gradient descent on an optimizer's own hyperparameters, stacked to any height.

Level 0 updates the optimizee's parameters :math:`\theta` with a rule :math:`u` of the classic
family and hyperparameters :math:`h` (step size, momentum, betas, ...):

.. math::
  \theta_t = \theta_{t-1} + u(g_{t-1}, s_{t-2};\, h_{t-1}), \qquad g_{t-1} = \nabla f(\theta_{t-1}).

At step :math:`t` the gradient :math:`g_t = \nabla f(\theta_t)` also gives the *hypergradient*,
the derivative of :math:`f(\theta_t)` with respect to the hyperparameters through the last update
only (weights, gradients and the rule's state treated as constants, :math:`h` not):

.. math::
  \frac{\partial f(\theta_t)}{\partial h_{t-1}}
    = g_t \cdot \frac{\partial u(g_{t-1}, s_{t-2};\, h)}{\partial h}\Big|_{h = h_{t-1}},

computed as a vector-Jacobian product (``jax.vjp`` of the rule with respect to :math:`h`, at the
previous step's inputs, with cotangent :math:`g_t`); for SGD it is Baydin's
:math:`-g_t \cdot g_{t-1}`. Level 1, itself an optimizer of the same kind, takes one step on
:math:`h` with that gradient; then level 0 steps :math:`\theta` with the new :math:`h_t`. Level 1's
own hyperparameters are learned the same way by level 2 (its "gradient" is the hypergradient, its
"parameters" are :math:`h`), and so on up; the last level's hyperparameters (a small step size
:math:`\kappa`) stay fixed. Learned hyperparameters are stored in a parameterization
:math:`h = T(\phi)` that keeps them in range (``l2l.hyper.reparam``), and the levels above step
:math:`\phi`.

Safeguards: a level has no hypergradient before its first update, so the levels above it wait; a
hypergradient (or a stepped :math:`\phi`) that is not finite leaves :math:`\phi` and every level
above unchanged for that step and is counted in ``LevelState.skipped``.

Cost per step, besides the optimizee's gradient: each learning level re-evaluates its previous
update and its vector-Jacobian product (about three evaluations of the rule over the level's
parameters instead of one), and keeps its previous gradient and rule state. Levels above the
first act on a handful of scalars.

References:
  Chandra, Xie, Ragan-Kelley & Meijer, *Gradient Descent: The Ultimate Optimizer*, NeurIPS 2022;
  Baydin, Cornish, Martinez Rubio, Schmidt & Wood, *Online Learning Rate Adaptation with
  Hypergradient Descent*, ICLR 2018.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from l2l.hyper import reparam as reparam_lib
from l2l.hyper.levels import Level
from l2l.optimizers._hyperparams import is_schedule


class LevelState(NamedTuple):
    """State of one level of a stack."""

    hyperparams: dict[str, jax.Array]  # h: every hyperparameter of the rule, now (float scalars;
    #   a fixed schedule as its value at the last update), by optax's names.
    raw: dict[str, jax.Array]  # phi: the learned ones as the level above steps them, h = T(phi).
    hypergradient: dict[
        str, jax.Array
    ]  # d f / d phi through the last update; 0 before there is one.
    rule_state: optax.OptState  # the rule's state over this level's parameters (level i > 0: the
    #   learned phi of level i - 1 packed into one vector, in the order of its learned names).
    previous_rule_state: optax.OptState  # rule_state before the last update; () if nothing learned.
    previous_grad: optax.Updates  # the gradient of the last update; () if nothing is learned.
    count: jax.Array  # updates this level has made, int32.
    skipped: jax.Array  # steps whose hypergradient or stepped phi was not finite (phi kept), int32.


class HyperState(NamedTuple):
    """State of ``stack``."""

    levels: tuple[LevelState, ...]  # levels[0] updates the optimizee; levels[-1] learns nothing.


def _float_dtype():
    return jax.dtypes.canonicalize_dtype(jnp.float64)  # float32 unless x64 is enabled.


def _like(tree: Any, reference: Any) -> Any:
    """``tree`` in ``reference``'s dtypes (so the state keeps its types under ``lax.scan``)."""
    return jax.tree.map(lambda x, r: jnp.asarray(x, r.dtype), tree, reference)


def _select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _pack(values: dict[str, jax.Array], names: tuple[str, ...]) -> jax.Array:
    """The learned values of a level as one vector: the level above acts on one leaf, not k."""
    return jnp.stack([values[name] for name in names])


def _unpack(vector: jax.Array, names: tuple[str, ...]) -> dict[str, jax.Array]:
    return {name: vector[k] for k, name in enumerate(names)}


def _learned_per_level(levels: tuple[Level, ...]) -> tuple[tuple[str, ...], ...]:
    learned = []
    for i, lvl in enumerate(levels):
        top = i == len(levels) - 1
        names = lvl.learned_names(top=top)
        if top and names:
            raise ValueError(
                f"The top level of a stack ({lvl.optimizer}, level {i}) has no level above it to "
                f"learn {', '.join(map(repr, names))}: leave its `learn` unset (or empty) so its "
                "hyperparameters stay fixed, or add a level above it."
            )
        if not top and not names:
            raise ValueError(
                f"Level {i} ({lvl.optimizer}) learns no hyperparameter, so level {i + 1} would "
                f"have nothing to optimize: give it `learn=(...)` or end the stack at level {i}."
            )
        lvl.check_learnable(names)
        learned.append(names)
    return tuple(learned)


def stack(*levels: Level) -> optax.GradientTransformationExtraArgs:
    r"""A hyperoptimizer: each level learns the hyperparameters of the level below it.

    ``stack(adam(1e-3), sgd(1e-5))`` is the paper's "Adam / SGD(1e-5)": Adam on the optimizee,
    whose step size and betas are learned by SGD with the fixed step size :math:`\kappa = 10^{-5}`.
    ``stack(adam(1e-3), adam(1e-3), sgd(1e-5))`` puts Adam on Adam's hyperparameters too, and
    ``stack(adam(1e-3))`` is plain Adam. See the module docstring for the update rule.

    Args:
      *levels: ``Level`` s from the bottom (the optimizee's optimizer) to the top; every level but
        the top learns its ``learn`` hyperparameters (default: see ``DEFAULT_LEARNED``), the top
        level's hyperparameters are fixed.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose state is a ``HyperState``; the current
      hyperparameters of every level are ``state.levels[i].hyperparams`` (or ``hyperparams(state)``,
      which also finds the stack inside an ``optax.chain`` state). ``update`` hands ``params`` to
      the bottom rule and ignores extra keyword arguments. Safe under ``jit``, ``vmap`` and
      ``lax.scan``.

    Raises:
      TypeError: an argument is not a ``Level`` (build one with ``l2l.hyper.sgd``, ``adam``, ...).
      ValueError: a level below the top learns nothing, or the top level is asked to learn.

    References:
      Chandra et al., *Gradient Descent: The Ultimate Optimizer*, NeurIPS 2022.
    """
    if not levels:
        raise ValueError("stack() needs at least one level, e.g. stack(sgd(0.01), sgd(1e-4)).")
    for i, lvl in enumerate(levels):
        if not isinstance(lvl, Level):
            raise TypeError(
                f"stack(): argument {i} is {lvl!r}, not a Level. Build levels with "
                "l2l.hyper.sgd / adam / adagrad / rmsprop / level (these know their "
                "hyperparameters; a ready-made optax transform does not)."
            )
    learned = _learned_per_level(levels)
    height = len(levels)

    def rule_values(i: int, raw: dict[str, jax.Array]) -> dict[str, Any]:
        """Level i's hyperparameters: the fixed ones as given, the learned ones T(phi)."""
        lvl = levels[i]
        values = dict(lvl.hyperparams)
        for name in learned[i]:
            values[name] = lvl.parameterization(name).forward(raw[name])
        return values

    def readable(values: dict[str, Any], count: jax.Array) -> dict[str, jax.Array]:
        """The values as float scalars; a (fixed) schedule as its value at the level's step."""
        return {
            k: jnp.asarray(v(count) if is_schedule(v) else v, _float_dtype())
            for k, v in values.items()
        }

    def init_fn(params):
        states = []
        level_params = params
        for i, lvl in enumerate(levels):
            raw = {
                name: jnp.asarray(
                    lvl.parameterization(name).inverse(lvl.hyperparams[name]), _float_dtype()
                )
                for name in learned[i]
            }
            values = rule_values(i, raw)
            rule_state = lvl.rule(values).init(level_params)
            keeps_previous = bool(learned[i])
            if keeps_previous:
                raw_vector = _pack(raw, learned[i])
            states.append(
                LevelState(
                    hyperparams=readable(values, jnp.zeros([], jnp.int32)),
                    raw=raw,
                    hypergradient=jax.tree.map(jnp.zeros_like, raw),
                    rule_state=rule_state,
                    previous_rule_state=rule_state if keeps_previous else (),
                    previous_grad=optax.tree.zeros_like(level_params) if keeps_previous else (),
                    count=jnp.zeros([], jnp.int32),
                    skipped=jnp.zeros([], jnp.int32),
                )
            )
            level_params = raw_vector if keeps_previous else None
        return HyperState(levels=tuple(states))

    def hypergradient(i: int, state: LevelState, grads: optax.Updates) -> jax.Array:
        """d f / d phi through level i's previous update: a vjp with cotangent ``grads``."""

        def previous_update(raw_vector):
            values = rule_values(i, _unpack(raw_vector, learned[i]))
            step, _ = (
                levels[i].rule(values).update(state.previous_grad, state.previous_rule_state, None)
            )
            return step

        step, vjp = jax.vjp(previous_update, _pack(state.raw, learned[i]))
        cotangent = jax.tree.map(lambda g, s: jnp.asarray(g, s.dtype), grads, step)
        (result,) = vjp(cotangent)
        return result

    def update_level(i: int, grads, states: tuple[LevelState, ...], params):
        """Level i steps its parameters with ``grads``; returns the step and states i..top."""
        state = states[i]
        names = learned[i]
        raw, hypergrad, skipped, upper = state.raw, state.hypergradient, state.skipped, ()
        if names:
            available = state.count > 0  # No hypergradient before this level's first update.
            packed_hypergrad = hypergradient(i, state, grads)
            raw_vector = _pack(state.raw, names)
            raw_step, new_upper = update_level(i + 1, packed_hypergrad, states, raw_vector)
            raw_step = _unpack(raw_step, names)
            stepped = {
                name: reparam_lib.project(
                    levels[i].parameterization(name),
                    (state.raw[name] + raw_step[name]).astype(state.raw[name].dtype),
                )
                for name in names
            }
            new_hypergrad = _unpack(packed_hypergrad, names)
            finite = jnp.all(jnp.isfinite(packed_hypergrad)) & _all_finite(stepped)
            take = available & finite
            raw = _select(take, stepped, state.raw)
            upper = _select(take, new_upper, states[i + 1 :])
            skipped = state.skipped + (available & ~finite).astype(jnp.int32)
            hypergrad = _select(available, new_hypergrad, state.hypergradient)
        values = rule_values(i, raw)
        step, rule_state = levels[i].rule(values).update(grads, state.rule_state, params)
        new_state = LevelState(
            hyperparams=readable(values, state.count),
            raw=raw,
            hypergradient=hypergrad,
            rule_state=rule_state,
            previous_rule_state=state.rule_state if names else (),
            previous_grad=_like(grads, state.previous_grad) if names else (),
            count=optax.safe_int32_increment(state.count),
            skipped=skipped,
        )
        return step, (new_state, *upper)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if not isinstance(state, HyperState) or len(state.levels) != height:
            raise TypeError(
                f"This stack of height {height} was given a state that it did not make "
                f"({type(state).__name__}); pass the state returned by its own init."
            )
        step, new_levels = update_level(0, updates, state.levels, params)
        return step, HyperState(levels=tuple(new_levels))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


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
