"""Input features of coordinatewise learned optimizers: what the network sees of each gradient.

A :class:`Features` maps the flat gradient vector g (one entry per scalar parameter) and a
per-coordinate feature state to the network's inputs, shape (n, num_inputs), and to a
per-coordinate *output scale* that multiplies the network's output (1 for most features here;
scale-free features such as gradient ratios rescale the output by a gradient magnitude). A feature
map may also *observe* the update the optimizer emitted (``observe(update, state) -> state``), for
features built on the previous update. New features are added to :data:`FEATURES` without touching
the network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp


class Features(NamedTuple):
    """A feature map: ``init(flat_params) -> state``, ``apply(g, state) -> (inputs, state, scale)``.

    ``observe(update, multiplier, state) -> state``, when given, is called with the flat update the
    optimizer emitted for the gradient ``apply`` just saw and the multiplier it applied to the
    feature's output scale (update = multiplier * scale); None: the features do not need them.
    """

    num_inputs: int
    init: Callable[[jax.Array], Any]
    apply: Callable[[jax.Array, Any], tuple[jax.Array, Any, jax.Array]]
    observe: Callable[[jax.Array, jax.Array, Any], Any] | None = None


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
    - ``scale_free``: inputs built from gradient *ratios* and log-magnitudes relative to an adaptive
      floor, with the network's output rescaled by a magnitude of the optimizee's own history
      (``output_by``), so that the optimizer behaves the same at every scale of theta and of the
      gradient (see :func:`scale_free`). ``inputs`` picks the input blocks
      (:data:`SCALE_FREE_INPUTS`); ``floor_decay`` is the adaptive floor's rate and
      ``log_decades`` the decades that span a log-cast input's range [-1, 1]. The other kinds
      ignore these four fields.
    """

    kind: Literal["identity", "scale", "log_sign", "moments", "scale_free"] = "log_sign"
    p: float = dataclasses.field(default=10.0, metadata={"gt": 0})
    scale: float = dataclasses.field(default=1.0, metadata={"gt": 0})
    momentum_decays: tuple[float, ...] = (0.5, 0.9, 0.99)
    second_moment_decay: float = dataclasses.field(default=0.999, metadata={"ge": 0, "lt": 1})
    eps: float = dataclasses.field(default=1e-8, metadata={"gt": 0})
    inputs: tuple[str, ...] = ("signed_ratio", "log_ratio", "adaptive_log")
    output_by: Literal["one", "prev_grad", "prev_update", "prev_lr"] = "prev_lr"
    floor_decay: float = dataclasses.field(default=0.5, metadata={"gt": 0, "le": 1})
    log_decades: float = dataclasses.field(default=40.0, metadata={"gt": 0})

    def __post_init__(self):
        if any(not 0 <= d < 1 for d in self.momentum_decays):
            raise ValueError(
                f"momentum_decays must lie in [0, 1), got {list(self.momentum_decays)}"
            )
        unknown = [name for name in self.inputs if name not in SCALE_FREE_INPUTS]
        if unknown:
            raise ValueError(
                f"unknown scale_free input {unknown[0]!r}; known: {', '.join(SCALE_FREE_INPUTS)}"
            )
        if self.kind == "scale_free" and not self.inputs:
            raise ValueError("scale_free features need at least one input block in 'inputs'")


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


#: The input blocks of :func:`scale_free` and how many inputs each gives.
SCALE_FREE_INPUTS = {
    "ratio": 1,  # g_t / |g_{t-1}|
    "signed_ratio": 1,  # r_t = g_t / g_{t-1}
    "log_ratio": 2,  # (log10|r_t| / D, sign r_t)
    "adaptive_log": 1,  # (log10|g_t| - floor_t) / D
    "update_sign": 1,  # sign d_{t-1}
}


class ScaleFreeState(NamedTuple):
    """What the ``scale_free`` features remember of each coordinate's history."""

    prev_grad: jax.Array  # (n,) g_{t-1}
    prev_update: jax.Array  # (n,) d_{t-1}, the update the optimizer emitted at t - 1
    prev_lr: jax.Array  # (n,) eta_{t-1} = -d_{t-1} / g_{t-1} (1 before the first step)
    floor: jax.Array  # (n,) the adaptive floor on log10|g|
    running_min: jax.Array  # (n,) the smallest log10|g| seen
    started: jax.Array  # (n,) bool: a nonzero gradient was seen (the floor exists)
    count: jax.Array  # int32 gradients seen


