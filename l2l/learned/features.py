"""Input features of coordinatewise learned optimizers: what the network sees of each gradient.

A :class:`Features` maps the flat gradient vector g (one entry per scalar parameter) and a
per-coordinate feature state to the network's inputs, shape (n, num_inputs), and to a
per-coordinate *output scale* that multiplies the network's output (1 for the features here;
scale-free features such as gradient ratios rescale the output by a gradient magnitude). New
features are added to :data:`FEATURES` without touching the network.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp


class Features(NamedTuple):
    """A feature map: ``init(flat_grad) -> state``, ``apply(g, state) -> (inputs, state, scale)``."""

    num_inputs: int
    init: Callable[[jax.Array], Any]
    apply: Callable[[jax.Array, Any], tuple[jax.Array, Any, jax.Array]]


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Which features the learned optimizer reads (``kind``) and their constants.

    - ``identity``: the raw gradient g.
    - ``scale``: ``scale`` * g.
    - ``log_sign``: (log|g| / p, sign g) where |g| >= e^-p, else (-1, e^p g)
      (Andrychowicz et al., 2016, appendix A).
    """

    kind: Literal["identity", "scale", "log_sign"] = "log_sign"
    p: float = dataclasses.field(default=10.0, metadata={"gt": 0})
    scale: float = dataclasses.field(default=1.0, metadata={"gt": 0})


def _stateless(num_inputs: int, fn: Callable[[jax.Array], jax.Array]) -> Features:
    def init(flat_grad):
        return ()

    def apply(g, state):
        return fn(g), state, jnp.ones((), g.dtype)

    return Features(num_inputs, init, apply)


def identity() -> Features:
    """inputs = g."""
    return _stateless(1, lambda g: g[:, None])


def scaled(scale: float) -> Features:
    """inputs = scale * g."""
    return _stateless(1, lambda g: (scale * g)[:, None])


def log_sign(p: float = 10.0) -> Features:
    """The paper's preprocessing: (log|g|/p, sign g) if |g| >= e^-p, else (-1, e^p g).

    Both branches are finite for every g, including 0, so gradients through them stay finite.
    """

    def fn(g):
        magnitude = jnp.abs(g)
        big = magnitude >= jnp.exp(-p)
        log_mag = jnp.log(jnp.maximum(magnitude, jnp.exp(-p))) / p
        first = jnp.where(big, log_mag, -1.0)
        second = jnp.where(big, jnp.sign(g), jnp.exp(p) * g)
        return jnp.stack([first, second], axis=-1)

    return _stateless(2, fn)


FEATURES: dict[str, Callable[[FeatureConfig], Features]] = {
    "identity": lambda cfg: identity(),
    "scale": lambda cfg: scaled(cfg.scale),
    "log_sign": lambda cfg: log_sign(cfg.p),
}


def make_features(cfg: FeatureConfig) -> Features:
    if cfg.kind not in FEATURES:
        raise ValueError(f"unknown feature kind {cfg.kind!r}; known: {', '.join(sorted(FEATURES))}")
    return FEATURES[cfg.kind](cfg)
