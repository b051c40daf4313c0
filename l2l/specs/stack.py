"""``kind: stack``: a hyperoptimizer stack (:func:`l2l.hyper.stack`), levels bottom first.

    {kind: stack, levels: [adam, sgd]}                                  # l2l.hyper's defaults
    {kind: stack, levels: [sgd, sgd], mode: run, discount: 0.99}       # whole-run hypergradients
    {kind: stack, levels: [{optimizer: adam, hyperparams: {learning_rate: 1.0e-3},
                            learn: [learning_rate, b1, b2], reparam: raw},
                           {optimizer: sgd, hyperparams: {learning_rate: 1.0e-5}}]}
    {kind: stack, levels: [{optimizer: adamw, hyperparams: {learning_rate: 1.0e-3},
                            learn: [learning_rate, weight_decay]}, sgd]}  # any optax factory

A level is a rule of ``l2l.hyper.RULES`` or any optax or optax.contrib factory by name
(``adamw``, ``lion``, ``contrib.muon``; a plain string for its defaults), its initial
hyperparameters (the factory's names), what it learns (``learn``; None: the step size) and how
(``reparam``). The values a sweep sets are the bottom level's initial ones
(``learning_rate``: the initial step size); ``levels`` sets every level's at once (a tuple of one
mapping per level), for runs whose every number is an argument. The top level learns nothing: a
``learn`` there is an error (:meth:`LevelSpec.fixed` is a level without one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import optax

from l2l import hyper
from l2l.config import field, to_dict
from l2l.optimizers import OPTIMIZERS
from l2l.optimizers._hyperparams import old_names, rename_deprecated
from l2l.specs.base import OptimizerSpec, StepSizeReader, register


@dataclasses.dataclass(frozen=True)
class LevelSpec:
    """One level of a stack: a rule of ``l2l.hyper.RULES`` or an optax or optax.contrib factory by
    name (``hyper.level``), its initial hyperparameters (the factory's names: ``learning_rate``,
    ``momentum``, ``b1``, ``weight_decay``, ...), what it learns (``learn: null`` for the rule's
    default set, the step size; ignored at the top of a stack) and how (``reparam``).

    The old names (``lr``, ``gamma``) are read with a ``DeprecationWarning`` and kept renamed."""

    optimizer: str
    hyperparams: dict[str, float] = field({})
    learn: tuple[str, ...] | None = None
    reparam: str | dict[str, str] = "auto"

    @classmethod
    def __from_string__(cls, text: str) -> dict:
        return {"optimizer": text}

    @classmethod
    def __normalize__(cls, data: dict, *, where: str) -> dict:
        """Old hyperparameter names, wherever a level names hyperparameters, renamed (warned)."""
        factory = OPTIMIZERS.get(str(data.get("optimizer")))
        renames = old_names(factory) if factory is not None else {}
        if not renames:
            return data
        who = f"{where} (level {data.get('optimizer')})"
        data = dict(data)
        if isinstance(data.get("hyperparams"), Mapping):
            data["hyperparams"] = rename_deprecated(data["hyperparams"], renames, who=who)
        if isinstance(data.get("reparam"), Mapping):
            data["reparam"] = rename_deprecated(data["reparam"], renames, who=who)
        if isinstance(data.get("learn"), (list, tuple)):
            learn = rename_deprecated(dict.fromkeys(data["learn"]), renames, who=who)
            data["learn"] = list(learn)
        return data

    def __post_init__(self) -> None:
        self.build()  # An unknown rule, hyperparameter or parameterization, or a bad value.

    def build(self, **values: Any) -> hyper.Level:
        """The ``hyper.Level``; ``values`` replace initial values (JAX arrays allowed)."""
        return hyper.level(
            self.optimizer,
            learn=self.learn,
            reparam=self.reparam,
            **{**self.hyperparams, **values},
        )

    def fixed(self) -> LevelSpec:
        """This level learning nothing (its rule and initial values only), as at the top of a
        stack, where nothing is learned."""
        return dataclasses.replace(self, learn=None, reparam="auto")


@register("stack")
@dataclasses.dataclass(frozen=True)
class StackSpec(OptimizerSpec):
    """``hyper.stack(*levels, mode=mode, discount=discount, guard=guard, rollback=rollback)``; one
    level is the plain rule, its hyperparameters readable like a stack's (``hyper.hyperparams``)."""

    kind: Literal["stack"] = "stack"
    levels: tuple[LevelSpec, ...] = ()
    mode: str = field("forward", help="forward (one-step), reverse, or run (whole-run)")
    discount: float = field(1.0, ge=0.0, le=1.0, help="mode run: the tangents' discount mu")
    guard: float | None = field(2.0, help="the divergence guard's growth ratio (null: off)")
    rollback: float | None = field(None, help="the loss guard's ratio (null: off), e.g. 2.0")
    label: str = ""

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("a stack needs at least one level (bottom first), e.g. [adam, sgd]")
        self.build()  # The levels fit together; mode, discount, guard, rollback valid.

    @property
    def display_label(self) -> str:
        return self.label or " / ".join(level.optimizer for level in self.levels)

    def build(self, **values: Any) -> optax.GradientTransformationExtraArgs:
        per_level = values.pop("levels", None) or [{}] * len(self.levels)
        per_level = [dict(v) for v in per_level]
        per_level[0].update(values)
        built = [level.build(**per_level[i]) for i, level in enumerate(self.levels)]
        return hyper.stack(
            *built,
            mode=self.mode,
            discount=self.discount,
            guard=self.guard,
            rollback=self.rollback,
        )

    def structure_data(self, traced: set[str]) -> dict:
        """Traced ``levels``: every level's numbers blanked (their names kept); other traced names
        are the bottom level's."""
        data = to_dict(self)
        data.pop("label")
        for i, level in enumerate(data["levels"]):
            blank = set(level["hyperparams"]) if "levels" in traced else traced if i == 0 else ()
            level["hyperparams"] = {
                k: None if k in blank else v for k, v in level["hyperparams"].items()
            }
        return data

    def bottom(self) -> hyper.Level:
        """The bottom level as it starts, its defaults by position filled in."""
        return self.levels[0].build().placed(upper=False)

    def arguments(self) -> dict[str, Any]:
        """The bottom level's initial hyperparameters (``learning_rate``: the initial step size)."""
        return dict(self.bottom().hyperparams)

    def step_size(self, values: dict[str, Any]) -> StepSizeReader | None:
        """The bottom level's step size as it is now (learned, below the top)."""
        del values
        return lambda opt_state: hyper.hyperparams(opt_state)[0]["learning_rate"]
