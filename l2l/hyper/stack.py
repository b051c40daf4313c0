r"""Hyperoptimizers: gradient descent on an optimizer's own hyperparameters, stacked to any height.

Level 0 updates the optimizee's parameters :math:`\theta` with a rule :math:`u` of the classic
family and hyperparameters :math:`h` (step size, momentum, betas, ...):

.. math::
  \theta_t = \theta_{t-1} + u(g_{t-1}, s_{t-2};\, h_{t-1}), \qquad g_{t-1} = \nabla f(\theta_{t-1}).

At step :math:`t` the gradient :math:`g_t = \nabla f(\theta_t)` also gives the *hypergradient*,
the derivative of :math:`f(\theta_t)` with respect to the hyperparameters. How it is computed is
the stack's ``mode`` (``l2l.hyper.modes``): through the last update only, by forward mode
(``'forward'``, the default) or by reverse mode (``'reverse'``, the same numbers); or through the
whole run, discounted (``'run'``). For SGD the one-step hypergradient is Baydin's
:math:`-\alpha\, g_t \cdot g_{t-1}` per unit of :math:`\log\alpha`. Level 1, itself an optimizer of
the same kind, takes one step on :math:`\phi` with that gradient; then level 0 steps
:math:`\theta` with the new :math:`h_t`. Level 1's own hyperparameters are learned the same way by
level 2, and so on up; the last level's hyperparameters (a small step size :math:`\kappa`) stay
fixed. Learned hyperparameters are stored in a parameterization :math:`h = T(\phi)` that keeps
them in range (``l2l.hyper.reparam``), and the levels above step :math:`\phi`.

**The default rule is scale-free.** Step sizes are learned as :math:`\log\alpha` and decays as
:math:`\mathrm{logit}\,\beta` (``reparam='auto'``), and the level above sees their hypergradients
normalized, :math:`g_t \cdot J_j / (\lVert g_t \rVert \max_i \lVert J_i \rVert) \in [-1, 1]`
(``Level.normalize``; :math:`J_j` the last update's tangent in :math:`\phi_j`): for a step size
alone the cosine between the gradient and the last step, so SGD above with step :math:`\kappa`
multiplies :math:`\alpha` by at most :math:`e^{\pm\kappa}` per step whatever the scale of the loss
or of :math:`\alpha` (Baydin et al.'s multiplicative rule). A level above another defaults to
:math:`\kappa = 0.2`: from :math:`10^{-4}` times a good step size it climbs there in about 50
steps. Raw (the paper's) and square-root parameterizations get the plain hypergradient, so a
top-level step size means what it means in the paper.

Safeguards: a level has no hypergradient before its first update, so the levels above it wait; a
hypergradient (or a stepped :math:`\phi`) that is not finite leaves :math:`\phi` and every level
above unchanged for that step and is counted in ``LevelState.skipped``. A diverging trajectory is
caught before it overflows by the divergence guard (``l2l.hyper.guard``), counted in
``LevelState.guarded``.

Cost per step, besides the optimizee's gradient: each mode's (see ``l2l.hyper.modes``); levels
above the first act on a handful of scalars. ``python scripts/bench_hyper.py`` measures them.

References:
  Chandra, Xie, Ragan-Kelley & Meijer, *Gradient Descent: The Ultimate Optimizer*, NeurIPS 2022;
  Baydin, Cornish, Martinez Rubio, Schmidt & Wood, *Online Learning Rate Adaptation with
  Hypergradient Descent*, ICLR 2018.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l.hyper import guard as guard_lib
from l2l.hyper import reparam as reparam_lib
from l2l.hyper._trees import all_finite, float_dtype, norm, pack, select, unpack
from l2l.hyper.levels import Level
from l2l.hyper.modes import HYPERGRADIENT_MODES, NOTHING, LevelUpdate, Memory, Mode
from l2l.hyper.state import HyperState, LevelState, Rollback
from l2l.optimizers._hyperparams import is_schedule

MODES = tuple(HYPERGRADIENT_MODES)


class _Plan(NamedTuple):
    """What a stack knows of one of its levels, fixed when the stack is built."""

    level: Level  # with its learning rate placed (``Level.placed``).
    learned: tuple[str, ...]  # its learned hyperparameters, in the order of the packed phi.
    normalized: tuple[bool, ...]  # per learned one: whether the level above reads a cosine.
    mode: Mode | None  # how its hypergradient is computed; None where it learns nothing.
    update: LevelUpdate | None  # its update as a function of phi; None where it learns nothing.


def _check_levels(levels: tuple) -> None:
    if not levels:
        raise ValueError("stack() needs at least one level, e.g. stack(sgd(0.01), sgd()).")
    for i, lvl in enumerate(levels):
        if not isinstance(lvl, Level):
            raise TypeError(
                f"stack(): argument {i} is {lvl!r}, not a Level. Build levels with "
                "l2l.hyper.sgd / adam / adagrad / rmsprop / level (these know their "
                "hyperparameters; a ready-made optax transform does not: give its factory, "
                "e.g. level(optax.adamw, learning_rate=1e-3))."
            )


def _learned_per_level(levels: tuple[Level, ...]) -> tuple[tuple[str, ...], ...]:
    learned = []
    for i, lvl in enumerate(levels):
        top = i == len(levels) - 1
        names = lvl.learned_names(top=top)
        if top and names:
            raise ValueError(
                f"The top level of a stack ({lvl.name}, level {i}) has no level above it to "
                f"learn {', '.join(map(repr, names))}: leave its `learn` unset (or empty) so its "
                "hyperparameters stay fixed, or add a level above it."
            )
        if not top and not names:
            raise ValueError(
                f"Level {i} ({lvl.name}) learns no hyperparameter, so level {i + 1} would "
                f"have nothing to optimize: give it `learn=(...)` or end the stack at level {i}."
            )
        lvl.check_learnable(names)
        learned.append(names)
    return tuple(learned)


def _check_options(mode: str, discount: float, guard: float | None) -> None:
    if mode not in HYPERGRADIENT_MODES:
        raise ValueError(
            f"stack(mode={mode!r}): expected one of {', '.join(map(repr, MODES))} (how "
            "hypergradients are computed, 'forward' by default; the table in l2l.hyper.modes "
            "says what each computes)."
        )
    if not 0.0 <= float(discount) <= 1.0:
        raise ValueError(f"stack(discount={discount!r}): the discount mu must lie in [0, 1].")
    if float(discount) != 1.0 and not HYPERGRADIENT_MODES[mode](discount).discounted:
        discounted = " or ".join(
            f"mode={name!r}" for name, make in HYPERGRADIENT_MODES.items() if make(1.0).discounted
        )
        raise ValueError(
            f"stack(discount={discount!r}) discounts the whole-run tangents of {discounted}; "
            f"this stack's mode is {mode!r}. Pass {discounted} with it, or leave discount out."
        )
    if guard is not None and not float(guard) > 1.0:
        raise ValueError(
            f"stack(guard={guard!r}): the divergence guard's growth ratio must be > 1 "
            "(default 2.0), or None to turn the guard off."
        )


def _check_rollback(rollback: float | None, plans: tuple[_Plan, ...]) -> None:
    if rollback is None:
        return
    if not float(rollback) > 1.0:
        raise ValueError(
            f"stack(rollback={rollback!r}): the loss guard's ratio must be > 1 (e.g. 2.0), or "
            "None (the default) for no loss guard."
        )
    if "learning_rate" not in plans[0].learned:
        raise ValueError(
            f"stack(rollback={rollback!r}) halves level 0's learned step size on a rollback, but "
            f"level 0 ({plans[0].level.name}) does not learn 'learning_rate': add it to its "
            "`learn`, or leave rollback out."
        )


def _guarded_update(update_level, ratio, bottom, updates, state, params, grad_fn, value):
    """The stack's update under the loss guard (``l2l.hyper.guard``): accept the loss at
    ``params`` and update as usual (this point becomes the last accepted one), or, on a second
    failure in a row, go back to the last accepted point with half the step size."""
    kept = state.rollback
    loss = jnp.asarray(value, float_dtype())
    ok = guard_lib.accepted(loss, kept.reference, ratio)
    back = ~ok & ((kept.spikes > 0) | ~jnp.isfinite(loss))
    # Where a rollback returns: the last accepted point's state, level 0's step size halved.
    cut = kept.levels[0]._replace(
        raw={
            **kept.levels[0].raw,
            "learning_rate": guard_lib.divide_step_size(
                kept.levels[0].raw["learning_rate"],
                bottom.level.parameterization("learning_rate"),
                guard_lib.ROLLBACK_CUT,
            ),
        }
    )
    restored = (cut, *kept.levels[1:])
    step, new_levels = update_level(0, updates, state.levels, params, grad_fn)
    # A rollback returns the parameters to the accepted point, and the state to that point's
    # (its counts of skipped and guarded steps kept); the next update starts there.
    home = jax.tree.map(lambda a, p: jnp.asarray(a - p, p.dtype), kept.params, params)
    step = select(back, home, step)
    counted = tuple(
        old._replace(skipped=now.skipped, guarded=now.guarded)
        for old, now in zip(restored, state.levels, strict=True)
    )
    new_levels = select(back, counted, tuple(new_levels))
    rollback_state = Rollback(
        params=select(ok, params, kept.params),
        levels=select(ok, state.levels, select(back, restored, kept.levels)),
        reference=jnp.where(
            ok, guard_lib.running_reference(loss, kept.reference), kept.reference
        ).astype(kept.reference.dtype),
        spikes=jnp.where(ok | back, 0, 1).astype(jnp.int32),
        count=kept.count + back.astype(jnp.int32),
    )
    return step, HyperState(levels=new_levels, rollback=rollback_state)


def _plans(levels: tuple[Level, ...], mode: Mode) -> tuple[_Plan, ...]:
    """Each level placed, what it learns, and its mode: ``mode`` at the bottom, ``mode.above()``
    over it."""
    levels = tuple(lvl.placed(upper=i > 0) for i, lvl in enumerate(levels))
    plans = []
    for i, (lvl, names) in enumerate(zip(levels, _learned_per_level(levels), strict=True)):
        plans.append(
            _Plan(
                level=lvl,
                learned=names,
                normalized=tuple(lvl.normalized(name) for name in names),
                mode=(mode if i == 0 else mode.above()) if names else None,
                update=lvl.raw_update(names) if names else None,
            )
        )
    return tuple(plans)


def _cosines(hypergradient: jax.Array, grad_norm: jax.Array, norms: jax.Array) -> jax.Array:
    """``g . J_j / (||g|| max_i ||J_i||)`` in [-1, 1]: the cosine between the gradient and the
    largest tangent, scaled for each other hyperparameter by how much less it moves the update; 0
    where a norm is 0."""
    scale = grad_norm * jnp.max(norms)
    return jnp.where(scale > 0, hypergradient / jnp.where(scale > 0, scale, 1.0), 0.0)


def _readable(values: dict[str, Any], count: jax.Array) -> dict[str, jax.Array]:
    """The numeric values as float scalars; a (fixed) schedule of ``learning_rate`` as its value
    at the level's step. Others (masks, dtypes, flags, ``None``) are left out."""
    readable = {}
    for k, v in values.items():
        if k == "learning_rate" and is_schedule(v):
            readable[k] = jnp.asarray(v(count), float_dtype())
        elif _is_scalar_number(v):
            readable[k] = jnp.asarray(v, float_dtype())
    return readable


