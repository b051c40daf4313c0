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

computed in forward mode by default: each update is made together with its tangent
:math:`J_{t-1} = \partial u / \partial \phi` (one ``jax.jvp`` carrying all k tangents at once,
fused with the update), kept in the state, and the next gradient's inner product with it is the
hypergradient, :math:`g_t \cdot J_{t-1}` (``mode='reverse'`` gets the same numbers from a
``jax.vjp`` of the previous update re-run at the previous inputs). For SGD it is Baydin's
:math:`-\alpha\, g_t \cdot g_{t-1}` per unit of :math:`\log\alpha`. Level 1, itself an optimizer
of the same kind, takes one step on :math:`\phi` with that gradient; then level 0 steps
:math:`\theta` with the new :math:`h_t`. Level 1's own hyperparameters are learned the same way by
level 2, and so on up; the last level's hyperparameters (a small step size :math:`\kappa`) stay
fixed. Learned hyperparameters are stored in a parameterization :math:`h = T(\phi)` that keeps
them in range (``l2l.hyper.reparam``), and the levels above step :math:`\phi`.

**Whole-run forward mode** (``mode='run'``, a discount :math:`\mu \in [0, 1]`): level 0's weights
and rule state carry their tangents :math:`Z_t = \partial\theta_t / \partial\phi`,
:math:`S_t = \partial s_t / \partial\phi` through every step,

.. math::
  Z_{t+1} = \mu Z_t + \frac{\partial u}{\partial \phi}
    + \frac{\partial u}{\partial g} H_t (\mu Z_t) + \frac{\partial u}{\partial s} (\mu S_t),

