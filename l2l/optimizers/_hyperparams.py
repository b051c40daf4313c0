"""Checking an optimizer's hyperparameters without ever forcing a traced value, and their names.

A hyperparameter reaches a factory in one of three forms:

* a concrete Python or NumPy number, typed by a person or read from a config: we check its range
  at once and raise a ``ValueError`` that names the argument, the value and the valid range;
* a JAX array, possibly a tracer (a tuner ``jit``-ing over ``learning_rate``, a hyperoptimizer
  differentiating through ``momentum``, ``optax.inject_hyperparams`` feeding its state): we pass it
  through untouched. Calling ``float()`` on it would fail under ``jit`` and cut the hypergradient,
  so we never do;
* for ``learning_rate`` only, as in optax, a schedule: a function ``count -> value`` evaluated at
  the number of updates made so far (0 at the first), e.g. ``optax.cosine_decay_schedule(1e-2,
  100)``.

The hyperparameters carry optax's names. The names they had before (``lr``, ``gamma``) are accepted
for one release, with a ``DeprecationWarning``: ``accepts_old_names`` gives a factory that, and
``rename_deprecated`` / ``rename_deprecated_names`` do it for a mapping or a list of names.
"""

from __future__ import annotations

import functools
import inspect
import math
import operator
import sys
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from numbers import Real
from types import FrameType, MappingProxyType
from typing import Any, TypeVar

import jax
import numpy as np

_Factory = TypeVar("_Factory", bound=Callable[..., Any])


def _is_concrete_number(value: Any) -> bool:
    """True for Python and NumPy real numbers (and concrete NumPy arrays), never for JAX arrays."""
    return isinstance(value, (Real, np.ndarray, np.generic))


