"""The classic optimizers by name: ``OPTIMIZERS`` and ``make(name, **hyperparams)``.

Configs, the command line and the baseline tuner name an optimizer with a string; this is the one
place that turns such a name into a transform, and the one place that says what the names are.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

import optax

from l2l.optimizers.adaptive import adadelta, adagrad, adam, adamax, rmsprop
from l2l.optimizers.momentum import momentum, nesterov, sgd, smoothed_nesterov


class UnknownOptimizerError(KeyError, ValueError):
    """``make`` was given a name that is not in ``OPTIMIZERS``."""

    def __str__(self) -> str:  # KeyError would print the message as a quoted repr.
        return str(self.args[0])


OptimizerFactory = Callable[..., optax.GradientTransformationExtraArgs]

OPTIMIZERS: dict[str, OptimizerFactory] = {
    "sgd": sgd,
    "momentum": momentum,
    "nesterov": nesterov,
    "smoothed_nesterov": smoothed_nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adadelta": adadelta,
    "adam": adam,
    "adamax": adamax,
}


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=2)
    return f" Did you mean {' or '.join(map(repr, close))}?" if close else ""


def make(name: str, **hyperparams: Any) -> optax.GradientTransformationExtraArgs:
    """Builds the optimizer called ``name`` with the given hyperparameters.

    Hyperparameters left out take the factory's defaults; values may be Python numbers or JAX
    scalars (also traced ones, e.g. ``lr`` under ``jax.jit``).

    Args:
      name: a key of ``OPTIMIZERS``, e.g. ``"adam"``.
      **hyperparams: keyword arguments of that factory, e.g. ``lr=0.1``.

    Returns:
      The ``optax.GradientTransformationExtraArgs`` built by ``OPTIMIZERS[name](**hyperparams)``.

    Raises:
      UnknownOptimizerError: ``name`` is not a known optimizer (the message lists the known names);
        a subclass of both ``KeyError`` and ``ValueError``.
      TypeError: a hyperparameter is not one the factory accepts (the message lists those it does).
      ValueError: a concrete hyperparameter is out of its range.
    """
    known = sorted(OPTIMIZERS)
    if name not in OPTIMIZERS:
        raise UnknownOptimizerError(
            f"Unknown optimizer {name!r}.{_did_you_mean(str(name), known)} "
            f"Known optimizers: {', '.join(known)}."
        )
    factory = OPTIMIZERS[name]
    accepted = list(inspect.signature(factory).parameters)
    unknown = [key for key in hyperparams if key not in accepted]
    if unknown:
        hints = "".join(_did_you_mean(key, accepted) for key in unknown)
        raise TypeError(
            f"Optimizer {name!r} has no hyperparameter {', '.join(map(repr, unknown))}.{hints} "
            f"It accepts: {', '.join(accepted)}."
        )
    return factory(**hyperparams)
