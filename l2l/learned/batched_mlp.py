r"""The per-parameter MLP optimizer (:mod:`l2l.learned.mlp_optimizer`) over a whole batch of task
instances at once: the fast path meta-training takes (:meth:`MLPOptimizerConfig.batched_update`,
:class:`l2l.learned.BatchedUpdate`).

It computes the same function as ``jax.vmap`` of ``learned.mlp_optimizer(meta_params, config)``
(the features of :mod:`l2l.learned.tensor_features`, the MLP, the update
:math:`u = -\eta_{\text{step}} d \exp(\eta_{\text{exp}} s)`) with fewer, larger operations:

- a *column* layout: the gradient, parameters and accumulators of every leaf of every instance
  are one flat (B, n) array, and each feature one row of a (features, B n) matrix, so the
  elementwise accumulators (momenta, second moment) run once over all coordinates, each feature is
  a contiguous row, and the network is one matmul per layer over all B n coordinates,
  ``z = W^T x``; only Adafactor's row and column statistics and the normalization over each
  tensor look at one leaf at a time (static slices);
- the training-progress features :math:`\tanh(t / T_l)` (and the loss features, where there are
  any) are the same for every coordinate of an instance: their part of the first layer is a bias
  per instance, :math:`W_{\text{prog}}^T \tanh(t / T)`, instead of 9 more rows of every
  coordinate's input;
- the first layer's matmul leaves out the parameter row, added as an outer product
  :math:`w_p \, \tilde p^T`: in first-order meta-training (the gradient fed to the optimizer is a
  constant) the parameter is the only input the meta-gradient flows back through, so the
  backward pass computes the gradient of that one row rather than of all 29.

``matmul_dtype="bfloat16"`` rounds the matmul operands to bfloat16 (float32 accumulation), as the
fused LSTM does. The state at the boundaries is exactly :class:`l2l.learned.MLPOptimizerState`
with a leading instance axis, so the two paths are interchangeable
(tests/learned/test_batched_mlp.py checks states, updates and meta-gradients against the vmap
path). Metz et al., 2022.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from l2l.learned.architectures import BatchedUpdate
from l2l.learned.fused_lstm import matmul_dtype_of
from l2l.learned.tensor_features import (
    TensorFeatureState,
    factored_features,
    loss_features,
    parameter_scale,
    root_plus_eps,
    tensor_features,
)

#: Leaves of at least this many coordinates (per instance) get a network call of their own.
LARGE = 2048


class Layer(NamedTuple):
    """One layer of the network, its kernel transposed: z = kernel_t x + bias for columns x."""

    kernel_t: jax.Array  # (outputs, inputs)
    bias: jax.Array  # (outputs,)


class Weights(NamedTuple):
    """The MLP's weights as the fast step uses them (:func:`prepare`)."""

    param: jax.Array  # (hidden, 1): the first layer's column of the parameter feature
    inputs: Layer  # the first layer's columns of the other per-coordinate features, its bias
    progress: jax.Array  # (hidden, L): its columns of the progress features (tanh(t / T), loss)
    layers: tuple[Layer, ...]  # the other layers, the output layer last


def prepare(meta_params, num_inputs: int) -> Weights:
    """Split and transpose the weights of :func:`l2l.learned.mlp_optimizer.init_mlp` once per
    meta-step, outside the unroll (so that every matmul inside it is a plain ``W x``).
    ``num_inputs``: the number of per-coordinate features after the parameter."""
    names = [f"hidden_{i}" for i in range(len(meta_params) - 1)] + ["output"]
    kernels = [meta_params[name]["kernel"].T for name in names]
    biases = [meta_params[name]["bias"] for name in names]
    first = kernels[0]
    return Weights(
        first[:, :1],
        Layer(first[:, 1 : 1 + num_inputs], biases[0]),
        first[:, 1 + num_inputs :],
        tuple(Layer(k, b) for k, b in zip(kernels[1:], biases[1:])),
    )


def _matmul(w_t: jax.Array, x: jax.Array, dtype) -> jax.Array:
    """W x: (h, k) weights and (k, N) columns -> (h, N), accumulated in the dtype of x."""
    out_dtype = x.dtype
    w_t = w_t.astype(out_dtype)
    if dtype is not None:
        w_t, x = w_t.astype(dtype), x.astype(dtype)
    return jnp.matmul(w_t, x, preferred_element_type=out_dtype)


