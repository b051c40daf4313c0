"""An optimizer from bad starts: a spec, the argument its starts set, and what they multiply.

A robustness study runs an optimizer (any spec, :mod:`l2l.specs`) from its defaults and from
*starts*: one argument (``sweep``, e.g. ``learning_rate`` or Prodigy's ``estim_lr0``) set to
``m x reference`` for several multipliers ``m``, the reference being a tuned step size (of plain
SGD or Adam) or the argument's own default. :class:`ContenderConfig` says which argument and
which reference; the study says which multipliers.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Literal

import optax

from l2l.specs import OptimizerSpec, StackSpec

#: The plain optimizers a contender's starts may refer to: their tuned step sizes.
TUNED = ("sgd", "adam")

#: How l2l 0.2's contenders named their optimizers (``optimizer: mechanic_adam``, ...): the spec
#: each name stands for now.
_OLD_OPTIMIZERS = {
    "mechanic_adam": {
        "kind": "optax",
        "name": "mechanize",
        "base": {"kind": "optax", "name": "adam", "hyperparams": {"learning_rate": 1.0}},
    },
}


@dataclasses.dataclass(frozen=True)
class ContenderConfig:
    """One contender: its ``optimizer`` (any optimizer spec) and the argument ``sweep`` that the bad
    starts set to ``multiplier x reference``: ``reference`` is the tuned step size of plain
    ``sgd`` or ``adam``, or the argument's ``default`` (``auto``: the tuned step size of the
    optimizer itself, or of a stack's bottom rule, where that is SGD or Adam and the swept argument
    its step size; else the default). ``sweep: null``: the defaults only. For a stack, ``sweep``
    is ``learning_rate`` (the bottom's initial step size).

    The layout of l2l 0.2 (``optimizer: prodigy, hyperparams: {...}`` or ``stack: [adam, sgd],
    mode: run, discount: 0.99``) is still read, with a ``DeprecationWarning``; it goes in l2l 0.4.
    """

    name: str
    optimizer: OptimizerSpec
    sweep: str | None = "learning_rate"
    reference: Literal["auto", "sgd", "adam", "default"] = "auto"

    @classmethod
    def __normalize__(cls, data: dict, *, where: str) -> dict:
        old = {"stack", "mode", "discount", "hyperparams"} & set(data)
        name = data.get("optimizer")
        if not old and not (isinstance(name, str) and name in _OLD_OPTIMIZERS):
            return data
        warnings.warn(
            f"{where}: a contender's {', '.join(sorted(old)) or 'optimizer name'} is l2l 0.2's "
            "layout; name its optimizer by a spec, e.g. `optimizer: {kind: stack, levels: [adam, "
            "sgd], mode: run, discount: 0.99}` or `optimizer: {kind: optax, name: prodigy, "
            "hyperparams: {...}}`",
            DeprecationWarning,
            stacklevel=4,
        )
        data = dict(data)
        hyperparams = data.pop("hyperparams", {})
        mode, discount = data.pop("mode", "forward"), data.pop("discount", 0.99)
        if "stack" in data:
            rules = data.pop("stack")
            levels = [{"optimizer": rule} for rule in rules]
            if levels and hyperparams:
                levels[0]["hyperparams"] = hyperparams
            spec = {"kind": "stack", "levels": levels, "mode": mode}
            if mode == "run":
                spec["discount"] = discount
        else:
            name = data.get("optimizer")
            spec = _OLD_OPTIMIZERS.get(name, {"kind": "optax", "name": name})
            spec = {**spec, "hyperparams": {**spec.get("hyperparams", {}), **hyperparams}}
        return {**data, "optimizer": spec}

    def __post_init__(self):
        what = f"contender {self.name!r}"
        spec = self.optimizer
        if isinstance(spec, StackSpec):
            if len(spec.levels) < 2:
                raise ValueError(
                    f"{what}: a stack needs two levels or more (one level is the plain optimizer)"
                )
            if self.sweep not in (None, "learning_rate"):
                raise ValueError(
                    f"{what}: a stack sweeps its bottom's initial `learning_rate`, not "
                    f"{self.sweep!r}"
                )
        if self.sweep is None:
            return
        spec.check_arguments([self.sweep], what=f"{what}: {spec.display_label}")
        # A stack's bottom `learning_rate` is its default start (a factory without a default
        # step size, such as optax.adamw, needs one there); a starting value replaces it.
        fixed = {} if isinstance(spec, StackSpec) else getattr(spec, "hyperparams", {})
        if self.sweep in fixed:
            raise ValueError(
                f"{what}: {self.sweep!r} is swept, so it cannot also be fixed in `hyperparams`"
            )
        if self.source == "default" and self.default_value() is None:
            raise ValueError(
                f"{what}: reference 'default' needs a default value of {self.sweep!r}, which has "
                "none; use reference sgd or adam"
            )
        self.build(self.reference_value({"sgd": 0.01, "adam": 1e-3}))  # Checks the values.

    @property
    def rule(self) -> str:
        """The optimizer's rule or factory (a stack's: its bottom level's)."""
        spec = self.optimizer
        if isinstance(spec, StackSpec):
            return spec.levels[0].optimizer
        return getattr(spec, "name", "") or spec.display_label

    @property
    def source(self) -> str:
        """What ``reference`` resolves to: ``auto`` is the tuned step size of a plain SGD or Adam
        (of a stack's bottom rule, when SGD or Adam), else the swept argument's default."""
        if self.reference != "auto":
            return self.reference
        plain_or_stack = self.family in ("plain", "stack")
        swept_rate = self.sweep == "learning_rate"
        return self.rule if plain_or_stack and self.rule in TUNED and swept_rate else "default"

    @property
    def family(self) -> str:
        """``stack``, ``plain`` (SGD or Adam), ``learned`` or ``parameter-free``."""
        if isinstance(self.optimizer, StackSpec):
            return "stack"
        if self.optimizer.kind == "learned":
            return "learned"
        plain = self.optimizer.kind in ("classic", "optax") and self.rule in TUNED
        return "plain" if plain else "parameter-free"

    def default_value(self) -> float | None:
        """The swept argument's default (None: the optimizer has none; it is then not passed)."""
        return None if self.sweep is None else self.optimizer.default(self.sweep)

    def reference_value(self, tuned: dict[str, float]) -> float | None:
        """What the multipliers multiply: a tuned step size or the argument's default."""
        if self.sweep is None:
            return None
        return self.default_value() if self.source == "default" else tuned[self.source]

    def values(self, value: Any) -> dict[str, Any]:
        """The swept argument set to ``value`` (None: not passed, the optimizer's default)."""
        return {} if value is None or self.sweep is None else {self.sweep: value}

    def build(self, value: Any) -> optax.GradientTransformationExtraArgs:
        """The optimizer with the swept argument set to ``value`` (None: its default)."""
        return self.optimizer.build(**self.values(value))


def tuned_adam(contenders: tuple[ContenderConfig, ...]) -> ContenderConfig | None:
    """The contender whose m = 1 start is tuned Adam (plain Adam swept from its tuned step size),
    the reference of every gap."""
    for c in contenders:
        plain = c.family == "plain" and c.rule == "adam" and not c.optimizer.hyperparams
        if plain and c.sweep == "learning_rate" and c.source == "adam":
            return c
    return None
