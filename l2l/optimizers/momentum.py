r"""Gradient descent and its momentum variants: sgd, momentum, nesterov, smoothed_nesterov.

Notation shared by every docstring here: :math:`g_t` is the gradient handed to ``update`` at step
:math:`t = 1, 2, \dots`, :math:`\eta` (``learning_rate``) the step size, :math:`\gamma`
(``momentum``) the momentum coefficient, :math:`v_t` the velocity kept in the state
(:math:`v_0 = 0`), and the value returned by ``update`` is what gets *added* to the parameters
(``optax.apply_updates``). The arguments carry optax's names; ``lr`` and ``gamma`` still work for
one release, with a ``DeprecationWarning``.

``learning_rate`` is a number, a JAX scalar (traced ones too) or an optax schedule, a function of
the number of updates made so far: step :math:`t` uses :math:`\eta_t = \text{schedule}(t - 1)`, as
in optax. The state counts the updates (``MomentumState.count``, int32) to evaluate it.

The velocity carries the step size inside it (:math:`v_t = \gamma v_{t-1} + \eta_t g_t`): each
gradient keeps the step size it was taken with. With a constant ``learning_rate`` this is the same
algorithm as ``optax.sgd(learning_rate, momentum=momentum)``, whose trace is :math:`v_t / \eta`;
the two differ when the step size changes between steps (a schedule, ``optax.inject_hyperparams``
or a hyperoptimizer): optax multiplies its whole trace by the current :math:`\eta_t`, ours scales
only the new gradient, and the past steps keep their sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from l2l.optimizers._hyperparams import (
    accepts_old_names,
    check_count,
    check_hyperparam,
    check_learning_rate,
    learning_rate_at,
)

GradFn = Callable[[optax.Params], optax.Updates]

# The names these factories took before they took optax's (deprecated, accepted for one release).
_OLD_NAMES = {"lr": "learning_rate", "gamma": "momentum"}


class MomentumState(NamedTuple):
    """State of ``momentum``, ``nesterov`` and ``smoothed_nesterov``."""

    # t: updates made so far, shape (), int32 (a schedule is evaluated at it).
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in optax's states
    velocity: optax.Updates  # v_t: like params (structure, dtypes); theta_t = theta_{t-1} - v_t.


def _check_learning_rate_and_momentum(learning_rate: Any, momentum: Any) -> None:
    check_learning_rate(learning_rate)
    check_hyperparam("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)


def _init_velocity(params: optax.Params) -> MomentumState:
    return MomentumState(count=jnp.zeros([], jnp.int32), velocity=optax.tree.zeros_like(params))


def _heavy_ball(
    velocity: optax.Updates, grads: optax.Updates, lr: Any, gamma: Any
) -> optax.Updates:
    """v_t = gamma v_{t-1} + lr g_t, kept in the velocity's dtypes so the state is scan-stable."""
    return jax.tree.map(lambda v, g: (gamma * v + lr * g).astype(v.dtype), velocity, grads)


def _lookahead_mean_gradient(
    who: str,
    grad_fn: GradFn | None,
    params: optax.Params | None,
    velocity: optax.Updates,
    gamma: Any,
    points: int,
) -> optax.Updates:
    r"""Mean of grad_fn over theta - (k/K) gamma v, k = 1..K, with actionable errors for misuse."""
    if grad_fn is None:
        raise TypeError(
            f"{who} evaluates the gradient at look-ahead points itself, so `update` needs the "
            "keyword argument `grad_fn`, a function params -> gradient pytree, e.g. "
            "`opt.update(grads, state, params, grad_fn=jax.grad(loss))` "
            "(inside `optax.chain` pass it the same way; the chain forwards it)."
        )
    if not callable(grad_fn):
        raise TypeError(
            f"{who}: `grad_fn` must be a function params -> gradient pytree, got {grad_fn!r}."
        )
    if params is None:
        raise ValueError(
            f"{who} needs the current parameters to find the look-ahead points: call "
            "`opt.update(grads, state, params, grad_fn=...)` with `params` (got params=None)."
        )

    def gradient_at(fraction: Any) -> optax.Updates:
        point = jax.tree.map(
            lambda p, v: (p - fraction * gamma * v).astype(p.dtype), params, velocity
        )
        grads = grad_fn(point)
        expected: Any = jax.tree.structure(velocity)  # (jax's stubs leave PyTreeDef untyped)
        if jax.tree.structure(grads) != expected:
            raise TypeError(
                f"{who}: `grad_fn` must return a gradient with the same pytree structure as params "
                f"({expected}), but it returned {jax.tree.structure(grads)}. "
                "Pass `jax.grad(loss)`, not `jax.value_and_grad(loss)`."
            )
        return jax.tree.map(lambda g, v: g.astype(v.dtype), grads, velocity)

    if points == 1:
        return gradient_at(1.0)

    # One traced gradient evaluation, looped by scan: compile time does not grow with `points`.
    def accumulate(total: optax.Updates, fraction: jax.Array) -> tuple[optax.Updates, None]:
        return jax.tree.map(jnp.add, total, gradient_at(fraction)), None

    fractions = jnp.arange(1, points + 1) / points
    total, _ = jax.lax.scan(accumulate, optax.tree.zeros_like(velocity), fractions)
    return jax.tree.map(lambda s: s / points, total)


