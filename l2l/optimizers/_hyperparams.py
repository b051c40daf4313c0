"""Checking an optimizer's hyperparameters without ever forcing a traced value.

A hyperparameter reaches a factory in one of two forms:

* a concrete Python or NumPy number, typed by a person or read from a config: we check its range
  at once and raise a ``ValueError`` that names the argument, the value and the valid range;
* a JAX array, possibly a tracer (a tuner ``jit``-ing over ``lr``, a hyperoptimizer differentiating
  through ``gamma``, ``optax.inject_hyperparams`` feeding its state): we pass it through untouched.
  Calling ``float()`` on it would fail under ``jit`` and cut the hypergradient, so we never do.
"""

from __future__ import annotations

import math
import operator
from numbers import Real
from typing import Any

import jax
import numpy as np


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
                " To vary a hyperparameter over time, wrap the factory: "
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
