"""Separable quadratics f(x) = sum_i (s_i x_i)^2: the "zero machine" test of scale invariance.

The minimum is f = 0 at x = 0; an optimizer that reaches float32's smallest normal number
(~1.18e-38) in a few steps must shrink f by orders of magnitude per step, at every scale.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from l2l.config import field
from l2l.tasks.base import TaskConfig, register


class SeparableQuadraticInstance(NamedTuple):
    """One random problem."""

    s: jax.Array  # (dim,) per-coordinate scales; the curvature of coordinate i is 2 s_i^2.


@struct.dataclass
class SeparableQuadratic:
    """The task family f(x) = sum_i (s_i x_i)^2 with s_i ~ U[scale_low, scale_high] and
    x_0 ~ U[-init_scale, init_scale]^dim (the zero-machine problem: dim 2, s ~ U[0.5, 1.5],
    x_0 ~ U[-1, 1]^2). The loss is deterministic, so the ``key`` of :meth:`loss` is ignored.
    """

    dim: int = struct.field(pytree_node=False, default=2)
    scale_low: float = struct.field(pytree_node=False, default=0.5)
    scale_high: float = struct.field(pytree_node=False, default=1.5)
    init_scale: float = struct.field(pytree_node=False, default=1.0)

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(
                f"SeparableQuadratic: dim must be a positive integer, got {self.dim!r}"
            )
        if not 0 < self.scale_low <= self.scale_high:
            raise ValueError(
                "SeparableQuadratic: need 0 < scale_low <= scale_high, got "
                f"scale_low={self.scale_low!r}, scale_high={self.scale_high!r}"
            )
        if not self.init_scale > 0:
            raise ValueError(f"SeparableQuadratic: init_scale must be > 0, got {self.init_scale!r}")

    def sample(self, key: jax.Array) -> SeparableQuadraticInstance:
        s = jax.random.uniform(key, (self.dim,), minval=self.scale_low, maxval=self.scale_high)
        return SeparableQuadraticInstance(s=s)

    def init(self, key: jax.Array, instance: SeparableQuadraticInstance) -> jax.Array:
        del instance
        return jax.random.uniform(key, (self.dim,), minval=-self.init_scale, maxval=self.init_scale)

    def loss(
        self,
        params: jax.Array,
        instance: SeparableQuadraticInstance,
        key: jax.Array | None = None,
    ) -> jax.Array:
        del key
        return jnp.sum((instance.s * params) ** 2)


@register("separable_quadratic")
@dataclasses.dataclass(frozen=True)
class SeparableQuadraticConfig(TaskConfig):
    """``task: {kind: separable_quadratic}``: sum_i (s_i x_i)^2 (:class:`SeparableQuadratic`);
    the defaults are the zero-machine problem."""

    kind: Literal["separable_quadratic"] = "separable_quadratic"
    dim: int = field(2, ge=1)
    scale_low: float = field(0.5, gt=0)
    scale_high: float = field(1.5, gt=0)
    init_scale: float = field(1.0, gt=0)

    def __post_init__(self) -> None:
        if self.scale_high < self.scale_low:
            raise ValueError(
                f"scale_high ({self.scale_high}) is below scale_low ({self.scale_low})"
            )

    def build(self) -> SeparableQuadratic:
        return SeparableQuadratic(
            dim=self.dim,
            scale_low=self.scale_low,
            scale_high=self.scale_high,
            init_scale=self.init_scale,
        )