@accepts_old_names("l2l", lr="learning_rate")
def sgd(learning_rate: Any = 0.01) -> optax.GradientTransformationExtraArgs:
    r"""Plain gradient descent.

    .. math::
      \Delta\theta_t = -\eta_t\, g_t

    Args:
      learning_rate: step size :math:`\eta \ge 0`: a number, a JAX scalar or an optax schedule,
        :math:`\eta_t = \text{schedule}(t - 1)` (default 0.01).

    Returns:
      ``optax.sgd(learning_rate)``, accepting (and ignoring) extra keyword arguments.

    References:
      Robbins & Monro, *A Stochastic Approximation Method*, 1951.
    """
    check_learning_rate(learning_rate)
    return optax.with_extra_args_support(optax.sgd(learning_rate))


@accepts_old_names("l2l", **_OLD_NAMES)
def momentum(
    learning_rate: Any = 0.01, momentum: Any = 0.9
) -> optax.GradientTransformationExtraArgs:
    r"""Gradient descent with (heavy-ball) momentum.

    .. math::
      v_t = \gamma v_{t-1} + \eta_t\, g_t, \qquad \Delta\theta_t = -v_t

    With a constant ``learning_rate`` the parameters follow
    ``optax.sgd(learning_rate, momentum=momentum)`` exactly; the state differs by the factor
    :math:`\eta`. With a schedule each gradient enters the velocity scaled by the step size of its
    own step, :math:`\eta_t = \text{schedule}(t - 1)`, so the parameters differ from optax's (see
    the module docstring).

    Args:
      learning_rate: step size :math:`\eta \ge 0`: a number, a JAX scalar or an optax schedule
        (default 0.01).
      momentum: momentum coefficient :math:`0 \le \gamma < 1` (default 0.9).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state ``MomentumState``.

    References:
      Polyak, *Some methods of speeding up the convergence of iteration methods*, 1964.

    Examples:
      A constant gradient of 1: the steps grow towards :math:`\eta / (1 - \gamma) = 1`.

      >>> import jax.numpy as jnp, l2l
      >>> opt = l2l.momentum(learning_rate=0.1, momentum=0.9)
      >>> state = opt.init(jnp.zeros(1))
      >>> for t in range(1, 4):
      ...     updates, state = opt.update(jnp.ones(1), state)
      ...     print(t, round(float(updates[0]), 4))
      1 -0.1
      2 -0.19
      3 -0.271
    """
    _check_learning_rate_and_momentum(learning_rate, momentum)

    def update_fn(
        updates: optax.Updates,
        state: MomentumState,
        params: optax.Params | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, MomentumState]:
        del params, extra_args
        lr = learning_rate_at(learning_rate, state.count)
        velocity = _heavy_ball(state.velocity, updates, lr, momentum)
        new_state = MomentumState(count=optax.safe_int32_increment(state.count), velocity=velocity)
        return jax.tree.map(jnp.negative, velocity), new_state

    return optax.GradientTransformationExtraArgs(_init_velocity, update_fn)


