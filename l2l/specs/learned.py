"""``kind: learned``: a trained optimizer, by zoo name or ``.l2l`` file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import jax
import optax

from l2l import learned
from l2l._streams import stream_key
from l2l.config import to_dict
from l2l.specs.base import OptimizerSpec, SpecError, register


@register("learned")
@dataclasses.dataclass(frozen=True)
class LearnedSpec(OptimizerSpec):
    """``{kind: learned, path: mnist-lstm}``: a trained optimizer (``l2l.learned.resolve``: a zoo
    name or a ``.l2l`` file); ``label`` names it in tables (default: the zoo name or the file's
    stem). Its weights may be given as the value ``meta_params`` (a sweep over trained weights
    compiles once); it has no hyperparameters to set.

    ``untrained: true`` is its control: the same architecture at the weights its meta-training
    started from (``init_meta_params`` of the key meta-training drew them from, the seed of the
    config stored with it), so a row of the trained optimizer can be read against what
    meta-training added."""

    kind: Literal["learned"] = "learned"
    path: str = ""
    label: str = ""
    untrained: bool = False

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("a learned optimizer needs a 'path': a saved .l2l file or a zoo name")
        self.trained()  # A missing or broken file, or an unknown zoo name, fails now.

    def trained(self) -> learned.TrainedOptimizer:
        """The trained optimizer: its weights, architecture config and info."""
        try:
            return learned.resolve(self.path)
        except (OSError, KeyError, ValueError) as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            raise SpecError(f"learned optimizer {self.path!r}: {message}") from None

    @property
    def display_label(self) -> str:
        if self.label:
            return self.label
        name = Path(self.path).stem if self.path.endswith(".l2l") else self.path
        return f"{name} (untrained)" if self.untrained else name

    def initial_meta_params(self) -> Any:
        """The weights meta-training of this optimizer started from (see ``untrained``): drawn
        from the key of meta-training's key tree of the time (the file's ``key_tree``; files
        without it predate the separate streams and drew them from ``fold_in(key(seed), 0)``)."""
        trained = self.trained()
        stored = trained.info.get("config")
        seed = stored.get("seed", 0) if isinstance(stored, dict) else 0
        if trained.info.get("key_tree", 1) == 1:
            key = jax.random.fold_in(jax.random.key(seed), 0)
        else:
            key = stream_key(seed, "meta_init")
        return trained.config.init_meta_params(key)

    def build(self, **values: Any) -> optax.GradientTransformationExtraArgs:
        trained = self.trained()
        unknown = set(values) - {"meta_params"}
        if unknown:
            raise ValueError(
                f"a learned optimizer ({self.path}) has no hyperparameters to set or sweep; got "
                f"{sorted(unknown)}"
            )
        weights = self.initial_meta_params() if self.untrained else trained.meta_params
        return trained.config.optimizer(values.get("meta_params", weights))

    def structure_data(self, traced: set[str]) -> dict:
        """With its weights traced, a learned optimizer's program is fixed by its architecture:
        every trained optimizer of one architecture shares it."""
        if "meta_params" in traced:
            return {"architecture": to_dict(self.trained().config)}
        return super().structure_data(traced)
