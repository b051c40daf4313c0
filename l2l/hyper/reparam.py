r"""Reparameterizations: the coordinates in which a hyperparameter is learned.

A learned hyperparameter :math:`h` is stored as an unconstrained raw value :math:`\phi` with
:math:`h = T(\phi)`; the level above does gradient descent on :math:`\phi`, with the hypergradient
:math:`\partial f / \partial \phi = T'(\phi)\, \partial f / \partial h` (automatic differentiation
carries the chain rule). Choosing :math:`T` keeps :math:`h` in its valid range whatever the step:

============  ===================================  ========================  ====================
name          :math:`h = T(\phi)`                  range of :math:`h`        for
============  ===================================  ========================  ====================
``raw``       :math:`\phi`                         anything (no guarantee)   the paper's setup
``log``       :math:`e^{\phi}`                     :math:`h > 0`             step sizes, eps,
                                                                               weight decays
``sqrt``      :math:`\phi^2` (:math:`\phi > 0`)    :math:`h > 0`             step sizes
``sigmoid``   :math:`1 / (1 + e^{-\phi})`          :math:`0 < h < 1`         decays, momentum
============  ===================================  ========================  ====================

``raw`` is the parameterization of Chandra et al. (2022) and Baydin et al. (2018): the hypergradient
is :math:`\partial f / \partial h` itself, so a top-level step size means what it means there, but
nothing keeps :math:`h` in range. The others also keep :math:`\phi` in a bounded box (``bounds``),
projected after every step, so that :math:`T(\phi)` stays strictly inside the range in float32
even under an enormous hypergradient (``exp`` cannot underflow to 0, a sigmoid cannot round to 1).
With ``log`` a step on :math:`\phi` is a *relative* change of :math:`h`, so the step size of the
level above has other units than with ``raw`` (roughly: divide by :math:`h`).

References:
  Chandra, Xie, Ragan-Kelley & Meijer, *Gradient Descent: The Ultimate Optimizer*, NeurIPS 2022;
  Baydin, Cornish, Martinez Rubio, Schmidt & Wood, *Online Learning Rate Adaptation with
  Hypergradient Descent*, ICLR 2018.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Reparameterization(NamedTuple):
    """One way to store a hyperparameter: ``h = forward(phi)``, ``phi = inverse(h)``."""

    name: str  # 'raw', 'log', 'sqrt' or 'sigmoid'.
    forward: Callable[[Any], Any]  # T: raw value phi -> hyperparameter h.
    inverse: Callable[[Any], Any]  # T^{-1}: h -> phi, for the initial value.
    bounds: tuple[float, float]  # phi is projected into [low, high] after each step.
    domain: tuple[float, float]  # the open interval the initial h must lie in.
    description: str  # the range it guarantees, in words (for error messages).


def _identity(x):
    return x


def _logit(h):
    return jnp.log(h) - jnp.log1p(-h)


# The boxes keep T(phi) strictly inside the range in float32: exp(+-69) ~ 1e+-30, sigmoid(+-15) is
# 3e-7 away from 0 and 1 (float32 resolves 6e-8 below 1), 1e+-15 squared is 1e+-30.
REPARAMETERIZATIONS: dict[str, Reparameterization] = {
    "raw": Reparameterization(
        "raw", _identity, _identity, (-math.inf, math.inf), (-math.inf, math.inf), "any real value"
    ),
    "log": Reparameterization("log", jnp.exp, jnp.log, (-69.0, 69.0), (0.0, math.inf), "h > 0"),
    "sqrt": Reparameterization(
        "sqrt", jnp.square, jnp.sqrt, (1e-15, 1e15), (0.0, math.inf), "h > 0"
    ),
    "sigmoid": Reparameterization(
        "sigmoid", jax.nn.sigmoid, _logit, (-15.0, 15.0), (0.0, 1.0), "0 < h < 1"
    ),
}

# The parameterization a hyperparameter gets unless one is named ('auto'), by its factory name.
DEFAULT_REPARAMETERIZATION: dict[str, str] = {
    "learning_rate": "log",
    "eps": "log",
    "eps_root": "log",
    "initial_delta": "log",
    "momentum": "sigmoid",
    "decay": "sigmoid",
    "rho": "sigmoid",
    "b1": "sigmoid",
    "b2": "sigmoid",
    "beta": "sigmoid",  # optax.contrib.muon's momentum.
    "weight_decay": "log",
    "output_scale": "log",  # a learned optimizer's step scale (l2l.learned.zoo.factory).
    "step_mult": "log",
    "exp_mult": "log",
    # The names used before optax's (deprecated; l2l.hyper's levels rename them before asking).
    "lr": "log",
    "gamma": "sigmoid",
}


def get(name: str, hyperparam: str) -> Reparameterization:
    """The parameterization called ``name`` ('auto' picks ``hyperparam``'s default)."""
    if name == "auto":
        name = DEFAULT_REPARAMETERIZATION.get(hyperparam, "raw")
    if name not in REPARAMETERIZATIONS:
        raise ValueError(
            f"Unknown parameterization {name!r} for hyperparameter `{hyperparam}`: expected one "
            f"of {', '.join(map(repr, ['auto', *REPARAMETERIZATIONS]))}."
        )
    return REPARAMETERIZATIONS[name]


def check_initial(reparam: Reparameterization, hyperparam: str, value: Any) -> None:
    """Raises a ``ValueError`` if a concrete initial ``value`` is outside ``reparam``'s domain.

    JAX arrays (possibly traced, e.g. a swept initial step size under ``vmap``) pass unchecked.
    """
    if isinstance(value, jax.Array):
        return
    low, high = reparam.domain
    concrete = np.asarray(value, dtype=np.float64)
    if not np.all((concrete > low) & (concrete < high)):
        raise ValueError(
            f"Hyperparameter `{hyperparam}` = {value!r} cannot be learned with the "
            f"{reparam.name!r} parameterization, which needs an initial value with "
            f"{reparam.description}. Start it inside that range, or learn it with "
            f"parameterization 'raw' (the paper's; no range is then guaranteed)."
        )


def project(reparam: Reparameterization, raw: jax.Array) -> jax.Array:
    """``raw`` clipped into the parameterization's box (a no-op for 'raw')."""
    low, high = reparam.bounds
    if math.isinf(low) and math.isinf(high):
        return raw
    return jnp.clip(raw, low, high).astype(raw.dtype)
