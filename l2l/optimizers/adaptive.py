r"""Per-coordinate adaptive step sizes: adagrad, rmsprop, adadelta, adam, adamax.

Notation: :math:`g_t` is the gradient handed to ``update`` at step :math:`t = 1, 2, \dots`,
:math:`\eta` (``learning_rate``) the step size; squares, square roots, ``max`` and divisions act
coordinate by coordinate, and the value returned by ``update`` is what gets *added* to the
parameters. The arguments carry optax's names (``learning_rate``, ``decay``, ``rho``, ``b1``,
``b2``, ``eps``, ``eps_root``); ``lr`` and ``gamma`` still work for one release, with a
``DeprecationWarning``.

``learning_rate`` is a number, a JAX scalar (traced ones too) or an optax schedule, a function of
the number of updates made so far: step :math:`t` uses :math:`\eta_t = \text{schedule}(t - 1)`, as
in optax. In every rule here :math:`\eta_t` only scales the step: no state carries it, so a changing
step size acts on the current step alone, exactly as in optax.

Where optax has exactly the rule (adagrad, rmsprop, adam) we call it, schedule included, and test
the equivalence; adadelta (optax has no :math:`D_0`) and adamax (optax puts :math:`\epsilon` inside
the max) are written here, with a step count in their state to evaluate a schedule.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from l2l.optimizers._hyperparams import (
    accepts_old_names,
    check_hyperparam,
    check_learning_rate,
    learning_rate_at,
)


def _check_decay(name: str, value: Any, *, allow_one: bool = False) -> None:
    check_hyperparam(name, value, low=0.0, high=1.0, high_inclusive=allow_one)


@accepts_old_names("l2l", lr="learning_rate")
def adagrad(learning_rate: Any = 0.01, eps: Any = 1e-8) -> optax.GradientTransformationExtraArgs:
    r"""Adagrad: steps scaled by the root of the sum of all squared gradients so far.

    .. math::
      G_t = G_{t-1} + g_t^2, \quad G_0 = 0, \qquad
      \Delta\theta_t = -\eta_t\, \frac{g_t}{\sqrt{G_t + \epsilon}}

    Args:
      learning_rate: step size :math:`\eta \ge 0`: a number, a JAX scalar or an optax schedule
        (default 0.01).
      eps: :math:`\epsilon \ge 0`, added inside the square root (default 1e-8).

    Returns:
      ``optax.adagrad(learning_rate, initial_accumulator_value=0.0, eps=eps)`` (optax returns a
      zero step where :math:`G_t = 0`, which is where :math:`g_t = 0` too, so the rules agree
      everywhere).

    References:
      Duchi, Hazan & Singer, *Adaptive Subgradient Methods for Online Learning and Stochastic
      Optimization*, JMLR 2011.
    """
    check_learning_rate(learning_rate)
    check_hyperparam("eps", eps, low=0.0)
    return optax.with_extra_args_support(
        optax.adagrad(learning_rate, initial_accumulator_value=0.0, eps=eps)
    )


@accepts_old_names("l2l", lr="learning_rate", gamma="decay")
def rmsprop(
    learning_rate: Any = 0.001, decay: Any = 0.9, eps: Any = 1e-8
) -> optax.GradientTransformationExtraArgs:
    r"""RMSProp: steps scaled by a running root-mean-square of the gradients.

    .. math::
      E_t = \gamma E_{t-1} + (1 - \gamma)\, g_t^2, \quad E_0 = 0, \qquad
      \Delta\theta_t = -\eta_t\, \frac{g_t}{\sqrt{E_t + \epsilon}}

    Args:
      learning_rate: step size :math:`\eta \ge 0`: a number, a JAX scalar or an optax schedule
        (default 0.001).
      decay: decay :math:`0 \le \gamma < 1` of the running average (default 0.9).
      eps: :math:`\epsilon \ge 0`, added inside the square root (default 1e-8).

    Returns:
      ``optax.rmsprop(learning_rate, decay=decay, eps=eps)`` (not centred, no momentum,
      :math:`\epsilon` inside the root).

    References:
      Tieleman & Hinton, *Lecture 6.5 - RMSProp*, COURSERA: Neural Networks for Machine Learning,
      2012.
    """
    check_learning_rate(learning_rate)
    _check_decay("decay", decay)
    check_hyperparam("eps", eps, low=0.0)
    return optax.with_extra_args_support(optax.rmsprop(learning_rate, decay=decay, eps=eps))


class AdadeltaState(NamedTuple):
    """State of ``adadelta``."""

    # t: updates made so far, shape (), int32 (a schedule is evaluated at it).
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in optax's states
    grad_sq_avg: optax.Updates  # E_t: running average of squared gradients, E_0 = 0.
    step_sq_avg: optax.Updates  # D_t: running average of squared steps, D_0 = initial_delta.


@accepts_old_names("l2l", gamma="rho", lr="learning_rate")
def adadelta(
    rho: Any = 0.9, eps: Any = 1e-6, initial_delta: Any = 0.0, learning_rate: Any = 1.0
) -> optax.GradientTransformationExtraArgs:
    r"""Adadelta: a step whose units match the parameters', from two running averages.

    .. math::
      E_t &= \rho E_{t-1} + (1 - \rho)\, g_t^2, \quad E_0 = 0 \\
      s_t &= \frac{\sqrt{D_{t-1} + \epsilon}}{\sqrt{E_t + \epsilon}}\, g_t \\
      D_t &= \rho D_{t-1} + (1 - \rho)\, s_t^2, \quad D_0 = \text{initial\_delta} \\
      \Delta\theta_t &= -\eta_t\, s_t

    With ``initial_delta=0`` (the "zero start") the first steps have size about
    :math:`\sqrt{\epsilon}` and grow from there; a large ``initial_delta`` (a "big start", e.g. 50)
    makes the first steps large instead. With ``initial_delta=0`` this is
    ``optax.adadelta(learning_rate, rho=rho, eps=eps)``, with a schedule too: :math:`D_t` averages
    the unscaled :math:`s_t`, so :math:`\eta_t = \text{schedule}(t - 1)` scales step :math:`t` only.

    The arguments keep Zeiler's order (``rho`` first, ``learning_rate`` last), unlike optax's.

    Args:
      rho: decay :math:`0 \le \rho < 1` of both running averages (default 0.9).
      eps: :math:`\epsilon > 0`, inside both square roots; from a zero start it also sets the
        size of the first steps (default 1e-6).
      initial_delta: :math:`D_0 \ge 0`, the running average of squared steps at the start
        (default 0.0).
      learning_rate: a global step-size factor :math:`\eta \ge 0`: a number, a JAX scalar or an
        optax schedule (default 1.0, Zeiler's rule).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state ``AdadeltaState``.

    References:
      Zeiler, *ADADELTA: An Adaptive Learning Rate Method*, arXiv:1212.5701, 2012.
    """
    _check_decay("rho", rho)
    check_hyperparam("eps", eps, low=0.0, low_inclusive=False)
    check_hyperparam("initial_delta", initial_delta, low=0.0)
    check_learning_rate(learning_rate)

    def init_fn(params: optax.Params) -> AdadeltaState:
        return AdadeltaState(
            count=jnp.zeros([], jnp.int32),
            grad_sq_avg=optax.tree.zeros_like(params),
            step_sq_avg=jax.tree.map(lambda p: jnp.full_like(p, initial_delta), params),
        )

    def update_fn(
        updates: optax.Updates,
        state: AdadeltaState,
        params: optax.Params | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, AdadeltaState]:
        del params, extra_args
        grad_sq_avg = jax.tree.map(
            lambda e, g: (rho * e + (1 - rho) * g**2).astype(e.dtype),
            state.grad_sq_avg,
            updates,
        )
        steps = jax.tree.map(
            lambda d, e, g: (jnp.sqrt(d + eps) / jnp.sqrt(e + eps) * g).astype(d.dtype),
            state.step_sq_avg,
            grad_sq_avg,
            updates,
        )
        step_sq_avg = jax.tree.map(
            lambda d, s: (rho * d + (1 - rho) * s**2).astype(d.dtype), state.step_sq_avg, steps
        )
        lr = learning_rate_at(learning_rate, state.count)
        new_updates = jax.tree.map(lambda s, g: (-lr * s).astype(g.dtype), steps, updates)
        new_state = AdadeltaState(
            count=optax.safe_int32_increment(state.count),
            grad_sq_avg=grad_sq_avg,
            step_sq_avg=step_sq_avg,
        )
        return new_updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@accepts_old_names("l2l", lr="learning_rate")
def adam(
    learning_rate: Any = 0.001,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Adam: bias-corrected running averages of the gradient and of its square.

    .. math::
      m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
      v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \quad m_0 = v_0 = 0 \\
      \hat m_t &= \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t} \\
      \Delta\theta_t &= -\eta_t\, \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}} + \epsilon}

    Args:
      learning_rate: step size :math:`\eta \ge 0`: a number, a JAX scalar or an optax schedule
        (default 0.001).
      b1: decay of the first moment, :math:`0 \le \beta_1 < 1` (default 0.9).
      b2: decay of the second moment, :math:`0 \le \beta_2 < 1` (default 0.999).
      eps: :math:`\epsilon \ge 0`, added outside the square root (default 1e-8).
      eps_root: :math:`\epsilon_{root} \ge 0`, added inside it (default 0.0; make it positive when
        differentiating through the update, where :math:`\sqrt{\cdot}` at 0 has an infinite slope).

    Returns:
      ``optax.adam(learning_rate, b1, b2, eps, eps_root)`` (state carries an int32 step count).

    References:
      Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015.

    Examples:
      The first step has the size ``learning_rate`` in every coordinate, whatever the gradient's:

      >>> import jax.numpy as jnp, l2l
      >>> opt = l2l.adam(learning_rate=0.1)
      >>> updates, state = opt.update(jnp.array([300.0, -0.02]), opt.init(jnp.zeros(2)))
      >>> [round(float(u), 4) for u in updates]
      [-0.1, 0.1]
    """
    check_learning_rate(learning_rate)
    _check_decay("b1", b1)
    _check_decay("b2", b2)
    check_hyperparam("eps", eps, low=0.0)
    check_hyperparam("eps_root", eps_root, low=0.0)
    return optax.with_extra_args_support(
        optax.adam(learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    )


class AdamaxState(NamedTuple):
    """State of ``adamax``."""

    # t: updates made so far, shape (), int32.
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in optax's states
    mu: optax.Updates  # m_t: running average of gradients, m_0 = 0.
    nu: optax.Updates  # u_t: decayed running maximum of |g|, u_0 = 0.


@accepts_old_names("l2l", lr="learning_rate")
def adamax(
    learning_rate: Any = 0.002, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8
) -> optax.GradientTransformationExtraArgs:
    r"""Adamax: Adam with the infinity norm in place of the second moment.

    .. math::
      m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
      u_t = \max(\beta_2 u_{t-1}, |g_t|), \quad m_0 = u_0 = 0 \\
      \Delta\theta_t &= -\frac{\eta_t}{1 - \beta_1^t}\, \frac{m_t}{u_t + \epsilon}

    ``optax.adamax`` instead computes :math:`u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon)` and
    divides by :math:`u_t`; the two agree only where :math:`\epsilon` is negligible next to
    :math:`|g|`. A schedule gives step :math:`t` the size :math:`\eta_t = \text{schedule}(t - 1)`,
    as optax's does.

    Args:
      learning_rate: step size :math:`\eta \ge 0`: a number, a JAX scalar or an optax schedule
        (default 0.002, the paper's).
      b1: decay of the first moment, :math:`0 \le \beta_1 < 1` (default 0.9).
      b2: decay of the running maximum, :math:`0 \le \beta_2 \le 1` (default 0.999).
      eps: :math:`\epsilon \ge 0`, added to the denominator (default 1e-8).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state ``AdamaxState``.

    References:
      Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015, Section 7.1.
    """
    check_learning_rate(learning_rate)
    _check_decay("b1", b1)
    _check_decay("b2", b2, allow_one=True)
    check_hyperparam("eps", eps, low=0.0)

    def init_fn(params: optax.Params) -> AdamaxState:
        return AdamaxState(
            count=jnp.zeros([], jnp.int32),
            mu=optax.tree.zeros_like(params),
            nu=optax.tree.zeros_like(params),
        )

    def update_fn(
        updates: optax.Updates,
        state: AdamaxState,
        params: optax.Params | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, AdamaxState]:
        del params, extra_args
        count = optax.safe_int32_increment(state.count)
        mu = jax.tree.map(lambda m, g: (b1 * m + (1 - b1) * g).astype(m.dtype), state.mu, updates)
        nu = jax.tree.map(
            lambda u, g: jnp.maximum(b2 * u, jnp.abs(g)).astype(u.dtype), state.nu, updates
        )
        step_size = learning_rate_at(learning_rate, state.count) / (1 - b1**count)
        new_updates = jax.tree.map(
            lambda m, u, g: (-step_size * m / (u + eps)).astype(g.dtype), mu, nu, updates
        )
        return new_updates, AdamaxState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
