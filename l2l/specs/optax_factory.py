"""``kind: optax``: any factory of ``optax`` or ``optax.contrib`` by name, with its arguments.

    {kind: optax, name: adamw, hyperparams: {learning_rate: 1.0e-3, weight_decay: 0.01}}
    {kind: optax, name: prodigy, hyperparams: {estim_lr0: 1.0e-6}}      # optax.contrib.prodigy
    {kind: optax, name: mechanize, base: {kind: optax, name: adam, hyperparams: {learning_rate: 1}}}

The name is looked up in ``optax``, then in ``optax.contrib`` (``contrib.NAME`` picks the latter).
Arguments take the factory's own names and defaults; where a factory has no default for
``learning_rate`` (``optax.adam``), the default of the rule of the same name in
:mod:`l2l.optimizers` stands in (Adam's 1e-3, SGD's 0.01), so every run from "its defaults" is
defined. Tuple arguments have flat spellings, so each number can be set or swept on its own:
``b1``/``b2`` for ``betas`` (Prodigy, D-Adaptation), and for DoG's ``init_step``
``reps_rel`` (``('heuristic', value)``, the default), ``init_learning_rate``
(``('learning_rate', value)``) or ``init_distance`` (``('distance', value)``). A wrapper whose
first argument is ``base_optimizer`` (``mechanize``) takes that optimizer as ``base:``, any spec;
a value the wrapper does not take goes to its base.

The step size of the last update (:meth:`OptaxSpec.step_size`) is read where the optimizer has
one: a fixed ``learning_rate`` of a top-level optax factory or of schedule-free AdamW; Prodigy's and
D-Adaptation's ``learning_rate`` x the estimate d; DoG's
:math:`\\max_k \\lVert x_k - x_0 \\rVert / \\sqrt{\\sum_k \\lVert g_k \\rVert^2}`; Mechanic's
base step size x the sum of its learned scales. Schedule-free optimizers are scored at their
averaged point (``optax.contrib.schedule_free_eval_params``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax

from l2l import optimizers
from l2l._suggest import did_you_mean
from l2l._tree import find_node
from l2l.config import field
from l2l.specs.base import REQUIRED, OptimizerSpec, StepSizeReader, register
from l2l.specs.factories import find_factory, optax_names

#: The argument through which a wrapper takes the optimizer it wraps.
BASE_ARGUMENT = "base_optimizer"


def _is_contrib(name: str) -> bool:
    return name.startswith("contrib.") or not inspect.isfunction(getattr(optax, name, None))


def _betas(defaults: dict) -> tuple[dict, Callable[[dict], dict]]:
    """``betas=(b1, b2)`` spelled ``b1``, ``b2``."""
    b1, b2 = defaults["betas"]
    flat = {"b1": b1, "b2": b2}

    def fold(values: dict) -> dict:
        values = dict(values)
        if "b1" in values or "b2" in values:
            values["betas"] = (values.pop("b1", b1), values.pop("b2", b2))
        return values

    return flat, fold


_INIT_STEPS = {"reps_rel": "heuristic", "init_learning_rate": "learning_rate"}
_INIT_STEPS["init_distance"] = "distance"


def _init_step(defaults: dict) -> tuple[dict, Callable[[dict], dict]]:
    """DoG's ``init_step=(how, value)`` spelled ``reps_rel``, ``init_learning_rate`` or
    ``init_distance``."""
    how, value = defaults["init_step"]
    flat = {name: (value if kind == how else None) for name, kind in _INIT_STEPS.items()}

    def fold(values: dict) -> dict:
        values = dict(values)
        given = [name for name in _INIT_STEPS if name in values]
        if len(given) > 1:
            raise ValueError(f"DoG's init_step is one of {', '.join(_INIT_STEPS)}; got {given}")
        if given:
            values["init_step"] = (_INIT_STEPS[given[0]], values.pop(given[0]))
        return values

    return flat, fold


#: Tuple arguments and their flat spellings: argument -> (defaults -> (flat defaults, folder)).
FLAT_SPELLINGS = {"betas": _betas, "init_step": _init_step}


def _fixed_rate(values: dict) -> StepSizeReader:
    return lambda opt_state: jnp.asarray(values["learning_rate"], jnp.float32)


def _times_estimate(state_type: type) -> Callable[[dict], StepSizeReader]:
    """Prodigy's and D-Adaptation's step size: ``learning_rate`` x the estimate d."""
    return lambda values: (
        lambda opt_state: values["learning_rate"] * find_node(opt_state, state_type).estim_lr
    )


def _dog(values: dict) -> StepSizeReader:
    def read(opt_state: Any) -> jax.Array:
        dog = find_node(opt_state, optax.contrib.DoGState)
        return (
            values["learning_rate"] * dog.max_dist / jnp.sqrt(dog.sum_sq_norm_grads + values["eps"])
        )

    return read


def _mechanic(values: dict) -> StepSizeReader:
    """The base optimizer's step size times Mechanic's learned scale, the sum of its s."""
    return lambda opt_state: (
        values["learning_rate"] * jnp.sum(find_node(opt_state, optax.contrib.MechanicState).s)
    )


#: optax.contrib factories whose step size can be read from their state.
CONTRIB_STEP_SIZES: dict[str, Callable[[dict], StepSizeReader]] = {
    "prodigy": _times_estimate(optax.contrib.ProdigyState),
    "dadapt_adamw": _times_estimate(optax.contrib.DAdaptAdamWState),
    "dog": _dog,
    "mechanize": _mechanic,
    "schedule_free_adamw": _fixed_rate,
}

#: Factories scored at another point than their iterate.
EVAL_PARAMS = {
    "schedule_free_adamw": optax.contrib.schedule_free_eval_params,
    "schedule_free": optax.contrib.schedule_free_eval_params,
}


@register("optax")
@dataclasses.dataclass(frozen=True)
class OptaxSpec(OptimizerSpec):
    """An optax or optax.contrib factory: ``name``, its arguments ``hyperparams`` (optax's names,
    or the flat spellings above), ``base`` for a wrapper, ``label`` for tables and legends."""

    kind: Literal["optax"] = "optax"
    name: str = ""
    hyperparams: dict[str, Any] = field({})
    base: OptimizerSpec | None = None
    label: str = ""

    def __post_init__(self) -> None:
        factory = find_factory(self.name)
        if factory is None:
            raise ValueError(
                f"no optax or optax.contrib factory named {self.name!r}."
                f"{did_you_mean(self.name, optax_names())}"
            )
        wraps = BASE_ARGUMENT in self._parameters()
        if wraps and self.base is None:
            raise ValueError(f"optax.contrib.{self.name} wraps an optimizer: give it as `base:`")
        if self.base is not None and not wraps:
            raise ValueError(f"{self.name} wraps no optimizer, so it takes no `base:`")
        self.check_arguments(self.hyperparams, what=f"optax's {self.name}")
        required = {k: 1.0 for k, v in self.arguments().items() if _is_required(v)}
        self.build(**required)  # A bad value fails now (a required number is swept later).

    # ------------------------------------------------------------------ arguments

    def _factory(self) -> Callable[..., Any]:
        factory = find_factory(self.name)
        assert factory is not None
        return factory

    def _parameters(self) -> dict[str, Any]:
        """The factory's arguments with their defaults (``REQUIRED`` where it has none; for a
        ``learning_rate`` without one, the default of the l2l rule of the same name)."""
        out = {}
        for key, p in inspect.signature(self._factory()).parameters.items():
            out[key] = REQUIRED if p.default is inspect.Parameter.empty else p.default
        stand_in = self._stand_in_rate()
        if stand_in is not None:
            out["learning_rate"] = stand_in
        return out

    def _stand_in_rate(self) -> float | None:
        """l2l's default step size where the optax factory has none (``optax.adam``: 1e-3)."""
        parameters = inspect.signature(self._factory()).parameters
        rate = parameters.get("learning_rate")
        rule = optimizers.OPTIMIZERS.get(self.name)
        if rate is None or rate.default is not inspect.Parameter.empty or rule is None:
            return None
        return inspect.signature(rule).parameters["learning_rate"].default

    def _own(self) -> tuple[dict[str, Any], list[Callable[[dict], dict]]]:
        """This factory's settable numbers (flat spellings unfolded) and the folders back."""
        own, folders = {}, []
        for key, default in self._parameters().items():
            if key == BASE_ARGUMENT:
                continue
            if key in FLAT_SPELLINGS and isinstance(default, tuple):
                flat, fold = FLAT_SPELLINGS[key](self._parameters())
                own.update(flat)
                folders.append(fold)
            else:
                own[key] = default
        return own, folders

    def arguments(self) -> dict[str, Any]:
        own, _ = self._own()
        own = {**own, **{k: v for k, v in self.hyperparams.items() if k in own}}
        if self.base is None:
            return own
        return {**self.base.arguments(), **own}

    def _split(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``values`` -> (this factory's, its base's): a name the wrapper lacks goes down."""
        own, _ = self._own()
        return (
            {k: v for k, v in values.items() if k in own},
            {k: v for k, v in values.items() if k not in own},
        )

    # ------------------------------------------------------------------ the optimizer

    def build(self, **values: Any) -> optax.GradientTransformationExtraArgs:
        mine, theirs = self._split({**self.hyperparams, **values})
        _, folders = self._own()
        for fold in folders:
            mine = fold(mine)
        mine = {k: tuple(v) if isinstance(v, list) else v for k, v in mine.items()}
        stand_in = self._stand_in_rate()
        if stand_in is not None:
            mine.setdefault("learning_rate", stand_in)
        if self.base is not None:
            mine[BASE_ARGUMENT] = self.base.build(**theirs)
        elif theirs:
            self.check_arguments(theirs, what=f"optax's {self.name}")
        required = [k for k, v in self._parameters().items() if _is_required(v)]
        missing = [k for k in required if k not in mine]
        if missing:
            raise ValueError(
                f"optax's {self.name} needs {', '.join(missing)}: give it in hyperparams "
                "(or sweep it)"
            )
        return optax.with_extra_args_support(self._factory()(**mine))

    @property
    def display_label(self) -> str:
        return self.label or self.name

    def step_size(self, values: dict[str, Any]) -> StepSizeReader | None:
        name = self.name.removeprefix("contrib.")
        everything = {**self.arguments(), **values}
        if name in CONTRIB_STEP_SIZES and _is_contrib(self.name):
            return CONTRIB_STEP_SIZES[name](everything)
        rate = everything.get("learning_rate")
        if _is_contrib(self.name) or rate is None or callable(rate) or _is_required(rate):
            return None
        return _fixed_rate(everything)

    def structure_data(self, traced: set[str]) -> dict:
        """A traced name this factory takes is blanked here; the others in its base."""
        own, _ = self._own()
        data = super().structure_data({n for n in traced if n in own})
        if self.base is not None:
            data["base"] = self.base.structure_data({n for n in traced if n not in own})
        return data

    def eval_params(self, opt_state: Any, params: Any) -> Any:
        evaluate = EVAL_PARAMS.get(self.name.removeprefix("contrib."))
        return params if evaluate is None else evaluate(opt_state, params)


def _is_required(value: Any) -> bool:
    return isinstance(value, str) and value == REQUIRED
