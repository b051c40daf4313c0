"""The optimizer spec: the one way a config names an optimizer, and the registry of its kinds.

A spec is a frozen config dataclass chosen by ``kind:`` (the config engine's :class:`Kinds`), with
one job: build the optax transform it describes, with some of its numbers given as (possibly
traced) values, so that a sweep compiles one program for a whole grid. Every spec answers:

- ``build(**values)``: the ``optax.GradientTransformationExtraArgs``; ``values`` override the
  numbers the config fixed (a swept ``learning_rate``, a JAX array under ``jit``);
- ``arguments()``: the numbers that may be set or swept, with their defaults (``REQUIRED`` where
  the optimizer has none);
- ``step_size(values)``: a reader of the step size of the last update from the optimizer state,
  where the optimizer has one (``None`` otherwise);
- ``eval_params(opt_state, params)``: the parameters a run is scored at (schedule-free optimizers
  score an average of the iterates);
- ``structure(traced)``: what fixes a compiled program when the numbers named in ``traced`` enter
  as arguments (a string: equal strings, one program).

A plain string is a spec too (``optimizer: adam``; :meth:`OptimizerSpec.__from_string__`): a rule
of :mod:`l2l.optimizers`, else a factory of ``optax`` or ``optax.contrib``, else a zoo name or an
``.l2l`` file.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection
from typing import Any, ClassVar

import jax
import optax

from l2l._errors import L2LError
from l2l.config import Kinds, to_dict


class SpecError(L2LError, ValueError):
    """A spec that names nothing runnable (an unknown name, a missing or corrupt file)."""


#: Every registered optimizer kind: kind name -> its spec class.
OPTIMIZER_KINDS = Kinds("optimizer")

#: An argument the optimizer cannot be built without (``arguments()``'s default for it).
REQUIRED = "<required>"

#: optimizer state -> the step size of the last update (a scalar).
StepSizeReader = Callable[[Any], jax.Array]


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """The base of every optimizer kind's spec; a section typed ``OptimizerSpec`` is built as the
    class registered under its ``kind`` (``classic`` when the section omits it)."""

    __kinds__: ClassVar[Kinds] = OPTIMIZER_KINDS

    kind: str = "classic"

    @classmethod
    def __from_string__(cls, text: str) -> dict:
        """``adam`` -> the spec of the rule, optax factory or trained optimizer it names."""
        from l2l import learned, optimizers
        from l2l._suggest import did_you_mean
        from l2l.specs.factories import find_factory, optax_names

        if text in optimizers.OPTIMIZERS:
            return {"kind": "classic", "name": text}
        if find_factory(text) is not None:
            return {"kind": "optax", "name": text}
        if learned.zoo.is_path(text) or text in learned.zoo_names():
            return {"kind": "learned", "path": text}
        known = [*optimizers.OPTIMIZERS, *optax_names(), *learned.zoo_names()]
        raise SpecError(
            f"{text!r} names no rule of l2l.optimizers, no optax or optax.contrib factory and no "
            f"trained optimizer of the zoo.{did_you_mean(text, known)}"
        )

    @property
    def display_label(self) -> str:
        """How tables and legends name this optimizer (its ``label``, else its name)."""
        raise NotImplementedError

    def build(self, **values: Any) -> optax.GradientTransformationExtraArgs:
        raise NotImplementedError(f"{type(self).__name__} does not say how to build its optimizer")

    def arguments(self) -> dict[str, Any]:
        """The numbers that may be set or swept, each with its value (``REQUIRED``: none)."""
        return {}

    def default(self, argument: str) -> float | None:
        """``argument``'s value when it is not given (None: the optimizer has none)."""
        value = self.arguments().get(argument)
        return None if value is None or value == REQUIRED else float(value)

    def step_size(self, values: dict[str, Any]) -> StepSizeReader | None:
        """A reader of the step size of the last update, for the optimizer built with ``values``."""
        del values
        return None

    def at_horizon(self, steps: int) -> OptimizerSpec:
        """This spec for runs of ``steps`` steps (a schedule over the horizon fills it in; every
        other spec is itself). The sweep runner calls it with each run's length."""
        del steps
        return self

    def eval_params(self, opt_state: Any, params: Any) -> Any:
        """The parameters a run is scored at (the iterate itself, for most optimizers)."""
        del opt_state
        return params

    def structure(self, traced: Collection[str] = ()) -> str:
        """What fixes the compiled program of this optimizer when the numbers named in ``traced``
        are arguments: the spec written out with those numbers (and its label) left blank."""
        return json.dumps(self.structure_data(set(traced)), sort_keys=True)

    def structure_data(self, traced: set[str]) -> dict:
        """:meth:`structure` as a mapping: the spec's fields, ``hyperparams[name]`` blanked for
        every traced name (a kind whose values go elsewhere says how)."""
        data = to_dict(self)
        data.pop("label", None)
        hyperparams = data.get("hyperparams")
        if isinstance(hyperparams, dict):
            data["hyperparams"] = {k: None if k in traced else v for k, v in hyperparams.items()}
        return data

    def check_arguments(self, names: Collection[str], *, what: str = "") -> None:
        """A one-line error for a name in ``names`` that this optimizer does not take."""
        from l2l._suggest import did_you_mean

        accepted = self.arguments()
        for name in names:
            if name not in accepted:
                raise ValueError(
                    f"{what or self.display_label} has no argument {name!r}."
                    f"{did_you_mean(name, accepted)} It accepts: {', '.join(accepted) or 'nothing'}"
                )


def register(kind: str) -> Callable[[type], type]:
    """Class decorator: register an :class:`OptimizerSpec` subclass as the spec of ``kind``."""

    def decorate(spec_class: type) -> type:
        if not (dataclasses.is_dataclass(spec_class) and issubclass(spec_class, OptimizerSpec)):
            raise TypeError(f"optimizer kind {kind!r}: {spec_class!r} is not an OptimizerSpec")
        return OPTIMIZER_KINDS.register(kind, spec_class)

    return decorate


def spec(value: OptimizerSpec | str | dict) -> OptimizerSpec:
    """An optimizer spec from a spec, a string (``"adam"``, ``"prodigy"``, ``"mnist-lstm"``) or a
    mapping as a config file writes it (``{"kind": "optax", "name": "lion"}``)."""
    from l2l.config import from_dict

    if isinstance(value, OptimizerSpec):
        return value
    return from_dict(OptimizerSpec, value, source="<spec>", prefix="optimizer")