def batched_update(config, matmul_dtype: Literal["float32", "bfloat16"] = "float32"):
    """The MLP optimizer ``config`` (an :class:`l2l.learned.MLPOptimizerConfig`) over the flat
    (B, n) gradients and parameters of B instances: a :class:`l2l.learned.BatchedUpdate`.

    The carry is (momenta (B, K, n), second moment (B, n), rows (one (B, F, R) per leaf), columns
    (one (B, F, C) per leaf), count (B,), loss statistics (B, J + 1) or ()); the leaves' sizes
    and matrix shapes are read off the row and column accumulators, so one compiled step serves
    any params pytree.
    """
    dtype = matmul_dtype_of(matmul_dtype)
    f = config.features
    b_m = tuple(float(d) for d in f.momentum_decays)
    b_v = float(f.second_moment_decay)
    b_f = tuple(float(d) for d in f.factored_decays)
    timescales = tuple(float(s) for s in f.timescales)
    b_l = tuple(float(d) for d in f.loss_decays)
    eps, norm_eps = float(f.eps), float(f.normalize_eps)
    step_mult, exp_mult = config.step_mult, config.exp_mult
    relative_floor = config.relative_floor if config.relative_step else None
    names = tensor_features(f).names

    def to_carry(opt_state):
        fs = opt_state.features
        momenta = jax.tree.leaves(fs.momenta)  # each (B, K, *shape)
        batch = opt_state.count.shape[0]
        return (
            jnp.concatenate([m.reshape(batch, len(b_m), -1) for m in momenta], axis=-1),
            jnp.concatenate([v.reshape(batch, -1) for v in jax.tree.leaves(fs.second_moment)], -1),
            tuple(jax.tree.leaves(fs.rows)),
            tuple(jax.tree.leaves(fs.cols)),
            opt_state.count,
            fs.loss,  # (B, J + 1), or () without loss features
        )

    def from_carry(carry, like):
        momenta, second, rows, cols, count, loss = carry
        fs = like.features
        leaves, treedef = jax.tree.flatten(fs.second_moment)  # each (B, *shape)
        bounds = _bounds([math.prod(v.shape[1:]) for v in leaves])
        state = TensorFeatureState(
            momenta=treedef.unflatten(
                [
                    momenta[:, :, a:b].reshape(v.shape[0], len(b_m), *v.shape[1:])
                    for (a, b), v in zip(bounds, leaves)
                ]
            ),
            second_moment=treedef.unflatten(
                [second[:, a:b].reshape(v.shape) for (a, b), v in zip(bounds, leaves)]
            ),
            rows=treedef.unflatten(list(rows)),
            cols=treedef.unflatten(list(cols)),
            loss=loss,
        )
        return type(like)(state, count)

    def factored(g, r, c, tau):
        return factored_features(g, r, c, tau, b_f, eps)

    def step(weights, carry, g, p, losses=None):
        momenta, second, rows, cols, count, loss = carry
        if b_l and losses is None:
            raise ValueError("the loss features (loss_decays) read the losses: pass them")
        tau = count + 1  # (B,)
        wide = jnp.promote_types(g.dtype, jnp.float32)

        def corrected(moment, decay):  # optax.tree.bias_correction, per instance
            return moment / (1 - decay ** tau.astype(wide)).astype(g.dtype)[:, None]

        # The elementwise accumulators, over every coordinate of every leaf (optax's moments).
        new_m = [(1 - b) * g + b * momenta[:, k] for k, b in enumerate(b_m)]
        second = (1 - b_v) * g**2 + b_v * second
        m_hat = [corrected(m, b) for m, b in zip(new_m, b_m)]
        v_hat = corrected(second, b_v)
        root_v = root_plus_eps(v_hat, eps)
        dense = [p, g, *m_hat, v_hat, 1 / root_v, *(m / root_v for m in m_hat)]  # each (B, n)

        # Adafactor's statistics and the normalization, one leaf (a static slice) at a time; the
        # network over groups of leaves (a large leaf alone, the small ones together).
        sizes = [r.shape[-1] * c.shape[-1] for r, c in zip(rows, cols)]
        bounds = _bounds(sizes)
        new_rows, new_cols, params_n, inputs = [], [], [], []
        for (a, b), r, c in zip(bounds, rows, cols):
            x = [d[:, a:b] for d in dense[1:]]
            if b_f:
                g_leaf = g[:, a:b].reshape(-1, r.shape[-1], c.shape[-1])
                fac, r, c = jax.vmap(factored)(g_leaf, r, c, tau)  # fac: five (B, F, R, C)
                x += [fac[k][:, j].reshape(len(g), -1) for j in range(len(b_f)) for k in range(5)]
            x = jnp.stack(x)  # (features but the parameter, B, n_leaf)
            p_leaf = p[:, a:b]
            if f.normalize:
                x = _normalized(x, norm_eps)
                p_leaf = _normalized(p_leaf, norm_eps)
            params_n.append(p_leaf)
            inputs.append(x)
            new_rows.append(r)
            new_cols.append(c)

        times = jnp.asarray(timescales, g.dtype)[:, None]
        progress = jnp.tanh(count.astype(g.dtype)[None, :] / times)  # (L, B)
        if b_l:  # the loss features, per instance: (J + 1, B) more progress rows
            loss_inputs, loss = jax.vmap(lambda v, st, c: loss_features(v, st, c, b_l))(
                losses, loss, count
            )
            progress = jnp.concatenate([progress, loss_inputs.T.astype(g.dtype)])
        shift = (
            _matmul(weights.progress, progress, None) + weights.inputs.bias.astype(g.dtype)[:, None]
        )

        def network(p_n, x):
            """The MLP's (direction, log-magnitude) of (B, m) normalized parameters and their
            (num_inputs, B, m) other inputs: two (B, m) arrays."""
            batch, m = p_n.shape
            z = _matmul(weights.inputs.kernel_t, x.reshape(x.shape[0], batch * m), dtype)
            # The parameter row as a matmul of inner size 1 (its transposes are matmuls too).
            z = z + _matmul(weights.param, p_n.reshape(1, batch * m), dtype)
            z = (z.reshape(-1, batch, m) + shift[:, :, None]).reshape(-1, batch * m)
            for w in weights.layers:
                z = _matmul(w.kernel_t, jax.nn.relu(z), dtype) + w.bias.astype(g.dtype)[:, None]
            return z[0].reshape(batch, m), z[1].reshape(batch, m)

        pieces = [None] * len(sizes)
        for group in _groups(sizes):
            joined = len(group) > 1
            p_n = (
                jnp.concatenate([params_n[i] for i in group], -1) if joined else params_n[group[0]]
            )
            x = jnp.concatenate([inputs[i] for i in group], -1) if joined else inputs[group[0]]
            direction, log_magnitude = network(p_n, x)
            update = -(step_mult * direction * jnp.exp(exp_mult * log_magnitude))
            start = 0
            for i in group:
                pieces[i] = update[:, start : start + sizes[i]]
                start += sizes[i]
        if config.fan_in_scaling:  # each leaf's step over the root of its rows (its fan-in)
            pieces = [u / math.sqrt(r.shape[-1]) for u, r in zip(pieces, rows)]
        if relative_floor is not None:  # relative_step: each leaf's step times its scale
            pieces = [
                u * parameter_scale(p[:, a:b], relative_floor).astype(u.dtype)
                for u, (a, b) in zip(pieces, bounds)
            ]
        update = jnp.concatenate(pieces, -1) if len(pieces) > 1 else pieces[0]
        carry = (
            jnp.stack(new_m, axis=1) if b_m else momenta,
            second,
            tuple(new_rows),
            tuple(new_cols),
            count + 1,
            loss,
        )
        return carry, update.astype(p.dtype)

    num_inputs = len(names) - 1 - len(timescales) - (len(b_l) + 1 if b_l else 0)

    def prepared(meta_params):
        return prepare(meta_params, num_inputs)

    return BatchedUpdate(prepared, to_carry, step, from_carry)


def _normalized(x: jax.Array, eps: float) -> jax.Array:
    """x / sqrt(mean(x^2) + eps) over the last axis (one leaf's coordinates)."""
    return x / jnp.sqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps)


def _groups(sizes: list[int]) -> list[list[int]]:
    """The leaves the network runs over together: each leaf of at least :data:`LARGE`
    coordinates alone, all the smaller ones in one group (joining them costs little)."""
    large = [[i] for i, size in enumerate(sizes) if size >= LARGE]
    small = [i for i, size in enumerate(sizes) if size < LARGE]
    return large + ([small] if small else [])


def _bounds(sizes: list[int]) -> list[tuple[int, int]]:
    ends = [0]
    for size in sizes:
        ends.append(ends[-1] + size)
    return list(itertools.pairwise(ends))
