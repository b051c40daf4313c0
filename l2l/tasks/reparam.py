r"""Reparameterized weights: any task whose parameters are stored divided by a scale, the task
augmentation of ``learned_optimization`` (``ReparamWeights``), and its task kind ``reparam``.

The optimizer sees and moves stored parameters :math:`\tilde\theta = \theta / s`; the task's
network uses :math:`\theta = s \tilde\theta`:

.. math::  \tilde f(\tilde\theta) = f(s \tilde\theta),\qquad
           \nabla \tilde f(\tilde\theta) = s\, \nabla f(s \tilde\theta).

The loss landscape is the same function in new coordinates: gradients grow by :math:`s`, and a
step of size :math:`\alpha` on :math:`\tilde\theta` moves :math:`\theta` by :math:`s^2 \alpha`
times the gradient for SGD, :math:`s \alpha` for a scale-free rule such as Adam. An optimizer that
relies on the usual scale of weights (a learned one trained on initial weights near 0.1, or a
default step size) meets parameters 100 times smaller than it expects and gradients 100 times
larger (``scale: 100``).

With kind ``random_reparam`` every instance draws its own scale, log-uniform in [low, high]
(:class:`RandomReparamTask`; the instance is the inner instance and :math:`\log s`): the
augmentation that teaches a learned optimizer not to rely on the scale of the weights.

Reference: Metz et al., 2022, "VeLO: Training Versatile Learned Optimizers by Scaling Up",
appendix (task augmentations: reparameterized weights).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import jax
import jax.numpy as jnp
from flax import struct

from l2l.config import field
from l2l.tasks.base import TaskConfig, register
from l2l.tasks.quadratic import QuadraticConfig


@struct.dataclass
class ReparamTask:
    """``task`` with its parameters stored divided by ``scale`` (see the module docstring)."""

    task: Any
    scale: float = struct.field(pytree_node=False, default=100.0)

    def sample(self, key: jax.Array) -> Any:
        return self.task.sample(key)

    def init(self, key: jax.Array, instance: Any = None) -> Any:
        return jax.tree.map(lambda p: p / self.scale, self.task.init(key, instance))

    def unwrap(self, params: Any) -> tuple[Any, Any]:
        """The task underneath and the parameters its network uses (``scale`` times these)."""
        return self.task, jax.tree.map(lambda p: p * self.scale, params)

    def loss(self, params: Any, instance: Any, key: jax.Array) -> jax.Array:
        task, inner = self.unwrap(params)
        return task.loss(inner, instance, key)


@struct.dataclass
class RandomReparamTask:
    """``task`` with its parameters stored divided by a scale drawn per instance, log-uniform in
    [``low``, ``high``]; the instance is ``(inner instance, log scale)``."""

    task: Any
    low: float = struct.field(pytree_node=False, default=0.01)
    high: float = struct.field(pytree_node=False, default=100.0)

    def sample(self, key: jax.Array) -> tuple[Any, jax.Array]:
        inner_key, scale_key = jax.random.split(key)
        log_scale = jax.random.uniform(
            scale_key, (), minval=jnp.log(self.low), maxval=jnp.log(self.high)
        )
        return self.task.sample(inner_key), log_scale

    def init(self, key: jax.Array, instance: tuple[Any, jax.Array]) -> Any:
        inner, log_scale = instance
        scale = jnp.exp(log_scale)
        return jax.tree.map(lambda p: p / scale.astype(p.dtype), self.task.init(key, inner))

    def loss(self, params: Any, instance: tuple[Any, jax.Array], key: jax.Array) -> jax.Array:
        inner, log_scale = instance
        scale = jnp.exp(log_scale)
        return self.task.loss(jax.tree.map(lambda p: p * scale.astype(p.dtype), params), inner, key)


@register("reparam")
@dataclasses.dataclass(frozen=True)
class ReparamConfig(TaskConfig):
    """``task: {kind: reparam, scale: 100, task: {kind: mlp, ...}}``: ``task`` with its parameters
    stored divided by ``scale`` (:class:`ReparamTask`); ``task`` is any task section (default:
    the paper's 10-d quadratics)."""

    kind: Literal["reparam"] = "reparam"
    scale: float = field(100.0, gt=0, help="the network uses scale x the stored parameters")
    task: TaskConfig = field(QuadraticConfig())

    def with_split(self, split: str) -> ReparamConfig:
        return dataclasses.replace(self, task=self.task.with_split(split))

    def build(self) -> ReparamTask:
        return ReparamTask(task=self.task.build(), scale=self.scale)


@register("random_reparam")
@dataclasses.dataclass(frozen=True)
class RandomReparamConfig(TaskConfig):
    """``task: {kind: random_reparam, low: 0.01, high: 100, task: {kind: mlp, ...}}``: ``task``
    with its parameters stored divided by a scale drawn per instance, log-uniform in [low, high]
    (:class:`RandomReparamTask`): learned_optimization's task augmentation."""

    kind: Literal["random_reparam"] = "random_reparam"
    low: float = field(0.01, gt=0, help="the smallest scale")
    high: float = field(100.0, gt=0, help="the largest scale")
    task: TaskConfig = field(QuadraticConfig())

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must be at most high ({self.high})")

    def with_split(self, split: str) -> RandomReparamConfig:
        return dataclasses.replace(self, task=self.task.with_split(split))

    def build(self) -> RandomReparamTask:
        return RandomReparamTask(task=self.task.build(), low=self.low, high=self.high)