def _safe_div(a: jax.Array, b: jax.Array) -> jax.Array:
    """a / b where b != 0, else 0; finite values and finite gradients for every input."""
    nonzero = b != 0
    return jnp.where(nonzero, a / jnp.where(nonzero, b, 1), 0)


def _log10_abs(x: jax.Array, at_zero: jax.Array | float) -> jax.Array:
    """log10|x| where x != 0, else ``at_zero`` (finite, with finite gradients)."""
    nonzero = x != 0
    return jnp.where(nonzero, jnp.log10(jnp.where(nonzero, jnp.abs(x), 1)), at_zero)


def scale_free(
    inputs: tuple[str, ...] = ("signed_ratio", "log_ratio", "adaptive_log"),
    output_by: str = "prev_lr",
    floor_decay: float = 0.5,
    log_decades: float = 40.0,
) -> Features:
    """Scale-free inputs for optimizing across many orders of magnitude.

    For coordinate i at step t (0-based) with gradient g_t and the emitted update d_{t-1}, and with
    D = ``log_decades``, the input blocks (concatenated in the order of ``inputs``) are

    - ``ratio``: g_t / |g_{t-1}|; sign g_0 at t = 0.
    - ``signed_ratio``: r_t = g_t / g_{t-1}; 0 at t = 0. On a separable quadratic, r_t together with
      the previous step fixes the exact (secant) step: d_t = -eta_{t-1} g_t / (1 - r_t).
    - ``log_ratio``: (clip(log10|r_t| / D, -1, 1), sign r_t); (-1, 0) where r_t = 0.
    - ``adaptive_log``: clip((log10|g_t| - floor_t) / D, -1, 1), where the floor follows the
      smallest log-gradient seen, m_t = min(m_{t-1}, log10|g_t|), as an exponential moving average
      floor_t = floor_{t-1} + ``floor_decay`` (m_t - floor_{t-1}), started at the first nonzero
      gradient (floor = m = log10|g|); a log-magnitude cast with no fixed range (unlike
      ``log_sign``'s e^-p). A zero gradient gives -1 and leaves the floor where it was.
    - ``update_sign``: sign d_{t-1}; 0 at t = 0.

    Every ratio or logarithm of a zero gradient is defined (above) and finite.
    The network's output is multiplied by (``output_by``)

    - ``one``: 1.
    - ``prev_grad``: |g_{t-1}| (|g_0| at t = 0): with the ``ratio`` input the update is
      |g_{t-1}| * net(g_t / |g_{t-1}|), scale-free by construction.
    - ``prev_update``: |d_{t-1}| (|g_0| at t = 0).
    - ``prev_lr``: -eta_{t-1} g_t with eta_{t-1} = -d_{t-1} / g_{t-1} the previous step's effective
      learning rate (eta_{-1} = 1; eta is kept from the step before where g = 0): the network's
      output multiplies the learning rate, and an output of 1 / (1 - r_t) is the secant method,
      exact on a separable quadratic (the first output is the first learning rate).

    Scale: multiplying theta_0 (and so every g and d) by a > 0 leaves every input unchanged and
    multiplies every output scale but ``one`` by a, so the whole trajectory scales by a. Multiplying
    the loss by c > 0 also leaves the inputs unchanged; after the first step it leaves the
    ``prev_lr`` and ``prev_update`` scales unchanged (a step that ignores the loss's units) and
    multiplies ``prev_grad`` by c.

    Meta-gradients: the inputs are computed from a constant (``stop_gradient``) copy of g, since
    derivatives of ratios and logarithms of numbers near 1e-38 overflow float32; the output scale
    keeps g's derivative, so with second derivatives the unroll still sees d g_t / d theta_t.
    """
    inputs = tuple(inputs)
    if output_by not in ("one", "prev_grad", "prev_update", "prev_lr"):
        raise ValueError(
            f"output_by must be one, prev_grad, prev_update or prev_lr, got {output_by!r}"
        )
    num_inputs = sum(SCALE_FREE_INPUTS[name] for name in inputs)

    def init(flat):
        zeros = jnp.zeros_like(flat)
        return ScaleFreeState(
            zeros,
            zeros,
            jnp.ones_like(flat),
            zeros,
            zeros,
            jnp.zeros(flat.shape, bool),
            jnp.zeros((), jnp.int32),
        )

    def apply(g_in, state):
        # The inputs are ratios and logarithms of numbers as small as 1e-38, whose derivatives
        # overflow float32: they see a constant copy of g. The output scale keeps g's derivative.
        g = jax.lax.stop_gradient(g_in)
        first = state.count == 0
        prev_grad = jnp.where(first, g, jax.lax.stop_gradient(state.prev_grad))
        # The floor starts at a coordinate's first nonzero gradient; a zero gradient leaves it be.
        nonzero = g != 0
        log_g = _log10_abs(g, 0.0)
        starts = nonzero & ~state.started
        moves = nonzero & state.started
        running_min = jnp.where(starts, log_g, state.running_min)
        running_min = jnp.where(moves, jnp.minimum(running_min, log_g), running_min)
        floor = jnp.where(starts, log_g, state.floor)
        floor = jnp.where(moves, floor + floor_decay * (running_min - floor), floor)
        started = state.started | nonzero
        signed = jnp.where(first, 0.0, _safe_div(g, prev_grad))
        blocks = {
            "ratio": [_safe_div(g, jnp.abs(prev_grad))],
            "signed_ratio": [signed],
            "log_ratio": [
                jnp.clip(_log10_abs(signed, -log_decades) / log_decades, -1, 1),
                jnp.sign(signed),
            ],
            "adaptive_log": [
                jnp.where(nonzero, jnp.clip((log_g - floor) / log_decades, -1, 1), -1.0)
            ],
            "update_sign": [jnp.sign(state.prev_update)],
        }
        features = jnp.stack([x for name in inputs for x in blocks[name]], axis=-1)
        scale = {
            "one": lambda: jnp.ones_like(g),
            "prev_grad": lambda: jnp.abs(jnp.where(first, g_in, state.prev_grad)),
            "prev_update": lambda: jnp.where(first, jnp.abs(g_in), jnp.abs(state.prev_update)),
            "prev_lr": lambda: -state.prev_lr * g_in,
        }[output_by]()
        new_state = ScaleFreeState(
            g_in, state.prev_update, state.prev_lr, floor, running_min, started, state.count + 1
        )
        return features.astype(g.dtype), new_state, scale.astype(g.dtype)

    def observe(update, multiplier, state):
        # eta_t = -d_t / g_t; for prev_lr that is eta_{t-1} * multiplier, with no division (whose
        # derivative, 1 / g_t^2, overflows float32 near the zero machine). A zero gradient says
        # nothing of the learning rate: eta is kept.
        if output_by == "prev_lr":
            eta = state.prev_lr * multiplier
        else:
            eta = -_safe_div(update, jax.lax.stop_gradient(state.prev_grad))
        eta = jnp.where(state.prev_grad != 0, eta, state.prev_lr)
        return state._replace(prev_update=update, prev_lr=eta)

    return Features(num_inputs, init, apply, observe)


FEATURES: dict[str, Callable[[FeatureConfig], Features]] = {
    "identity": lambda cfg: identity(),
    "scale": lambda cfg: scaled(cfg.scale),
    "log_sign": lambda cfg: log_sign(cfg.p),
    "moments": lambda cfg: moments(
        tuple(cfg.momentum_decays), cfg.second_moment_decay, cfg.eps, cfg.p
    ),
    "scale_free": lambda cfg: scale_free(
        tuple(cfg.inputs), cfg.output_by, cfg.floor_decay, cfg.log_decades
    ),
}


def make_features(cfg: FeatureConfig) -> Features:
    if cfg.kind not in FEATURES:
        raise ValueError(f"unknown feature kind {cfg.kind!r}; known: {', '.join(sorted(FEATURES))}")
    return FEATURES[cfg.kind](cfg)