def check_hyperparam(
    name: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> Any:
    """Checks that ``value`` lies in the range [low, high] (ends open or closed as asked).

    Concrete Python/NumPy numbers are checked (non-finite values are refused); JAX arrays, traced or
    not, pass through unchecked. Returns ``value`` unchanged.

    Raises:
      TypeError: ``value`` is not a number or an array (a string, a bool, a schedule, ``None``).
      ValueError: a concrete ``value`` lies outside the range.
    """
    if isinstance(value, (bool, np.bool_)) or not (
        _is_concrete_number(value) or isinstance(value, jax.Array)
    ):
        hint = ""
        if callable(value):
            hint = (
                " Only `learning_rate` accepts a schedule; to vary another hyperparameter over "
                "time, wrap the factory: "
                f"`optax.inject_hyperparams(factory)({name}=schedule, ...)`."
            )
        raise TypeError(
            f"Hyperparameter `{name}` must be a real number or a JAX scalar, "
            f"got {value!r} of type {type(value).__name__}.{hint}"
        )
    if not _is_concrete_number(value):
        return value  # A JAX array, possibly traced: it is checked by no one, on purpose.

    concrete = np.asarray(value)
    if not np.issubdtype(concrete.dtype, np.number) or np.iscomplexobj(concrete):
        raise TypeError(
            f"Hyperparameter `{name}` must be a real number, "
            f"got {value!r} of dtype {concrete.dtype}."
        )
    above = concrete >= low if low_inclusive else concrete > low
    below = concrete <= high if high_inclusive else concrete < high
    if not np.all(np.isfinite(concrete) & above & below):
        left = "[" if low_inclusive and math.isfinite(low) else "("
        right = "]" if high_inclusive and math.isfinite(high) else ")"
        raise ValueError(
            f"Hyperparameter `{name}` = {value!r} is out of range: expected a finite value in "
            f"{left}{low}, {high}{right}."
        )
    return value


def check_count(name: str, value: Any, *, minimum: int = 1) -> int:
    """Checks a structural integer hyperparameter (one that fixes the shape of the computation).

    Such a value must be known when the update is traced, so a traced array is refused with a hint.

    Raises:
      TypeError: ``value`` is not an integer, or is a traced array.
      ValueError: ``value`` is below ``minimum``.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a Python int, got the bool {value!r}.")
    try:
        count = operator.index(value)
    except TypeError:  # Also what a tracer raises (jax.errors.ConcretizationTypeError).
        count = None
    if count is None:
        raise TypeError(
            f"`{name}` must be a concrete Python int (it fixes how many gradients each step "
            f"evaluates), got {value!r}. If you wrap the factory in `optax.inject_hyperparams`, "
            f"declare it static: `optax.inject_hyperparams(factory, static_args=('{name}',))`."
        )
    if count < minimum:
        raise ValueError(f"`{name}` = {count} is out of range: expected an int >= {minimum}.")
    return count


def is_schedule(value: Any) -> bool:
    """True for an optax schedule (a callable ``count -> value``), never for a number or array."""
    return callable(value) and not isinstance(value, (jax.Array, np.ndarray, np.generic))


def check_learning_rate(value: Any) -> Any:
    """Checks a step size: a number or JAX scalar ``>= 0``, or a schedule (passed on unchecked)."""
    if is_schedule(value):
        return value
    return check_hyperparam("learning_rate", value, low=0.0)


def learning_rate_at(learning_rate: Any, count: jax.Array) -> Any:
    """The step size of the update made after ``count`` updates (the schedule's value there).

    A number or JAX scalar is returned as it is, so a constant step size gives exactly the numbers
    it gave before schedules were accepted; this is optax's ``scale_by_learning_rate``.
    """
    return learning_rate(count) if is_schedule(learning_rate) else learning_rate


# --- Deprecated spellings: optax's names replaced ours (`lr`, `gamma`), which last a release.


def _in_l2l(frame: Any) -> bool:
    """A frame of l2l's code (by module, so a dataclass's generated ``__init__`` counts too)."""
    module = frame.f_globals.get("__name__", "")
    return module == "l2l" or module.startswith("l2l.")


def _stacklevel_outside_l2l() -> int:
    """The ``stacklevel`` that blames the first caller outside l2l (so Python shows the warning)."""
    frame: FrameType | None = sys._getframe(2)  # Level 1 calls `warnings.warn`.
    level = 2
    while frame is not None and _in_l2l(frame):
        frame, level = frame.f_back, level + 1
    return level


def _new_name(old: str, renames: Mapping[str, str], present: Collection[str], who: str) -> str:
    new = renames.get(old)
    if new is None:
        return old
    if new in present:
        raise TypeError(
            f"{who}: got both `{old}` and `{new}`; `{old}` is the deprecated spelling of `{new}` "
            f"(optax's name), so pass only `{new}`."
        )
    warnings.warn(
        f"{who}: `{old}` is deprecated; use `{new}` (optax's name).",
        DeprecationWarning,
        stacklevel=_stacklevel_outside_l2l(),
    )
    return new


def rename_deprecated(
    given: Mapping[str, Any],
    renames: Mapping[str, str],
    *,
    who: str,
    taken: Collection[str] = (),
) -> dict[str, Any]:
    """``given`` with every deprecated key (a key of ``renames``) replaced by its new name.

    Each old key found emits a ``DeprecationWarning`` that names the new spelling.

    Args:
      given: hyperparameter name -> value (or -> anything, e.g. a parameterization).
      renames: old name -> new name.
      who: what the names belong to, for the messages (e.g. ``"l2l.rmsprop"``).
      taken: names given some other way (positionally), which an old key must not repeat.

    Raises:
      TypeError: an old name is given together with its new name.
    """
    present = {*given, *taken}
    return {_new_name(key, renames, present, who): value for key, value in given.items()}


def rename_deprecated_names(
    names: Sequence[str], renames: Mapping[str, str], *, who: str
) -> tuple[str, ...]:
    """``rename_deprecated`` for a list of names (e.g. a hyperoptimizer level's ``learn``)."""
    return tuple(_new_name(name, renames, set(names), who) for name in names)


def accepts_old_names(prefix: str, **renames: str) -> Callable[[_Factory], _Factory]:
    """Decorator: the factory also takes each old keyword of ``renames`` (old=new), deprecated.

    The wrapped factory keeps its own signature (``inspect.signature`` shows the new names only);
    its ``old_names`` attribute is ``renames`` and its ``public_name`` is ``prefix.<name>``, the
    name the warnings use, e.g. ``"l2l.rmsprop: `gamma` is deprecated; use `decay` (optax's
    name)."``.
    """

    def decorate(factory: _Factory) -> _Factory:
        who = f"{prefix}.{factory.__name__}"
        positional = [
            name
            for name, p in inspect.signature(factory).parameters.items()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]

        @functools.wraps(factory)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not renames.keys() & kwargs.keys():
                return factory(*args, **kwargs)
            taken = positional[: len(args)]
            return factory(*args, **rename_deprecated(kwargs, renames, who=who, taken=taken))

        wrapper.old_names = MappingProxyType(dict(renames))  # type: ignore[attr-defined]
        wrapper.public_name = who  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def old_names(factory: Callable[..., Any]) -> Mapping[str, str]:
    """The deprecated keywords a factory still accepts (old name -> new name); empty if none."""
    return getattr(factory, "old_names", MappingProxyType({}))
