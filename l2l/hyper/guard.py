r"""The divergence guard of a stack: a diverging trajectory is caught before it overflows.

Every level records the growth of its gradient's norm, :math:`r_t = \lVert g_t \rVert /
\lVert g_{t-1} \rVert` (1 before the second update). When the optimizee's gradient norm has grown
by more than a factor :math:`\rho` (``stack(guard=...)``, default 2) on two updates in a row,
:math:`r_{t-1} > \rho` and :math:`r_t > \rho` (a divergence, not a noisy minibatch), level 0's
learned step size is divided by the last growth ratio,

.. math::
  \alpha_t \leftarrow \alpha_t / r_t,

after the level above has stepped it, then kept in its parameterization's box. For SGD on a
quadratic with curvature :math:`\lambda` the gradient grows by :math:`r = |1 - \alpha\lambda|`
per step, so for :math:`\alpha\lambda \gg 1` the cut gives :math:`\alpha / r \approx 1 / \lambda`:
the secant estimate of the step size that stops the growth. Each cut is counted in
``LevelState.guarded`` (``l2l.hyper.guarded``).

**The loss guard** (``stack(rollback=...)``, off by default) catches what the gradient norm does
not: a step that makes the loss much worse without overflowing (a network whose units die, a
trajectory thrown out of its basin). It reads the loss at the parameters of each update (the
``value`` extra argument, as optax's line searches do) and keeps the last accepted point: the
parameters, and the stack's state before its update from there. The reference :math:`\bar L` is a
running mean of the accepted losses, :math:`\bar L \leftarrow 0.9 \bar L + 0.1 L_t`, started at the
first loss. The loss :math:`L_t` is accepted when it is finite and at most :math:`\rho_L \bar L`
(``rollback``, e.g. 2). On the second update in a row that is not accepted (one noisy minibatch is
not a failure), or at once when the loss is not finite, the stack **rolls back**: its update takes
the parameters back to the last accepted ones, its state is that point's state with level 0's
step size halved (kept there for the next rollback too), and it is counted in
``l2l.hyper.rolled_back``. From there the run goes on as if the failed steps had not been taken,
with half the step size. Memory: one copy of the parameters and one of the stack's state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from l2l.hyper import reparam as reparam_lib


def growth(grad_norm: jax.Array, previous_norm: jax.Array, count: jax.Array) -> jax.Array:
    r""":math:`r_t = \lVert g_t \rVert / \lVert g_{t-1} \rVert`; 1 before the second update
    (``count``, the updates made so far, is 0) or where the ratio is not finite."""
    ratio = grad_norm / jnp.where(previous_norm > 0, previous_norm, 1.0)
    return jnp.where((count > 0) & jnp.isfinite(ratio), ratio, 1.0)


def cut_step_size(
    raw: jax.Array,
    reparam: reparam_lib.Reparameterization,
    growth: jax.Array,
    previous_growth: jax.Array,
    limit: float,
) -> tuple[jax.Array, jax.Array]:
    r"""The raw value :math:`\phi` of a step size :math:`\alpha = T(\phi)`, with
    :math:`\alpha` divided by ``growth`` where the gradient grew by more than ``limit`` at this
    update and the one before; and whether it was cut."""
    fire = (growth > limit) & (previous_growth > limit)
    return jnp.where(fire, divide_step_size(raw, reparam, growth), raw), fire


def divide_step_size(
    raw: jax.Array, reparam: reparam_lib.Reparameterization, by: jax.Array | float
) -> jax.Array:
    r"""The raw value of :math:`\alpha / \text{by}`, kept in its parameterization's box."""
    cut = reparam.inverse(reparam.forward(raw) / by)
    return reparam_lib.project(reparam, jnp.asarray(cut, raw.dtype))


ROLLBACK_MEAN = 0.9  # The reference loss's running-mean factor.
ROLLBACK_CUT = 2.0  # What a rollback divides level 0's step size by.


def accepted(loss: jax.Array, reference: jax.Array, ratio: float) -> jax.Array:
    r"""Whether the loss guard accepts the loss :math:`L_t`: finite and at most
    :math:`\rho_L \bar L` (any finite loss when there is no reference yet: ``reference`` is not
    finite before the first update)."""
    return jnp.isfinite(loss) & ((loss <= ratio * reference) | ~jnp.isfinite(reference))


def running_reference(loss: jax.Array, reference: jax.Array) -> jax.Array:
    r""":math:`\bar L \leftarrow 0.9 \bar L + 0.1 L_t`, or :math:`L_t` for the first loss."""
    mean = ROLLBACK_MEAN * reference + (1.0 - ROLLBACK_MEAN) * loss
    return jnp.where(jnp.isfinite(reference), mean, loss)
