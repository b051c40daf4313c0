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
    cut = reparam_lib.project(
        reparam, jnp.asarray(reparam.inverse(reparam.forward(raw) / growth), raw.dtype)
    )
    return jnp.where(fire, cut, raw), fire
