"""A mixture of tasks of any kinds trained side by side: task kind ``mix``.

One optimizee whose params are a tuple (one entry per member task) and whose loss is the *sum* of
the members' losses, each on its own instance and minibatch. The members share no parameters, so
each member's gradient is what it would be if trained alone; a per-parameter learned optimizer
updates each one as if alone, and meta-training on the mixture is meta-training on every member
at once (the meta-objective summed over members), e.g. Fashion-MNIST MLPs and conv nets together.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import jax
import jax.numpy as jnp
from flax import struct

from l2l.config import field
from l2l.tasks.base import TaskConfig, register


@struct.dataclass
class TaskMixture:
    """The sum of ``members``' losses; params, instances and minibatch keys are per member."""

    members: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("TaskMixture: members must hold at least one task")

    def sample(self, key: jax.Array) -> tuple:
        keys = jax.random.split(key, len(self.members))
        return tuple(m.sample(k) for m, k in zip(self.members, keys, strict=True))

    def init(self, key: jax.Array, instance: tuple | None = None) -> tuple:
        keys = jax.random.split(key, len(self.members))
        instances = instance if instance is not None else (None,) * len(self.members)
        return tuple(m.init(k, i) for m, k, i in zip(self.members, keys, instances, strict=True))

    def member_losses(self, params: tuple, instance: tuple | None, key: jax.Array) -> jax.Array:
        """(members,) losses, member i on the minibatch of ``fold_in(key, i)``."""
        instances = instance if instance is not None else (None,) * len(self.members)
        return jnp.stack(
            [
                m.loss(p, inst, jax.random.fold_in(key, i))
                for i, (m, p, inst) in enumerate(zip(self.members, params, instances, strict=True))
            ]
        )

    def loss(self, params: tuple, instance: tuple | None, key: jax.Array) -> jax.Array:
        return jnp.sum(self.member_losses(params, instance, key))


@register("mix")
@dataclasses.dataclass(frozen=True)
class MixConfig(TaskConfig):
    """``task: {kind: mix, members: [{kind: mlp, ...}, {kind: conv, ...}]}``: the members'
    losses summed (:class:`TaskMixture`); each member is a task section of its own kind."""

    kind: Literal["mix"] = "mix"
    members: tuple[TaskConfig, ...] = field(())

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("members: kind mix needs at least one task section")
        nested = [i for i, m in enumerate(self.members) if isinstance(m, MixConfig)]
        if nested:
            raise ValueError(f"members: a mix cannot hold a mix (member {nested[0]})")

    def with_split(self, split: str) -> MixConfig:
        return dataclasses.replace(self, members=tuple(m.with_split(split) for m in self.members))

    def build(self) -> TaskMixture:
        return TaskMixture(members=tuple(m.build() for m in self.members))
