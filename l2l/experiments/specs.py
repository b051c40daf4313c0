"""An optimizer named in an experiment's config: a classic one by name, or a saved learned one.

Shared by the response curves (:mod:`l2l.experiments.responses`) and the races on surfaces
(:mod:`l2l.experiments.surfaces`). An entry is a mapping with a ``kind``::

    {kind: classic, name: adam, hyperparams: {learning_rate: 0.25}, label: Adam}
    {kind: learned, path: runs/quadratic/optimizer.l2l, label: LSTM}   # a file or a zoo name

Each kind keeps its own fields; a later kind (a hyperoptimizer stack) adds its fields and a branch
in :meth:`OptimizerSpec.build`. Mistakes (an unknown name, a hyperparameter the optimizer does not
take, a missing file) are found when the config is loaded, and the message lists what is known.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Literal

import optax

from l2l import optimizers
from l2l.config import field

Number = int | float

_FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")

# How a hyperparameter is written in legends and titles (the symbols of l2l.optimizers' docs).
SYMBOLS = {
    "learning_rate": "η",
    "momentum": "γ",
    "decay": "γ",
    "rho": "ρ",
    "initial_delta": "D₀",
    "eps": "ε",
    "eps_root": "ε_root",
    "b1": "β₁",
    "b2": "β₂",
    "points": "K",
}


def format_hyperparams(hyperparams: dict[str, Any]) -> str:
    """``{'learning_rate': 0.25, 'momentum': 0.9}`` -> ``'η=0.25, γ=0.9'``."""
    return ", ".join(f"{SYMBOLS.get(k, k)}={v:g}" for k, v in hyperparams.items())


def check_file_name(what: str, name: str) -> None:
    """Refuses a name that would not make a plain file name (it names an output file)."""
    if not _FILE_NAME.match(name):
        raise ValueError(
            f'{what} {name!r} names an output file: use letters, digits, "_", "-" and "." only'
        )


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer of an experiment.

    ``kind: classic`` builds ``l2l.optimizers.make(name, **hyperparams)``; ``kind: learned`` loads
    a trained optimizer with ``l2l.learned.resolve(path)`` (a ``.l2l`` file, or a zoo name).
    ``label`` is its name in legends and in the JSON (default: the optimizer's name, or the file's
    stem).
    """

    kind: Literal["classic", "learned"] = "classic"
    name: str = ""
    hyperparams: dict[str, Number] = field({})
    path: str = ""
    label: str = ""

    def __post_init__(self):
        if self.kind == "classic":
            if not self.name:
                raise ValueError(
                    "a classic optimizer needs a name, one of: "
                    f"{', '.join(sorted(optimizers.OPTIMIZERS))}"
                )
            if self.path:
                raise ValueError("'path' is for kind: learned; a classic optimizer has a name")
            optimizers.make(self.name, **self.hyperparams)  # Names an unknown name/hyperparam.
        else:
            if not self.path:
                raise ValueError(
                    "a learned optimizer needs a 'path': a saved .l2l file or a zoo name"
                )
            if self.name or self.hyperparams:
                raise ValueError(
                    "a learned optimizer takes 'path' (and 'label'), not 'name' or 'hyperparams'"
                )
            self._resolve_learned()  # A missing or broken file is a config error, found now.

    @property
    def display_label(self) -> str:
        if self.label:
            return self.label
        return self.name if self.kind == "classic" else Path(self.path).stem

    def _resolve_learned(self):
        from l2l import learned

        try:
            return learned.resolve(self.path)
        except (OSError, KeyError, ValueError) as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            raise ValueError(f"learned optimizer {self.path!r}: {message}") from None

    def build(self, **sweep: Number) -> optax.GradientTransformationExtraArgs:
        """The optax transform; ``sweep`` hyperparameters override ``hyperparams`` (classic)."""
        if self.kind == "classic":
            return optimizers.make(self.name, **{**self.hyperparams, **sweep})
        if sweep:
            raise ValueError(f"a learned optimizer ({self.path}) has no hyperparameters to sweep")
        return self._resolve_learned().transform()
