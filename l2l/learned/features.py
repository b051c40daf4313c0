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
    - ``moments``: scale-free inputs in the spirit of RNNprop (Lv et al., 2017): the gradient and
      its momenta at several time scales (``momentum_decays``), each divided by the root of the
      bias-corrected second-moment average (``second_moment_decay``), plus log10 of that root / p
      so the network can still tell scales apart. A rescaled loss gives the same inputs but the
      last.
    """

    kind: Literal["identity", "scale", "log_sign", "moments"] = "log_sign"
    p: float = dataclasses.field(default=10.0, metadata={"gt": 0})
    scale: float = dataclasses.field(default=1.0, metadata={"gt": 0})
    momentum_decays: tuple[float, ...] = (0.5, 0.9, 0.99)
    second_moment_decay: float = dataclasses.field(default=0.999, metadata={"ge": 0, "lt": 1})
    eps: float = dataclasses.field(default=1e-8, metadata={"gt": 0})

    def __post_init__(self):
        if any(not 0 <= d < 1 for d in self.momentum_decays):
            raise ValueError(
                f"momentum_decays must lie in [0, 1), got {list(self.momentum_decays)}"
            )


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


class MomentsState(NamedTuple):
    """Running averages of the ``moments`` features, one entry per coordinate."""

    momenta: jax.Array  # (num_decays, n) exponential averages of g
    second_moment: jax.Array  # (n,) exponential average of g^2
    count: jax.Array  # int32 steps seen (for the bias corrections)


def moments(
    momentum_decays: tuple[float, ...] = (0.5, 0.9, 0.99),
    second_moment_decay: float = 0.999,
    eps: float = 1e-8,
    p: float = 10.0,
) -> Features:
    """Gradient and momenta normalized by the running RMS of the gradient (bias-corrected).

    With m_k = b_k m_k + (1 - b_k) g, v = b2 v + (1 - b2) g^2 and r = sqrt(v / (1 - b2^t)) + eps:
    inputs = (g / r, m_1 / (1 - b_1^t) / r, ..., log10(r) / p).
    """
    decays = jnp.asarray(momentum_decays)

    def init(flat_grad):
        n = flat_grad.shape[0]
        return MomentsState(
            jnp.zeros((len(momentum_decays), n), flat_grad.dtype),
            jnp.zeros((n,), flat_grad.dtype),
            jnp.zeros((), jnp.int32),
        )

    def apply(g, state):
        count = state.count + 1
        t = count.astype(g.dtype)
        momenta = decays[:, None] * state.momenta + (1 - decays[:, None]) * g[None, :]
        second = second_moment_decay * state.second_moment + (1 - second_moment_decay) * g**2
        rms = jnp.sqrt(second / (1 - second_moment_decay**t)) + eps
        m_hat = momenta / (1 - decays[:, None] ** t)
        inputs = jnp.concatenate(
            [(g / rms)[:, None], (m_hat / rms).T, (jnp.log10(rms) / p)[:, None]], axis=1
        )
        return inputs, MomentsState(momenta, second, count), jnp.ones((), g.dtype)

    return Features(len(momentum_decays) + 2, init, apply)


FEATURES: dict[str, Callable[[FeatureConfig], Features]] = {
    "identity": lambda cfg: identity(),
    "scale": lambda cfg: scaled(cfg.scale),
    "log_sign": lambda cfg: log_sign(cfg.p),
    "moments": lambda cfg: moments(
        tuple(cfg.momentum_decays), cfg.second_moment_decay, cfg.eps, cfg.p
    ),
}


def make_features(cfg: FeatureConfig) -> Features:
    if cfg.kind not in FEATURES:
        raise ValueError(f"unknown feature kind {cfg.kind!r}; known: {', '.join(sorted(FEATURES))}")
    return FEATURES[cfg.kind](cfg)
