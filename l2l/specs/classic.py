"""``kind: classic``: a hand-designed optimizer of :mod:`l2l.optimizers` by name."""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from typing import Any, Literal

import jax.numpy as jnp
import optax

from l2l import optimizers
from l2l.config import field
from l2l.optimizers._hyperparams import old_names
from l2l.specs.base import REQUIRED, OptimizerSpec, StepSizeReader, register

Number = int | float


@register("classic")
@dataclasses.dataclass(frozen=True)
class ClassicSpec(OptimizerSpec):
    """``{kind: classic, name: nesterov, hyperparams: {learning_rate: 0.01, momentum: 0.9}}``:
    ``l2l.optimizers.make(name, **hyperparams)``; ``label`` names it in tables and legends
    (default: ``name``). Hyperparameters take optax's names; the factory's defaults fill the rest.
    """

    kind: Literal["classic"] = "classic"
    name: str = ""
    hyperparams: dict[str, Number] = field({})
    label: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError(
                "a classic optimizer needs a name, one of: "
                f"{', '.join(sorted(optimizers.OPTIMIZERS))}"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.build()  # An unknown name or hyperparameter, or a bad value, fails now.

    @property
    def display_label(self) -> str:
        return self.label or self.name

    def build(self, **values: Any) -> optax.GradientTransformationExtraArgs:
        return optimizers.make(self.name, **{**self.hyperparams, **values})

    def arguments(self) -> dict[str, Any]:
        factory = optimizers.OPTIMIZERS[self.name]
        parameters = inspect.signature(factory).parameters
        renames = old_names(factory)  # old -> new
        out = {
            k: REQUIRED if p.default is inspect.Parameter.empty else p.default
            for k, p in parameters.items()
        }
        given = {renames.get(k, k): v for k, v in self.hyperparams.items()}
        return {**out, **{k: v for k, v in given.items() if k in out}}

    def step_size(self, values: dict[str, Any]) -> StepSizeReader | None:
        rate = {**self.arguments(), **values}.get("learning_rate")
        if rate is None or callable(rate) or (isinstance(rate, str) and rate == REQUIRED):
            return None
        return lambda opt_state: jnp.asarray(rate, jnp.float32)
