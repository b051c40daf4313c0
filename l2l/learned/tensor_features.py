r"""Per-parameter features of a parameter tensor, normalized over it: what the per-parameter MLP
optimizer (:mod:`l2l.learned.mlp_optimizer`) sees of every coordinate.

Notation, for one leaf of the params pytree at update t (0-based; :math:`\tau = t + 1` updates
including this one) with gradient :math:`g`, parameter :math:`p`, momentum decays
:math:`\beta_1, \dots, \beta_K`, second-moment decay :math:`\beta_v`, factored decays
:math:`\gamma_1, \dots, \gamma_F`, time scales :math:`T_1, \dots, T_L` and
:math:`\rho(x) = 1 / (\sqrt{x} + \epsilon)` (Adam's reciprocal root, :math:`\epsilon` outside the
root). A leaf of rank >= 2 is seen as a matrix :math:`(R, C)`: every axis but the last are rows,
the last axis is the columns; a leaf of rank < 2 is one row (:math:`R = 1`).

Accumulators (the state; exponential moving averages as optax's ``update_moment``):

.. math::

    m_k &\leftarrow \beta_k m_k + (1 - \beta_k) g, \qquad
    v \leftarrow \beta_v v + (1 - \beta_v) g^2, \\
    r_{f,i} &\leftarrow \gamma_f r_{f,i} + (1 - \gamma_f) \tfrac{1}{C} \textstyle\sum_j
        (g_{ij}^2 + \epsilon_1), \qquad
    c_{f,j} \leftarrow \gamma_f c_{f,j} + (1 - \gamma_f) \tfrac{1}{R} \textstyle\sum_i
        (g_{ij}^2 + \epsilon_1),

with :math:`\epsilon_1 = 10^{-30}` (Adafactor's). Each is bias-corrected, :math:`\hat m_k = m_k /
(1 - \beta_k^\tau)` and so on (optax's ``bias_correction``), and the factored accumulators give
Adafactor's per-coordinate estimate of the second moment (Shazeer & Stern, 2018, with means in
place of sums, which is the same estimate)

.. math::  \hat V_{f,ij} = \hat r_{f,i} \, \hat c_{f,j} / \operatorname{mean}_i \hat r_{f,i}.

For a leaf of rank < 2 (one row) :math:`\hat V_f = \hat c_f`, the plain per-coordinate average.

Features of coordinate ij, in this order (:attr:`TensorFeatures.names`):

- ``param`` :math:`p`, ``grad`` :math:`g`,
- ``momentum_b`` :math:`\hat m_k` for each momentum decay,
- ``second_moment`` :math:`\hat v`, ``rsqrt_second_moment`` :math:`\rho(\hat v)`,
- ``momentum_b_rsqrt`` :math:`\hat m_k \rho(\hat v)` (for :math:`\beta_k = 0.9`,
  :math:`\beta_v = 0.999`: Adam's direction),
- for each factored decay: ``row_b`` :math:`\hat r_{f,i}`, ``col_b`` :math:`\hat c_{f,j}`,
  ``factored_b`` :math:`\hat V_{f,ij}`, ``rsqrt_factored_b`` :math:`\rho(\hat V_{f,ij})`,
  ``grad_rsqrt_factored_b`` :math:`g_{ij} \rho(\hat V_{f,ij})` (Adafactor's direction),

each normalized over its tensor (with ``normalize``): :math:`\tilde x = x / \sqrt{\operatorname
{mean}_{\text{leaf}}(x^2) + \epsilon_n}` (a per-tensor scale, so bias corrections only matter
through the epsilons); then, not normalized, the training-progress features
``tanh_step_T`` :math:`\tanh(t / T_l)`, the same for every coordinate.

With ``loss_decays`` :math:`\lambda_1, \dots, \lambda_J`, training-progress features read off the
loss too (in the spirit of Celo's learned scheduler, Moudgil et al., 2025, which sees loss
statistics): with :math:`\ell_t = \log f_t` the log of the loss at the parameters being updated
(the ``value`` optax's line searches are given; a constant for the meta-gradient),
:math:`\bar\ell_{j}` its moving average at decay :math:`\lambda_j` over the updates before this
one (started at :math:`\ell_0`) and :math:`\ell_0` the first loss,
``loss_vs_ema_lambda`` :math:`\tanh(\ell_t - \bar\ell_j)` (is the loss rising or falling, and how
fast) and ``loss_vs_first`` :math:`\tanh((\ell_t - \ell_0) / 4)` (how far training has come, in
units of :math:`e^4`), the same for every coordinate; invariant to the scale of the loss.

Metz et al., 2020, "Tasks, stability, architecture, and compute for training more effective
learned optimizers, and using them to train themselves"; Metz et al., 2022, "Practical tradeoffs
between memory, compute, and performance in learned optimizers" (``adafac_mlp_lopt`` in
google/learned_optimization; theirs puts the epsilon inside the root, shifts the time features by
-1, and does not bias-correct). Shazeer & Stern, 2018, "Adafactor: adaptive learning rates with
sublinear memory cost".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l.config import field

#: Adafactor's epsilon_1, added to every g^2 of the factored accumulators (so their means are > 0).
ADAFACTOR_EPS = 1e-30
#: The smallest loss the loss features take the log of (float32's smallest normal number).
LOSS_FLOOR = float(np.finfo(np.float32).tiny)
#: The log-loss units of ``loss_vs_first``: tanh((log f_t - log f_0) / 4).
LOSS_PROGRESS_SCALE = 4.0


@dataclasses.dataclass(frozen=True)
class TensorFeatureConfig:
    """Which per-parameter features the MLP optimizer reads (:mod:`l2l.learned.tensor_features`).

    ``momentum_decays``: decays of the momenta (Metz et al., 2022: 0.1 to 0.999);
    ``second_moment_decay``: of the per-coordinate second moment; ``factored_decays``: of
    Adafactor's row and column accumulators; ``timescales``: of the tanh(t / T) progress features;
    ``eps``: Adam's epsilon in 1 / (sqrt(v) + eps); ``normalize``: divide every feature but the
    progress ones by its root mean square over the tensor (off only for ablations and for
    reading raw features, e.g. the Adam identity of the tests); ``normalize_eps``: the epsilon in
    that root (Metz et al.'s 1e-5).
    """

    momentum_decays: tuple[float, ...] = (0.1, 0.5, 0.9, 0.99, 0.999)
    second_moment_decay: float = field(0.999, ge=0, lt=1)
    factored_decays: tuple[float, ...] = (0.9, 0.99, 0.999)
    timescales: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 1e4)
    eps: float = field(1e-8, gt=0)
    normalize: bool = True
    normalize_eps: float = field(1e-5, gt=0)
    loss_decays: tuple[float, ...] = ()  # the loss features' averages (module docstring); ()

    def __post_init__(self) -> None:
        for name in ("momentum_decays", "factored_decays", "loss_decays"):
            decays = getattr(self, name)
            if any(not 0 <= d < 1 for d in decays):
                raise ValueError(f"{name} must lie in [0, 1), got {list(decays)}")
        if any(not (math.isfinite(s) and s > 0) for s in self.timescales):
            raise ValueError(f"timescales must be positive, got {list(self.timescales)}")


class TensorFeatureState(NamedTuple):
    """The accumulators of the features; each field a pytree shaped like the params."""

    momenta: Any  # each leaf (K, *shape): EMAs of g at the momentum decays
    second_moment: Any  # each leaf (*shape): EMA of g^2 at the second-moment decay
    rows: Any  # each leaf (F, R): EMAs of the row means of g^2 + eps_1, per factored decay
    cols: Any  # each leaf (F, C): EMAs of the column means of g^2 + eps_1, per factored decay
    # (J + 1,): the moving averages of the log loss at the loss decays and the first log loss
    # (before the first update: zeros); () without loss features.
    loss: Any = ()


class TensorFeatures(NamedTuple):
    """``init(params) -> state``; ``apply(grads, params, state, count, value=None) -> (inputs,
    state)`` with ``count`` the int32 index t of the update, ``value`` the loss (read by the loss
    features only), ``inputs`` (n, num_inputs) for the n coordinates of
    every leaf, leaf after leaf in ``jax.tree.leaves`` order, each raveled in C order."""

    names: tuple[str, ...]
    init: Callable[[Any], TensorFeatureState]
    apply: Callable[..., tuple[jax.Array, Any]]

    @property
    def num_inputs(self) -> int:
        return len(self.names)


def matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, columns) a leaf is seen as: the last axis is the columns, the rest the rows."""
    if len(shape) < 2:
        return 1, math.prod(shape)
    return math.prod(shape[:-1]), shape[-1]


def fan_in_scale(shape: tuple[int, ...]) -> jax.Array:
    """1 / sqrt(R) for a leaf seen as an (R, C) matrix (:func:`matrix_shape`; R = 1 for a leaf of
    rank < 2): the fan-in scaling of the MLP optimizer's steps."""
    return jnp.asarray(1.0 / math.sqrt(matrix_shape(tuple(shape))[0]))


def _safe_sqrt(x: jax.Array) -> jax.Array:
    """sqrt(x), with derivative 0 (not inf) at x = 0."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1)), 0)


def _ema(new: Any, old: Any, decay: float, order: int = 1) -> Any:
    """optax's moving average (1 - decay) * new**order + decay * old (the same float rounding)."""
    if order == 1:
        return optax.tree.update_moment(new, old, decay, 1)
    return optax.tree.update_moment_per_elem_norm(new, old, decay, order)


def _stacked(arrays: list[jax.Array], like: jax.Array) -> jax.Array:
    return jnp.stack(arrays) if arrays else like


def _name(x: float) -> str:
    return f"{x:g}"


def root_plus_eps(x: jax.Array, eps: float) -> jax.Array:
    """sqrt(x) + eps (Adam's denominator, epsilon outside the root), derivative 0 at x = 0."""
    return _safe_sqrt(x) + eps


def factored_features(
    g: jax.Array, r: jax.Array, c: jax.Array, tau: jax.Array, decays: Any, eps: float
) -> tuple[list[jax.Array], jax.Array, jax.Array]:
    """Adafactor's accumulators of one leaf ``g``, all factored ``decays`` at once, and the
    features of them (module docstring): ``(features, r, c)`` with ``features`` the five arrays
    row, col, factored, rsqrt_factored, grad_rsqrt_factored, each (F, rows, cols), and ``r``
    (F, rows), ``c`` (F, cols) the updated accumulators; ``tau`` the updates including this one."""
    keep_f = np.asarray(decays, np.float64).reshape(-1, 1)  # (F, 1) decays
    rows, cols = matrix_shape(g.shape)
    g2 = jnp.reshape(g * g, (rows, cols)) + ADAFACTOR_EPS
    keep, mix = jnp.asarray(keep_f, g.dtype), jnp.asarray(1 - keep_f, g.dtype)
    r = mix * jnp.mean(g2, axis=1) + keep * r
    c = mix * jnp.mean(g2, axis=0) + keep * c
    wide = jnp.promote_types(g.dtype, jnp.float32)  # decay**t in at least float32
    correction = (1 - jnp.asarray(keep_f, wide) ** tau.astype(wide)).astype(g.dtype)
    r_hat, c_hat = r / correction, c / correction
    mean_r = jnp.mean(r_hat, axis=1, keepdims=True)[:, :, None]  # (F, 1, 1)
    scale = jnp.where(mean_r > 0, 1 / jnp.where(mean_r > 0, mean_r, 1), 0)
    row = jnp.broadcast_to(r_hat[:, :, None], (len(keep_f), rows, cols))
    col = jnp.broadcast_to(c_hat[:, None, :], (len(keep_f), rows, cols))
    estimate = row * col * scale
    root_f = root_plus_eps(estimate, eps)
    direction = jnp.reshape(g, (1, rows, cols)) / root_f
    return [row, col, estimate, 1 / root_f, direction], r, c


def parameter_scale(p: jax.Array, floor: float) -> jax.Array:
    """max(rms(p), floor) over the last axis of ``p`` (..., n), a leaf's coordinates raveled:
    (..., 1), the scale of ``relative_step``."""
    return jnp.maximum(jnp.sqrt(jnp.mean(jnp.square(p), axis=-1, keepdims=True)), floor)


def _dtype_of(params: Any) -> Any:
    leaves = jax.tree.leaves(params)
    return leaves[0].dtype if leaves else jnp.float32


def loss_features(
    value: jax.Array, stats: jax.Array, count: jax.Array, decays: tuple[float, ...]
) -> tuple[jax.Array, jax.Array]:
    """The loss features of one optimizee (module docstring) and their new statistics: ``value``
    the loss being updated from, ``stats`` (J + 1,) the moving averages of its log and the first
    log loss, ``count`` the index t of the update (at t = 0 every statistic starts at the loss).
    Returns ((J + 1,) features, (J + 1,) statistics), in the dtype of ``stats``."""
    dtype = stats.dtype
    log_loss = jnp.log(jnp.maximum(jax.lax.stop_gradient(value).astype(dtype), LOSS_FLOOR))
    previous = jnp.where(count == 0, log_loss, stats)
    inputs = jnp.tanh(
        (log_loss - previous) / jnp.asarray((1.0,) * len(decays) + (LOSS_PROGRESS_SCALE,), dtype)
    )
    keep = jnp.asarray(decays, dtype)
    averages = keep * previous[:-1] + (1 - keep) * log_loss
    return inputs, jnp.concatenate([averages, previous[-1:]])


def tensor_features(config: TensorFeatureConfig) -> TensorFeatures:
    """The feature map ``config`` describes (module docstring: the maths)."""
    b_m = tuple(float(d) for d in config.momentum_decays)
    b_v = float(config.second_moment_decay)
    b_f = tuple(float(d) for d in config.factored_decays)
    timescales = tuple(float(s) for s in config.timescales)
    b_l = tuple(float(d) for d in config.loss_decays)
    eps, norm_eps = float(config.eps), float(config.normalize_eps)
    factored_names = ("row", "col", "factored", "rsqrt_factored", "grad_rsqrt_factored")
    names = (
        "param",
        "grad",
        *(f"momentum_{_name(b)}" for b in b_m),
        "second_moment",
        "rsqrt_second_moment",
        *(f"momentum_{_name(b)}_rsqrt" for b in b_m),
        *(f"{what}_{_name(b)}" for b in b_f for what in factored_names),
        *(f"tanh_step_{_name(s)}" for s in timescales),
        *(f"loss_vs_ema_{_name(b)}" for b in b_l),
        *(("loss_vs_first",) if b_l else ()),
    )

    def root(x: jax.Array) -> jax.Array:
        return root_plus_eps(x, eps)

    def init(params: Any) -> TensorFeatureState:
        def zeros(
            shape_of: Callable[[jax.Array], tuple[int, ...]],
        ) -> Callable[[jax.Array], jax.Array]:
            return lambda p: jnp.zeros(shape_of(p), p.dtype)

        return TensorFeatureState(
            momenta=jax.tree.map(zeros(lambda p: (len(b_m), *p.shape)), params),
            second_moment=jax.tree.map(jnp.zeros_like, params),
            rows=jax.tree.map(zeros(lambda p: (len(b_f), matrix_shape(p.shape)[0])), params),
            cols=jax.tree.map(zeros(lambda p: (len(b_f), matrix_shape(p.shape)[1])), params),
            loss=jnp.zeros(len(b_l) + 1, _dtype_of(params)) if b_l else (),
        )

    def apply(
        grads: Any, params: Any, state: TensorFeatureState, count: jax.Array, value: Any = None
    ) -> tuple[jax.Array, TensorFeatureState]:
        if params is None:
            raise ValueError(
                "the per-parameter features read the parameters: call "
                "update(grads, state, params) with the params"
            )
        if b_l and value is None:
            raise ValueError(
                "the loss features (loss_decays) read the loss: call "
                "update(grads, state, params, value=loss)"
            )
        g_leaves, structure = jax.tree.flatten(grads)
        treedef: Any = structure  # (jax's stubs leave PyTreeDef's methods untyped)
        if not g_leaves:  # e.g. a group of a partition that no leaf belongs to
            return jnp.zeros((0, len(names))), state
        tau = count + 1
        # Momenta and second moment over the whole tree, as optax.scale_by_adam computes them.
        momenta = [
            optax.tree.update_moment(grads, jax.tree.map(lambda m, k=k: m[k], state.momenta), b, 1)
            for k, b in enumerate(b_m)
        ]
        m_hats = [optax.tree.bias_correction(m, b, tau) for m, b in zip(momenta, b_m)]
        second = optax.tree.update_moment_per_elem_norm(grads, state.second_moment, b_v, 2)
        v_hat = optax.tree.bias_correction(second, b_v, tau)
        per_leaf = [
            treedef.flatten_up_to(t) for t in (params, v_hat, *m_hats, state.rows, state.cols)
        ]
        loss_inputs, loss_state = (
            loss_features(value, state.loss, count, b_l) if b_l else (None, state.loss)
        )
        blocks, rows, cols = [], [], []
        for g, p, v, *rest in zip(g_leaves, *per_leaf):
            *m_hat, r, c = rest
            root_v = root(v)
            feats = [p, g, *m_hat, v, 1 / root_v, *(m / root_v for m in m_hat)]
            x = jnp.stack([jnp.reshape(f, (-1,)) for f in feats], axis=-1)
            if b_f:  # the factored features, (F, 5, n) -> 5 F columns, decay after decay
                per_decay, r, c = factored_features(g, r, c, tau, b_f, eps)
                fac = jnp.reshape(jnp.stack(per_decay, axis=1), (5 * len(b_f), -1))
                x = jnp.concatenate([x, fac.T.astype(x.dtype)], axis=-1)
            x = x.astype(g.dtype)
            if config.normalize:
                x = x / jnp.sqrt(jnp.mean(x * x, axis=0, keepdims=True) + norm_eps)
            progress = jnp.tanh(count.astype(x.dtype) / jnp.asarray(timescales, x.dtype))
            if loss_inputs is not None:
                progress = jnp.concatenate([progress, loss_inputs.astype(x.dtype)])
            progress = jnp.broadcast_to(progress, (x.shape[0], progress.shape[0]))
            blocks.append(jnp.concatenate([x, progress], axis=-1))
            rows.append(r)
            cols.append(c)
        new_state = TensorFeatureState(
            momenta=jax.tree.map(lambda *m: jnp.stack(m), *momenta) if b_m else state.momenta,
            second_moment=second,
            rows=treedef.unflatten(rows),
            cols=treedef.unflatten(cols),
            loss=loss_state,
        )
        return jnp.concatenate(blocks, axis=0), new_state

    return TensorFeatures(names, init, apply)
