"""The classic optimizers by name: ``OPTIMIZERS`` and ``make(name, **hyperparams)``.

Configs, the command line and the baseline tuner name an optimizer with a string; this is the one
place that turns such a name into a transform, and the one place that says what the names are.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import optax

from l2l._errors import L2LError
from l2l._suggest import did_you_mean
from l2l.optimizers._hyperparams import old_names, rename_deprecated
from l2l.optimizers.adaptive import adadelta, adagrad, adam, adamax, rmsprop
from l2l.optimizers.momentum import momentum, nesterov, sgd, smoothed_nesterov


class UnknownOptimizerError(L2LError, KeyError, ValueError):
    """``make`` was given a name that is not in ``OPTIMIZERS``."""


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


def _formerly(word: str, renames: Mapping[str, str]) -> str:
    """`` Did you mean 'momentum' (formerly 'gamma')?`` for a word close to a deprecated name."""
    close = difflib.get_close_matches(str(word), list(renames), n=1)
    return f" Did you mean {renames[close[0]]!r} (formerly {close[0]!r})?" if close else ""


def make(name: str, **hyperparams: Any) -> optax.GradientTransformationExtraArgs:
    """Builds the optimizer called ``name`` with the given hyperparameters.

    Hyperparameters left out take the factory's defaults; values may be Python numbers or JAX
    scalars (also traced ones, e.g. ``learning_rate`` under ``jax.jit``), and ``learning_rate`` may
    be an optax schedule. The names are optax's; a factory's old names (``lr``, ``gamma``) are
    still accepted for one release, with a ``DeprecationWarning`` naming the new spelling.

    Args:
      name: a key of ``OPTIMIZERS``, e.g. ``"adam"``.
      **hyperparams: keyword arguments of that factory, e.g. ``learning_rate=0.1``.

    Returns:
      The ``optax.GradientTransformationExtraArgs`` built by ``OPTIMIZERS[name](**hyperparams)``.

    Raises:
      UnknownOptimizerError: ``name`` is not a known optimizer (the message lists the known names);
        a subclass of both ``KeyError`` and ``ValueError``.
      TypeError: a hyperparameter is not one the factory accepts (the message lists those it does),
        or is given under both its old and its new name.
      ValueError: a concrete hyperparameter is out of its range.

    Examples:
      >>> import jax.numpy as jnp
      >>> from l2l import optimizers
      >>> opt = optimizers.make("rmsprop", learning_rate=0.1, decay=0.9)
      >>> updates, state = opt.update(jnp.array([2.0, -0.5]), opt.init(jnp.zeros(2)))
      >>> [round(float(u), 4) for u in updates]  # -0.1 g / sqrt(0.1 g^2) = -sqrt(0.1) sign(g)
      [-0.3162, 0.3162]
    """
    known = sorted(OPTIMIZERS)
    if name not in OPTIMIZERS:
        raise UnknownOptimizerError(
            f"Unknown optimizer {name!r}.{did_you_mean(str(name), known)} "
            f"Known optimizers: {', '.join(known)}."
        )
    factory = OPTIMIZERS[name]
    accepted = list(inspect.signature(factory).parameters)
    renames = old_names(factory)
    unknown = [key for key in hyperparams if key not in accepted and key not in renames]
    if unknown:
        hints = "".join(did_you_mean(key, accepted) or _formerly(key, renames) for key in unknown)
        deprecated = ", ".join(f"{old} for {new}" for old, new in renames.items())
        raise TypeError(
            f"Optimizer {name!r} has no hyperparameter {', '.join(map(repr, unknown))}.{hints} "
            f"It accepts: {', '.join(accepted)}"
            + (f" (and, deprecated, {deprecated})." if deprecated else ".")
        )
    who = getattr(factory, "public_name", f"l2l.{name}")
    return factory(**rename_deprecated(hyperparams, renames, who=who))