@accepts_old_names("l2l", **_OLD_NAMES)
def nesterov(
    learning_rate: Any = 0.01, momentum: Any = 0.9
) -> optax.GradientTransformationExtraArgs:
    r"""Nesterov's accelerated gradient, in two equivalent parametrisations.

    The textbook recurrence, with :math:`v_0 = 0`:

    .. math::
      v_t = \gamma v_{t-1} + \eta_t\, \nabla f(\theta_{t-1} - \gamma v_{t-1}), \qquad
      \theta_t = \theta_{t-1} - v_t

    ``update`` picks the parametrisation from its extra keyword argument ``grad_fn``:

    * **with** ``grad_fn`` (a function params -> gradient pytree, e.g. ``jax.grad(loss)``, passed as
      ``opt.update(grads, state, params, grad_fn=...)``): the optimizer evaluates the gradient at
      the look-ahead point :math:`\theta_{t-1} - \gamma v_{t-1}` itself, and the parameters are the
      textbook :math:`\theta_t`. The ``grads`` argument is then not used (so a transform before this
      one in a chain, such as clipping, does not act on the look-ahead gradient). This is
      ``smoothed_nesterov(learning_rate, momentum, points=1)``.
    * **without** ``grad_fn``: the Sutskever et al. (2013) reformulation, for callers that can only
      supply the gradient at the current parameters. The parameters are then the look-ahead iterate
      :math:`\phi_t = \theta_t - \gamma v_t` (so :math:`\phi_0 = \theta_0`), the gradient handed to
      ``update`` is :math:`g_t = \nabla f(\phi_{t-1})`, and

      .. math::
        v_t = \gamma v_{t-1} + \eta_t\, g_t, \qquad \Delta\phi_t = -(\gamma v_t + \eta_t\, g_t)

      which is ``optax.sgd(learning_rate, momentum=momentum, nesterov=True)`` for a constant
      ``learning_rate``. Same algorithm, different point reported: the loss is measured at
      :math:`\phi_t`, not :math:`\theta_t`.

    Both modes keep :math:`v_t` in the same ``MomentumState``, so the state has one type under
    ``lax.scan``; use one mode for a whole run, since the parameters mean different points. A
    schedule gives step :math:`t` the size :math:`\eta_t = \text{schedule}(t - 1)` in both; the
    velocity keeps the sizes of past steps (see the module docstring).

    Args:
      learning_rate: step size :math:`\eta \ge 0`: a number, a JAX scalar or an optax schedule
        (default 0.01).
      momentum: momentum coefficient :math:`0 \le \gamma < 1` (default 0.9).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state ``MomentumState``.

    References:
      Nesterov, *A method for solving the convex programming problem with convergence rate
      O(1/k^2)*, 1983; Sutskever, Martens, Dahl & Hinton, *On the importance of initialization and
      momentum in deep learning*, 2013.
    """
    _check_learning_rate_and_momentum(learning_rate, momentum)

    def update_fn(
        updates: optax.Updates,
        state: MomentumState,
        params: optax.Params | None = None,
        *,
        grad_fn: GradFn | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, MomentumState]:
        del extra_args
        lr = learning_rate_at(learning_rate, state.count)
        if grad_fn is None:
            velocity = _heavy_ball(state.velocity, updates, lr, momentum)
            step = jax.tree.map(
                lambda v, g: -(momentum * v + lr * g).astype(v.dtype), velocity, updates
            )
        else:
            lookahead_grad = _lookahead_mean_gradient(
                "nesterov (with grad_fn)", grad_fn, params, state.velocity, momentum, points=1
            )
            velocity = _heavy_ball(state.velocity, lookahead_grad, lr, momentum)
            step = jax.tree.map(jnp.negative, velocity)
        return step, MomentumState(count=optax.safe_int32_increment(state.count), velocity=velocity)

    return optax.GradientTransformationExtraArgs(_init_velocity, update_fn)


@accepts_old_names("l2l", **_OLD_NAMES)
def smoothed_nesterov(
    learning_rate: Any = 0.01, momentum: Any = 0.9, points: int = 4
) -> optax.GradientTransformationExtraArgs:
    r"""Nesterov momentum whose look-ahead gradient is averaged along the momentum step.

    .. math::
      v_t = \gamma v_{t-1} + \eta_t\, \frac{1}{K} \sum_{k=1}^{K}
            \nabla f\!\left(\theta_{t-1} - \tfrac{k}{K} \gamma v_{t-1}\right), \qquad
      \Delta\theta_t = -v_t

    The :math:`K` points are evenly spaced on the segment from :math:`\theta_{t-1}` (excluded) to
    Nesterov's look-ahead point :math:`\theta_{t-1} - \gamma v_{t-1}` (included); :math:`K = 1` is
    exactly ``nesterov`` with ``grad_fn``. The optimizer evaluates these gradients itself, so
    ``update`` must be called as ``opt.update(grads, state, params, grad_fn=jax.grad(loss))``;
    ``grads`` is not used. Each step costs :math:`K` gradient evaluations. A schedule gives step
    :math:`t` the size :math:`\eta_t = \text{schedule}(t - 1)`; the look-ahead points do not depend
    on it, and the velocity keeps the sizes of past steps (see the module docstring).

    Args:
      learning_rate: step size :math:`\eta \ge 0`: a number, a JAX scalar or an optax schedule
        (default 0.01).
      momentum: momentum coefficient :math:`0 \le \gamma < 1` (default 0.9).
      points: number :math:`K \ge 1` of look-ahead points, a concrete Python int (default 4).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state ``MomentumState``.

    References:
      Nesterov, *A method for solving the convex programming problem with convergence rate
      O(1/k^2)*, 1983 (the case :math:`K = 1`).
    """
    _check_learning_rate_and_momentum(learning_rate, momentum)
    points = check_count("points", points, minimum=1)

    def update_fn(
        updates: optax.Updates,
        state: MomentumState,
        params: optax.Params | None = None,
        *,
        grad_fn: GradFn | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, MomentumState]:
        del extra_args
        lookahead_grad = _lookahead_mean_gradient(
            "smoothed_nesterov", grad_fn, params, state.velocity, momentum, points
        )
        lr = learning_rate_at(learning_rate, state.count)
        velocity = _heavy_ball(state.velocity, lookahead_grad, lr, momentum)
        new_state = MomentumState(count=optax.safe_int32_increment(state.count), velocity=velocity)
        return jax.tree.map(jnp.negative, velocity), new_state

    return optax.GradientTransformationExtraArgs(_init_velocity, update_fn)