def _is_scalar_number(value: Any) -> bool:
    """A real number or a real scalar array (traced ones too), not a bool."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, float, np.number)):
        return True
    return (
        isinstance(value, (jax.Array, np.ndarray))
        and value.ndim == 0
        and jnp.issubdtype(value.dtype, jnp.number)
        and not jnp.issubdtype(value.dtype, jnp.complexfloating)
    )


class GradientWithHVP(NamedTuple):
    """``grad_fn`` with the Hessian-vector products of the loss at the current parameters
    (``hvp_fn``, e.g. ``jax.linearize(jax.grad(loss), params)[1]``), which mode ``'run'`` then
    uses instead of differentiating ``grad_fn`` (whose gradient the caller already computed)."""

    grad_fn: Any  # params -> gradient pytree, or None.
    hvp: Any  # tangent pytree -> H tangent, at the parameters of this update.

    def __call__(self, params):
        if self.grad_fn is None:
            raise ValueError("this update was given `hvp_fn` without `grad_fn`")
        return self.grad_fn(params)


def _memory(state: LevelState) -> Memory:
    """What the level's mode kept, as the mode sees it."""
    return Memory(*(getattr(state, field) for field in Memory._fields))


def stack(
    *levels: Level,
    mode: str = "forward",
    discount: float = 1.0,
    guard: float | None = 2.0,
    rollback: float | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""A hyperoptimizer: each level learns the hyperparameters of the level below it.

    ``stack(adam(1e-3), sgd())`` is Adam on the optimizee, whose step size SGD learns;
    ``stack(adam(1e-3), adam(), sgd())`` learns it with Adam, whose own step size SGD learns; and
    ``stack(adam(1e-3))`` is plain Adam. See the module docstring for the update rule and the
    default scale-free rule, ``l2l.hyper.modes`` for the modes and ``l2l.hyper.guard`` for the
    divergence guard.

    Args:
      *levels: ``Level`` s from the bottom (the optimizee's optimizer) to the top; every level but
        the top learns its ``learn`` hyperparameters (default: see ``DEFAULT_LEARNED``), the top
        level's hyperparameters are fixed.
      mode: how hypergradients are computed (a name in ``MODES``). ``'forward'`` (default): each
        update is made together with its tangent with respect to the learned hyperparameters (a
        ``jvp`` per learned value); the next gradient's inner product with that tangent is
        the one-step hypergradient. ``'reverse'``: the same numbers by re-running the previous
        update and its ``vjp``. ``'run'``: level 0's hypergradient is the derivative of
        :math:`f(\theta_t)` through the whole run, the weights and the rule's state carrying
        their tangents :math:`Z_t = \partial\theta_t/\partial\phi` forward, discounted by
        ``discount`` each step (the levels above are one-step, forward); ``update`` then needs
        ``params`` and ``grad_fn``.
      discount: mode ``'run'`` only: :math:`\mu \in [0, 1]`; 0 gives the one-step hypergradient
        (Baydin et al.), 1 the exact derivative through every step (Franceschi et al.'s RTHO).
      guard: the divergence guard's growth ratio (default 2.0), or ``None`` for no guard: when the
        optimizee's gradient norm grows by more than this factor on two updates in a row, level
        0's learned ``learning_rate`` is divided by the last growth ratio (for SGD on a quadratic
        that is the secant estimate of the step size that stops the growth).
      rollback: the loss guard's ratio :math:`\rho_L` (e.g. 2.0), or ``None`` (default) for no
        loss guard: on the second update in a row whose loss exceeds :math:`\rho_L` times the
        running mean of accepted losses (at once for a loss that is not finite), the update takes
        the parameters back to the last accepted ones and level 0's step size is halved
        (``l2l.hyper.guard``); ``update`` then needs ``params`` and ``value`` (the loss at
        ``params``, as optax's line searches take it). Level 0 must learn its ``learning_rate``.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose state is a ``HyperState``; the current
      hyperparameters of every level are ``state.levels[i].hyperparams`` (or ``hyperparams(state)``,
      which also finds the stack inside an ``optax.chain`` state). ``update`` hands ``params`` to
      the bottom rule; mode ``'run'`` reads ``grad_fn`` (a function params -> gradient pytree of
      the loss whose gradient ``updates`` is, e.g. of the same minibatch) and differentiates it,
      or, cheaper, reads ``hvp_fn`` (tangent -> Hessian-vector product at ``params``, e.g. the
      second result of ``jax.linearize(jax.grad(loss), params)``, whose first is the gradient),
      which saves evaluating the gradient a second time; the other modes ignore extra keyword
      arguments. Safe under ``jit``, ``vmap`` and ``lax.scan``.

    Memory, besides the rules' own states, for k learned hyperparameters at level 0 over P
    parameters: ``'forward'`` k P (the tangent), ``'reverse'`` P plus one copy of the rule's
    state (the previous gradient and state), ``'run'`` k (P + the rule state's size) (the
    weights' and the state's tangents): never a copy per step.

    Raises:
      TypeError: an argument is not a ``Level`` (build one with ``l2l.hyper.sgd``, ``adam``, ...).
      ValueError: a level below the top learns nothing, the top level is asked to learn, or
        ``mode``, ``discount``, ``guard`` or ``rollback`` is out of range.

    References:
      Chandra et al., *Gradient Descent: The Ultimate Optimizer*, NeurIPS 2022;
      Baydin et al., *Online Learning Rate Adaptation with Hypergradient Descent*, ICLR 2018;
      Franceschi et al., *Forward and Reverse Gradient-Based Hyperparameter Optimization*,
      ICML 2017; Donini et al., *MARTHE: Scheduling the Learning Rate via Online
      Hypergradients*, IJCAI 2020.
    """
    _check_levels(levels)
    _check_options(mode, discount, guard)
    chosen = HYPERGRADIENT_MODES[mode](discount)
    plans = _plans(levels, chosen)
    _check_rollback(rollback, plans)
    guarded_name = (
        "learning_rate" if guard is not None and "learning_rate" in plans[0].learned else None
    )

    def init_fn(params):
        states = []
        level_params = params  # What the level steps: the optimizee's, then phi of the level below.
        for plan in plans:
            lvl, names = plan.level, plan.learned
            raw = {
                name: jnp.asarray(
                    lvl.parameterization(name).inverse(lvl.hyperparams[name]), float_dtype()
                )
                for name in names
            }
            values = lvl.values(raw)
            rule_state = lvl.rule(values).init(level_params)
            phi = pack(raw, names) if names else None
            memory = (
                plan.mode.init(phi, level_params, rule_state, plan.update) if names else NOTHING
            )
            states.append(
                LevelState(
                    hyperparams=_readable(values, jnp.zeros([], jnp.int32)),
                    raw=raw,
                    hypergradient=jax.tree.map(jnp.zeros_like, raw),
                    rule_state=rule_state,
                    **memory._asdict(),
                    grad_norm=jnp.zeros([], float_dtype()),
                    growth=jnp.ones([], float_dtype()),
                    count=jnp.zeros([], jnp.int32),
                    skipped=jnp.zeros([], jnp.int32),
                    guarded=jnp.zeros([], jnp.int32),
                )
            )
            level_params = phi
        if rollback is None:
            return HyperState(levels=tuple(states))
        return HyperState(
            levels=tuple(states),
            rollback=Rollback(
                params=params,
                levels=tuple(states),
                reference=jnp.full([], jnp.inf, float_dtype()),
                spikes=jnp.zeros([], jnp.int32),
                count=jnp.zeros([], jnp.int32),
            ),
        )

    def hyper_step(i: int, grads, grads_norm, growth, states: tuple[LevelState, ...]):
        """Level i's hypergradient from ``grads``, with which level i + 1 steps level i's phi.

        Returns level i's new raw values (kept where the hypergradient or the stepped phi is not
        finite; level 0's step size cut by the guard where it fires), its hypergradient, the new
        states of the levels above, and its ``skipped`` and ``guarded`` counts."""
        plan, state = plans[i], states[i]
        names, reads_cosines = plan.learned, any(plan.normalized)
        available = state.count > 0  # No hypergradient before this level's first update.
        phi = pack(state.raw, names)
        hypergradient, norms = plan.mode.hypergradient(
            plan.update, phi, _memory(state), grads, reads_cosines
        )
        passed_up = hypergradient
        if reads_cosines:
            cosines = _cosines(hypergradient, grads_norm, norms)
            passed_up = jnp.where(jnp.asarray(plan.normalized), cosines, hypergradient)
        raw_step, new_upper = update_level(i + 1, passed_up, states, phi, None)
        raw_step = unpack(raw_step, names)
        stepped = {
            name: reparam_lib.project(
                plan.level.parameterization(name),
                (state.raw[name] + raw_step[name]).astype(state.raw[name].dtype),
            )
            for name in names
        }
        finite = jnp.all(jnp.isfinite(hypergradient)) & all_finite(stepped)
        take = available & finite
        guarded = state.guarded
        if i == 0 and guarded_name is not None:
            stepped[guarded_name], fire = guard_lib.cut_step_size(
                stepped[guarded_name],
                plan.level.parameterization(guarded_name),
                growth,
                state.growth,
                guard,
            )
            guarded = guarded + (take & fire).astype(jnp.int32)
        raw = select(take, stepped, state.raw)
        upper = select(take, new_upper, states[i + 1 :])
        skipped = state.skipped + (available & ~finite).astype(jnp.int32)
        hypergradient = select(available, unpack(hypergradient, names), state.hypergradient)
        return raw, hypergradient, upper, skipped, guarded

    def update_level(i: int, grads, states: tuple[LevelState, ...], params, grad_fn):
        """Level i steps its parameters with ``grads``; returns the step and states i..top."""
        plan, state = plans[i], states[i]
        grads_norm = norm(grads)
        growth = guard_lib.growth(grads_norm, state.grad_norm, state.count)
        raw, hypergradient, upper = state.raw, state.hypergradient, ()
        skipped, guarded = state.skipped, state.guarded
        if plan.learned:
            raw, hypergradient, upper, skipped, guarded = hyper_step(
                i, grads, grads_norm, growth, states
            )
        values = plan.level.values(raw)
        if plan.learned:
            step, rule_state, memory = plan.mode.step(
                plan.update,
                pack(raw, plan.learned),
                grads,
                state.rule_state,
                params,
                _memory(state),
                grad_fn,
            )
        else:
            step, rule_state = plan.level.rule(values).update(grads, state.rule_state, params)
            memory = NOTHING
        new_state = LevelState(
            hyperparams=_readable(values, state.count),
            raw=raw,
            hypergradient=hypergradient,
            rule_state=rule_state,
            **memory._asdict(),
            grad_norm=grads_norm.astype(state.grad_norm.dtype),
            growth=growth.astype(state.growth.dtype),
            count=optax.safe_int32_increment(state.count),
            skipped=skipped,
            guarded=guarded,
        )
        return step, (new_state, *upper)

    def update_fn(updates, state, params=None, grad_fn=None, hvp_fn=None, value=None, **extra_args):
        del extra_args
        if not isinstance(state, HyperState) or len(state.levels) != len(plans):
            raise TypeError(
                f"This stack of height {len(plans)} was given a state that it did not make "
                f"({type(state).__name__}); pass the state returned by its own init."
            )
        if hvp_fn is not None:
            grad_fn = GradientWithHVP(grad_fn, hvp_fn)
        if chosen.needs_grad_fn and (grad_fn is None or params is None):
            raise ValueError(
                f"A stack with mode={mode!r} differentiates the optimizee's gradient, so its "
                "update needs `params` and the keyword argument `grad_fn` (params -> gradient "
                "pytree of the same loss, e.g. the same minibatch): "
                "`opt.update(grads, state, params, grad_fn=jax.grad(loss))`."
            )
        if rollback is not None and (value is None or params is None):
            raise ValueError(
                f"A stack with rollback={rollback!r} reads the loss: its update needs `params` "
                "and the keyword argument `value` (the loss at params, e.g. of the minibatch "
                "whose gradient it is given): `opt.update(grads, state, params, value=loss)`."
            )
        if rollback is None:
            step, new_levels = update_level(0, updates, state.levels, params, grad_fn)
            return step, HyperState(levels=tuple(new_levels))
        return _guarded_update(
            update_level, rollback, plans[0], updates, state, params, grad_fn, value
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