(the gradient's tangent :math:`H_t Z` a Hessian-vector product, forward over reverse through
``grad_fn``), and the hypergradient is :math:`g_t \cdot Z_t`: with :math:`\mu = 1` the exact
derivative of :math:`f(\theta_t)` through the whole run (Franceschi et al.'s RTHO), with
:math:`\mu = 0` the one-step hypergradient, in between a horizon of about
:math:`1 / (1 - \mu)` steps (Donini et al.'s MARTHE).

**The default rule is scale-free.** Step sizes are learned as :math:`\log\alpha` and decays as
:math:`\mathrm{logit}\,\beta` (``reparam='auto'``), and the level above sees their hypergradients
normalized, :math:`g_t \cdot J_j / (\lVert g_t \rVert \max_i \lVert J_i \rVert) \in [-1, 1]`
(``Level.normalize``): for a step size alone the cosine between the gradient and the last step,
so SGD above with step :math:`\kappa` multiplies :math:`\alpha` by at most :math:`e^{\pm\kappa}`
per step whatever the scale of the loss or of :math:`\alpha` (Baydin et al.'s multiplicative
rule). A level above another defaults to :math:`\kappa = 0.2`: from :math:`10^{-4}` times a good
step size it climbs there in about 50 steps. Raw (the paper's) and square-root parameterizations
get the plain hypergradient, so a top-level step size means what it means in the paper.

Safeguards: a level has no hypergradient before its first update, so the levels above it wait; a
hypergradient (or a stepped :math:`\phi`) that is not finite leaves :math:`\phi` and every level
above unchanged for that step and is counted in ``LevelState.skipped``. A diverging trajectory is
caught before it overflows (``guard``): when the optimizee's gradient norm grows by more than 2x
on two updates in a row, level 0's learned step size is divided by the last growth ratio (for SGD
on a quadratic the secant estimate of the step size that stops the growth), counted in
``LevelState.guarded``.

Cost per step, besides the optimizee's gradient: the forward mode evaluates each learning level's
rule with k tangents (fused into one pass) and keeps them (k copies of the level's parameters);
the reverse mode re-evaluates the previous update and its vector-Jacobian product and keeps the
previous gradient and rule state; the whole-run mode adds k Hessian-vector products. Levels above
the first act on a handful of scalars. ``python scripts/bench_hyper.py`` measures them.

References:
  Chandra, Xie, Ragan-Kelley & Meijer, *Gradient Descent: The Ultimate Optimizer*, NeurIPS 2022;
  Baydin, Cornish, Martinez Rubio, Schmidt & Wood, *Online Learning Rate Adaptation with
  Hypergradient Descent*, ICLR 2018; Franceschi, Donini, Frasconi & Pontil, *Forward and Reverse
  Gradient-Based Hyperparameter Optimization*, ICML 2017; Donini, Franceschi, Pontil, Majumder &
  Frasconi, *MARTHE: Scheduling the Learning Rate via Online Hypergradients*, IJCAI 2020.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from l2l.hyper import guard as guard_lib
from l2l.hyper import reparam as reparam_lib
from l2l.hyper._trees import (
    all_finite,
    contract,
    float_dtype,
    float_leaves,
    like,
    norm,
    pack,
    select,
    stacked_norms,
    stacked_zeros,
    unpack,
)
from l2l.hyper.levels import Level
from l2l.hyper.state import HyperState, LevelState
from l2l.optimizers._hyperparams import is_schedule

MODES = ("forward", "reverse", "run")


def _normalized(hypergrad: jax.Array, grad_norm: jax.Array, tangent_norms: jax.Array) -> jax.Array:
    """``g . J_j / (||g|| max_i ||J_i||)`` in [-1, 1]: the cosine between the gradient and the
    largest tangent, scaled for each other hyperparameter by how much less it moves the update; 0
    where a norm is 0."""
    scale = grad_norm * jnp.max(tangent_norms)
    return jnp.where(scale > 0, hypergrad / jnp.where(scale > 0, scale, 1.0), 0.0)


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


def _check_options(mode: str, discount: float, guard: float | None) -> None:
    if mode not in MODES:
        raise ValueError(
            f"stack(mode={mode!r}): expected one of {', '.join(map(repr, MODES))} ('forward': "
            "one-step hypergradients by forward mode, the default; 'reverse': the same numbers by "
            "reverse mode; 'run': through the whole run, discounted by `discount`)."
        )
    if not 0.0 <= float(discount) <= 1.0:
        raise ValueError(f"stack(discount={discount!r}): the discount mu must lie in [0, 1].")
    if mode != "run" and float(discount) != 1.0:
        raise ValueError(
            f"stack(discount={discount!r}) discounts the whole-run tangents of mode='run'; this "
            f"stack's mode is {mode!r}. Pass mode='run' with it, or leave discount out."
        )
    if guard is not None and not float(guard) > 1.0:
        raise ValueError(
            f"stack(guard={guard!r}): the divergence guard's growth ratio must be > 1 "
            "(default 2.0), or None to turn the guard off."
        )


def stack(
    *levels: Level,
    mode: str = "forward",
    discount: float = 1.0,
    guard: float | None = 2.0,
) -> optax.GradientTransformationExtraArgs:
    r"""A hyperoptimizer: each level learns the hyperparameters of the level below it.

    ``stack(adam(1e-3), sgd())`` is Adam on the optimizee, whose step size and betas are learned by
    SGD; ``stack(adam(1e-3), adam(), sgd())`` puts Adam on Adam's hyperparameters too, and
    ``stack(adam(1e-3))`` is plain Adam. See the module docstring for the update rule, the
    default scale-free rule and the divergence guard.

    Args:
      *levels: ``Level`` s from the bottom (the optimizee's optimizer) to the top; every level but
        the top learns its ``learn`` hyperparameters (default: see ``DEFAULT_LEARNED``), the top
        level's hyperparameters are fixed.
      mode: how hypergradients are computed. ``'forward'`` (default): each update is made together
        with its tangent with respect to the learned hyperparameters (one ``jvp``, all k tangents
        at once); the next gradient's inner product with that tangent is the one-step
        hypergradient. ``'reverse'``: the same numbers by re-running the previous update and its
        ``vjp``. ``'run'``: level 0's hypergradient is the derivative of :math:`f(\theta_t)`
        through the whole run, the weights and the rule's state carrying their tangents
        :math:`Z_t = \partial\theta_t/\partial\phi` forward, discounted by ``discount`` each step
        (the levels above are one-step, forward); ``update`` then needs ``params`` and
        ``grad_fn``.
      discount: mode ``'run'`` only: :math:`\mu \in [0, 1]`; 0 gives the one-step hypergradient
        (Baydin et al.), 1 the exact derivative through every step (Franceschi et al.'s RTHO).
      guard: the divergence guard's growth ratio (default 2.0), or ``None`` for no guard: when the
        optimizee's gradient norm grows by more than this factor on two updates in a row, level
        0's learned ``learning_rate`` is divided by the last growth ratio (for SGD on a quadratic
        that is the secant estimate of the step size that stops the growth).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose state is a ``HyperState``; the current
      hyperparameters of every level are ``state.levels[i].hyperparams`` (or ``hyperparams(state)``,
      which also finds the stack inside an ``optax.chain`` state). ``update`` hands ``params`` to
      the bottom rule; mode ``'run'`` reads ``grad_fn`` (a function params -> gradient pytree of
      the loss whose gradient ``updates`` is, e.g. of the same minibatch), the other modes ignore
      extra keyword arguments. Safe under ``jit``, ``vmap`` and ``lax.scan``.

    Memory, besides the rules' own states, for k learned hyperparameters at level 0 over P
    parameters: ``'forward'`` k P (the tangent), ``'reverse'`` P plus one copy of the rule's
    state (the previous gradient and state), ``'run'`` k (P + the rule state's size) (the
    weights' and the state's tangents): never a copy per step.

    Raises:
      TypeError: an argument is not a ``Level`` (build one with ``l2l.hyper.sgd``, ``adam``, ...).
      ValueError: a level below the top learns nothing, the top level is asked to learn, or
        ``mode``, ``discount`` or ``guard`` is out of range.

    References:
      Chandra et al., *Gradient Descent: The Ultimate Optimizer*, NeurIPS 2022;
      Baydin et al., *Online Learning Rate Adaptation with Hypergradient Descent*, ICLR 2018;
      Franceschi et al., *Forward and Reverse Gradient-Based Hyperparameter Optimization*,
      ICML 2017; Donini et al., *MARTHE: Scheduling the Learning Rate via Online
      Hypergradients*, IJCAI 2020.
    """
    if not levels:
        raise ValueError("stack() needs at least one level, e.g. stack(sgd(0.01), sgd()).")
    for i, lvl in enumerate(levels):
        if not isinstance(lvl, Level):
            raise TypeError(
                f"stack(): argument {i} is {lvl!r}, not a Level. Build levels with "
                "l2l.hyper.sgd / adam / adagrad / rmsprop / level (these know their "
                "hyperparameters; a ready-made optax transform does not)."
            )
    _check_options(mode, discount, guard)
    levels = tuple(lvl.placed(upper=i > 0) for i, lvl in enumerate(levels))
    learned = _learned_per_level(levels)
    normalized = tuple(
        tuple(lvl.normalized(name) for name in names)
        for lvl, names in zip(levels, learned, strict=True)
    )
    height = len(levels)
    guarded_index = (
        learned[0].index("learning_rate")
        if guard is not None and "learning_rate" in learned[0]
        else None
    )

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
            k: jnp.asarray(v(count) if is_schedule(v) else v, float_dtype())
            for k, v in values.items()
        }

    def level_mode(i: int) -> str:
        """What level i keeps for its next hypergradient ('none' if it learns nothing)."""
        if not learned[i]:
            return "none"
        return (
            "run" if mode == "run" and i == 0 else ("reverse" if mode == "reverse" else "forward")
        )

    def init_fn(params):
        states = []
        level_params = params
        for i, lvl in enumerate(levels):
            names, kept = learned[i], level_mode(i)
            raw = {
                name: jnp.asarray(
                    lvl.parameterization(name).inverse(lvl.hyperparams[name]), float_dtype()
                )
                for name in names
            }
            values = rule_values(i, raw)
            rule_state = lvl.rule(values).init(level_params)
            states.append(
                LevelState(
                    hyperparams=readable(values, jnp.zeros([], jnp.int32)),
                    raw=raw,
                    hypergradient=jax.tree.map(jnp.zeros_like, raw),
                    rule_state=rule_state,
                    tangent=(
                        stacked_zeros(level_params, len(names))
                        if kept in ("forward", "run")
                        else ()
                    ),
                    state_tangent=(
                        tuple(stacked_zeros(float_leaves(rule_state), len(names)))
                        if kept == "run"
                        else ()
                    ),
                    previous_rule_state=rule_state if kept == "reverse" else (),
                    previous_grad=(
                        optax.tree.zeros_like(level_params) if kept == "reverse" else ()
                    ),
                    grad_norm=jnp.zeros([], float_dtype()),
                    growth=jnp.ones([], float_dtype()),
                    count=jnp.zeros([], jnp.int32),
                    skipped=jnp.zeros([], jnp.int32),
                    guarded=jnp.zeros([], jnp.int32),
                )
            )
            level_params = pack(raw, names) if names else None
        return HyperState(levels=tuple(states))

    def step_fn(i: int, grads, rule_state, params):
        """Level i's update as a function of its packed learned values."""

        def update(raw_vector):
            values = rule_values(i, unpack(raw_vector, learned[i]))
            return levels[i].rule(values).update(grads, rule_state, params)

        return update

    def with_tangent(i: int, raw_vector, grads, rule_state, params):
        """(step, new rule state, d step / d phi): one jvp carrying all k tangents at once."""
        update = step_fn(i, grads, rule_state, params)
        basis = jnp.eye(raw_vector.shape[0], dtype=raw_vector.dtype)
        step, tangent, new_state = jax.vmap(
            lambda e: jax.jvp(update, (raw_vector,), (e,), has_aux=True),
            out_axes=(None, 0, None),
        )(basis)
        return step, new_state, like(tangent, step)

    def reverse_hypergradient(i: int, state: LevelState, grads) -> tuple[jax.Array, jax.Array]:
        """d f / d phi through level i's previous update (a vjp with cotangent ``grads``), and the
        norms of that update's tangents (a jvp, only where the level above reads cosines)."""
        update = step_fn(i, state.previous_grad, state.previous_rule_state, None)
        raw_vector = pack(state.raw, learned[i])
        step, vjp, _ = jax.vjp(update, raw_vector, has_aux=True)
        (result,) = vjp(jax.tree.map(lambda g, s: jnp.asarray(g, s.dtype), grads, step))
        norms = jnp.ones_like(result)
        if any(normalized[i]):
            _, _, tangent = with_tangent(
                i, raw_vector, state.previous_grad, state.previous_rule_state, None
            )
            norms = stacked_norms(tangent)
        return result, norms

    def run_step(state: LevelState, raw_vector, grads, params, grad_fn):
        """Mode 'run', level 0: the step, the new rule state and the discounted tangents
        Z_{t+1} = mu Z_t + d step / d(phi, g, s) . (e, H mu Z_t, mu S_t), S_{t+1} likewise."""
        leaves, treedef = jax.tree.flatten(state.rule_state)
        is_float = [jnp.issubdtype(jnp.result_type(x), jnp.inexact) for x in leaves]

        def update(phi, g, floats):
            it = iter(floats)
            merged = [next(it) if f else x for x, f in zip(leaves, is_float, strict=True)]
            values = rule_values(0, unpack(phi, learned[0]))
            step, new_state = (
                levels[0].rule(values).update(g, jax.tree.unflatten(treedef, merged), params)
            )
            new_leaves = jax.tree.leaves(new_state)
            new_floats = [x for x, f in zip(new_leaves, is_float, strict=True) if f]
            return (step, new_floats), new_state

        # Tangents that overflowed (a diverging start) restart from zero instead of poisoning every
        # later hypergradient: the run's derivative is then counted from this step on.
        alive = all_finite((state.tangent, state.state_tangent))
        z = jax.tree.map(
            lambda t: jnp.where(alive, discount * t, 0.0).astype(t.dtype), state.tangent
        )
        s = [jnp.where(alive, discount * t, 0.0).astype(t.dtype) for t in state.state_tangent]
        hz = jax.vmap(lambda zj: like(jax.jvp(grad_fn, (params,), (zj,))[1], grads))(z)
        basis = jnp.eye(raw_vector.shape[0], dtype=raw_vector.dtype)
        floats = [x for x, f in zip(leaves, is_float, strict=True) if f]
        (step, _), (dstep, dfloats), new_state = jax.vmap(
            lambda e, hzj, sj: jax.jvp(
                update, (raw_vector, grads, floats), (e, hzj, sj), has_aux=True
            ),
            out_axes=((None, None), (0, 0), None),
        )(basis, hz, s)
        new_tangent = jax.tree.map(lambda zj, dj: zj + dj.astype(zj.dtype), z, dstep)
        return step, new_state, new_tangent, tuple(like(dfloats, list(state.state_tangent)))

    def update_level(i: int, grads, states: tuple[LevelState, ...], params, grad_fn):
        """Level i steps its parameters with ``grads``; returns the step and states i..top."""
        state = states[i]
        names, kept = learned[i], level_mode(i)
        raw, hypergrad, upper = state.raw, state.hypergradient, ()
        skipped, guarded = state.skipped, state.guarded
        grads_norm = norm(grads)
        growth = guard_lib.growth(grads_norm, state.grad_norm, state.count)
        if names:
            available = state.count > 0  # No hypergradient before this level's first update.
            if kept == "reverse":
                packed_hypergrad, norms = reverse_hypergradient(i, state, grads)
            else:
                packed_hypergrad = contract(grads, state.tangent)
                norms = stacked_norms(state.tangent) if any(normalized[i]) else None
            passed_up = packed_hypergrad
            if any(normalized[i]):
                cosines = _normalized(packed_hypergrad, grads_norm, norms)
                mask = jnp.asarray(normalized[i])
                passed_up = jnp.where(mask, cosines, packed_hypergrad)
            raw_vector = pack(state.raw, names)
            raw_step, new_upper = update_level(i + 1, passed_up, states, raw_vector, None)
            raw_step = unpack(raw_step, names)
            stepped = {
                name: reparam_lib.project(
                    levels[i].parameterization(name),
                    (state.raw[name] + raw_step[name]).astype(state.raw[name].dtype),
                )
                for name in names
            }
            finite = jnp.all(jnp.isfinite(packed_hypergrad)) & all_finite(stepped)
            take = available & finite
            if i == 0 and guarded_index is not None:
                name = names[guarded_index]
                stepped[name], fire = guard_lib.cut_step_size(
                    stepped[name], levels[0].parameterization(name), growth, state.growth, guard
                )
                guarded = guarded + (take & fire).astype(jnp.int32)
            raw = select(take, stepped, state.raw)
            upper = select(take, new_upper, states[i + 1 :])
            skipped = state.skipped + (available & ~finite).astype(jnp.int32)
            hypergrad = select(available, unpack(packed_hypergrad, names), state.hypergradient)
        values = rule_values(i, raw)
        tangent, state_tangent = state.tangent, state.state_tangent
        if kept == "forward":
            step, rule_state, tangent = with_tangent(
                i, pack(raw, names), grads, state.rule_state, params
            )
        elif kept == "run":
            step, rule_state, tangent, state_tangent = run_step(
                state, pack(raw, names), grads, params, grad_fn
            )
        else:
            step, rule_state = levels[i].rule(values).update(grads, state.rule_state, params)
        new_state = LevelState(
            hyperparams=readable(values, state.count),
            raw=raw,
            hypergradient=hypergrad,
            rule_state=rule_state,
            tangent=tangent,
            state_tangent=state_tangent,
            previous_rule_state=state.rule_state if kept == "reverse" else (),
            previous_grad=like(grads, state.previous_grad) if kept == "reverse" else (),
            grad_norm=grads_norm.astype(state.grad_norm.dtype),
            growth=growth.astype(state.growth.dtype),
            count=optax.safe_int32_increment(state.count),
            skipped=skipped,
            guarded=guarded,
        )
        return step, (new_state, *upper)

    def update_fn(updates, state, params=None, grad_fn=None, **extra_args):
        del extra_args
        if not isinstance(state, HyperState) or len(state.levels) != height:
            raise TypeError(
                f"This stack of height {height} was given a state that it did not make "
                f"({type(state).__name__}); pass the state returned by its own init."
            )
        if mode == "run" and (grad_fn is None or params is None):
            raise ValueError(
                "A stack with mode='run' differentiates the gradient through the whole run, so "
                "its update needs `params` and the keyword argument `grad_fn` (params -> "
                "gradient pytree of the same loss, e.g. the same minibatch): "
                "`opt.update(grads, state, params, grad_fn=jax.grad(loss))`."
            )
        step, new_levels = update_level(0, updates, state.levels, params, grad_fn)
        return step, HyperState(levels=tuple(new_levels))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
