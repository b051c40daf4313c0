"""A distribution of tasks to meta-train on: task kind ``distribution``.

Each meta-step draws one *member* (a task of any kind, with its own horizon and batch of
instances) by its weight and runs one truncation of it; every member keeps its own optimizees in
flight between its turns (:mod:`l2l.meta.distribution`). Members of different shapes (an 8x8 MLP,
a 14x14 MLP, a quadratic) are different programs: each is compiled once, the first time it is
drawn, and reused for every later meta-step that draws it. A general-purpose learned optimizer is
meta-trained on such a distribution (Metz et al., 2022, VeLO; Moudgil et al., 2025, Celo: tasks
of several families, sizes and activations, with task augmentation such as the random
reparameterization of kind ``random_reparam``).

A distribution is not a task: it has no loss of its own, and only meta-training reads it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from l2l.config import field
from l2l.tasks.base import TaskConfig, register
from l2l.tasks.quadratic import QuadraticConfig


@dataclasses.dataclass(frozen=True)
class MemberConfig:
    """One member of a distribution: its task, how often it is drawn (``weight``, relative to the
    others'), and its unroll (``horizon`` optimizee steps per instance and ``batch_size``
    instances per meta-step; None: the run's own)."""

    task: TaskConfig = field(QuadraticConfig())
    weight: float = field(1.0, gt=0)
    horizon: int | None = field(None, ge=1)
    batch_size: int | None = field(None, ge=1)


@dataclasses.dataclass(frozen=True)
class TaskDistribution:
    """The built members' tasks, weights and unrolls (what meta-training reads)."""

    tasks: tuple[Any, ...]
    members: tuple[MemberConfig, ...]

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("TaskDistribution: it needs at least one member")

    @property
    def weights(self) -> tuple[float, ...]:
        return tuple(m.weight for m in self.members)


@register("distribution")
@dataclasses.dataclass(frozen=True)
class DistributionConfig(TaskConfig):
    """``task: {kind: distribution, members: [{task: {kind: mlp, ...}, weight: 2, horizon:
    200}, ...]}``: meta-train on every member, one drawn per meta-step by weight
    (:class:`TaskDistribution`); only meta-training accepts it."""

    kind: Literal["distribution"] = "distribution"
    members: tuple[MemberConfig, ...] = field(())

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("members: kind distribution needs at least one member")
        nested = [i for i, m in enumerate(self.members) if isinstance(m.task, DistributionConfig)]
        if nested:
            raise ValueError(f"members: a distribution cannot hold one (member {nested[0]})")

    def with_split(self, split: str) -> DistributionConfig:
        return dataclasses.replace(
            self,
            members=tuple(
                dataclasses.replace(m, task=m.task.with_split(split)) for m in self.members
            ),
        )

    def build(self) -> TaskDistribution:  # type: ignore[override]
        return TaskDistribution(tuple(m.task.build() for m in self.members), self.members)
