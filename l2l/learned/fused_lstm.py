"""The coordinatewise LSTM of :mod:`l2l.learned`, computed the way meta-training needs it.

Meta-training spends nearly all its time in the LSTM, run once per optimizee step over every
coordinate of every task of the batch (2 x 20 hidden units over 128 x 10 coordinates for the
quadratic config): many small operations, each too small to keep a core busy. This module computes
the *same* function as ``learned.lstm_optimizer(meta_params, config)`` (flax ``OptimizedLSTMCell``
layers, then a linear output) with fewer, larger operations:

- the weights of a layer are fused once per meta-step, outside the unroll, into one matrix
  ``K = [W_x; W_h]`` of shape (inputs + hidden, 4 hidden) with the gate blocks in the order
  (i, f, o, g), and one bias b; the gradient of the unroll then accumulates into that one matrix
  rather than into eight per-gate ones at every step;
- one matmul ``z = [x, h] K + b`` per layer and step, then one sigmoid over the three sigmoid gates
  and one tanh over the candidate:

      c' = sigma(z_f) * c + sigma(z_i) * tanh(z_g),    h' = sigma(z_o) * tanh(c');

- a hand-written backward pass of that elementwise cell (:func:`cell`), which assembles the
  gradient of z in one concatenation (autodiff's version sums four padded copies);
- a *column* layout (:func:`apply_columns`): coordinates on the last, contiguous axis, gates and
  hidden units on the first. Then every gate is a contiguous block, the elementwise work runs over
  long vectors, and concatenating gate gradients is copying blocks. :mod:`l2l.meta.batch_unroll`
  runs the network this way over the coordinates of a whole batch of task instances at once
  (:func:`batched_update`, the fast path meta-training takes).

``matmul_dtype="bfloat16"`` rounds the matmul operands to bfloat16 and accumulates in float32; the
carry and the gates stay in float32 (mixed precision as on TPUs and recent GPUs). The evaluated
optimizer is always the float32 flax one (``learned.lstm_optimizer``).
Hochreiter & Schmidhuber, 1997; Andrychowicz et al., 2016.
"""

from __future__ import annotations

from functools import partial
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax

from l2l.learned.architectures import BatchedUpdate
from l2l.learned.coordinatewise import LSTMOptimizerState, coordinatewise_optimizer
from l2l.learned.features import make_features

GATES = "ifog"  # the fused column order: the three sigmoid gates first, then the tanh candidate
# None: the matmul runs in the dtype of the carry (float32, or float64 under jax.enable_x64).
MATMUL_DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}


class FusedLayer(NamedTuple):
    kernel: jax.Array  # (inputs + hidden, 4 * hidden): [W_x; W_h], column blocks i, f, o, g
    bias: jax.Array  # (4 * hidden,)


class FusedWeights(NamedTuple):
    """The weights of a ``learned.CoordinatewiseLSTM``, one matrix per layer."""

    layers: tuple[FusedLayer, ...]
    output_kernel: jax.Array  # (hidden, 1)
    output_bias: jax.Array  # (1,)


def fuse(meta_params, config) -> FusedWeights:
    """Rearrange the flax parameters of ``config.network`` into :class:`FusedWeights`.

    Differentiable (concatenations only), so the meta-gradient flows back to ``meta_params``.
    """
    try:
        params = meta_params["params"]
        layers = []
        for i, _ in enumerate(config.hidden_sizes):
            p = params[f"lstm_{i}"]
            w_x = jnp.concatenate([p[f"i{g}"]["kernel"] for g in GATES], axis=-1)
            w_h = jnp.concatenate([p[f"h{g}"]["kernel"] for g in GATES], axis=-1)
            bias = jnp.concatenate([p[f"h{g}"]["bias"] for g in GATES], axis=-1)
            layers.append(FusedLayer(jnp.concatenate([w_x, w_h], axis=0), bias))
        output = params["output"]
        return FusedWeights(tuple(layers), output["kernel"], output["bias"])
    except (KeyError, TypeError) as err:
        raise ValueError(
            "fused_lstm: these meta-parameters are not those of a learned.CoordinatewiseLSTM "
            f"with hidden_sizes {tuple(config.hidden_sizes)} (missing {err}); build them with "
            "learned.init_meta_params(key, config)"
        ) from None


def matmul_dtype_of(name: Literal["float32", "bfloat16"]):
    if name not in MATMUL_DTYPES:
        raise ValueError(
            f"fused_lstm: matmul_dtype must be one of {sorted(MATMUL_DTYPES)}, got {name!r}"
        )
    return MATMUL_DTYPES[name]


# --------------------------------------------------------------------------- the elementwise cell


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def cell(z: jax.Array, c: jax.Array, axis: int = -1):
    """The elementwise part of an LSTM step: gate pre-activations z with the 4h gate units (in the
    order i, f, o, g) along ``axis`` and the cell state c (h units along ``axis``) -> (c', h')."""
    return _cell_forward(z, c, axis)[0]


def _cell_forward(z, c, axis):
    size = c.shape[axis]
    part = partial(jax.lax.slice_in_dim, axis=axis)
    gates = jax.nn.sigmoid(part(z, 0, 3 * size))
    i, f, o = (part(gates, k * size, (k + 1) * size) for k in range(3))
    g = jnp.tanh(part(z, 3 * size, 4 * size))
    c_new = f * c + i * g
    tanh_c = jnp.tanh(c_new)
    return (c_new, o * tanh_c), (i, f, o, g, c, tanh_c)


def _cell_backward(axis, residuals, cotangents):
    i, f, o, g, c, tanh_c = residuals
    dc_new, dh = cotangents
    dc_new = dc_new + dh * o * (1 - tanh_c**2)
    dz = jnp.concatenate(
        [
            dc_new * g * i * (1 - i),
            dc_new * c * f * (1 - f),
            dh * tanh_c * o * (1 - o),
            dc_new * i * (1 - g**2),
        ],
        axis=axis,
    )
    return dz, dc_new * f


cell.defvjp(_cell_forward, _cell_backward)


# --------------------------------------------------------------------------- the network


def apply(weights: FusedWeights, carry, inputs, matmul_dtype=None):
    """One step of the stacked LSTM over n coordinates in the row layout of ``learned``:
    ``carry`` ((c, h) per layer, each (n, hidden)), ``inputs`` (n, num_inputs) -> (new carry,
    output (n,)). ``matmul_dtype`` (e.g. ``jnp.bfloat16``) rounds the matmul operands."""
    x = inputs
    new_carry = []
    for layer, (c, h) in zip(weights.layers, carry):
        xh, kernel = _operands(jnp.concatenate([x, h], axis=-1), layer.kernel, matmul_dtype)
        z = jnp.dot(xh, kernel, preferred_element_type=c.dtype) + layer.bias.astype(c.dtype)
        c, h = cell(z, c, -1)
        new_carry.append((c, h))
        x = h
    out = jnp.dot(x, weights.output_kernel.astype(x.dtype)) + weights.output_bias.astype(x.dtype)
    return tuple(new_carry), out[..., 0]


def apply_columns(weights: FusedWeights, carry, inputs, matmul_dtype=None):
    """:func:`apply` in the column layout: ``carry`` ((c, h) per layer, each (hidden, n)),
    ``inputs`` (num_inputs, n) -> (new carry, output (n,)). ``weights`` as :func:`transposed`
    makes them (each kernel (4 hidden, inputs + hidden), so every matmul is a plain K [x; h])."""
    x = inputs
    new_carry = []
    for layer, (c, h) in zip(weights.layers, carry):
        xh, kernel = _operands(jnp.concatenate([x, h], axis=0), layer.kernel, matmul_dtype)
        z = jnp.matmul(kernel, xh, preferred_element_type=c.dtype)  # (4h, n)
        c, h = cell(z + layer.bias.astype(c.dtype)[:, None], c, 0)
        new_carry.append((c, h))
        x = h
    out = jnp.matmul(weights.output_kernel.astype(x.dtype), x)
    return tuple(new_carry), out[0] + weights.output_bias.astype(x.dtype)


def transposed(weights: FusedWeights) -> FusedWeights:
    """The weights of :func:`apply_columns`: every kernel transposed. Done once per meta-step,
    outside the unroll, so that no matmul inside it contracts the first axis of its weights (on
    CPU XLA runs K^T x several times slower than K x)."""
    return FusedWeights(
        tuple(FusedLayer(layer.kernel.T, layer.bias) for layer in weights.layers),
        weights.output_kernel.T,
        weights.output_bias,
    )


def _operands(xh, kernel, matmul_dtype):
    if matmul_dtype is None:
        return xh, kernel
    return xh.astype(matmul_dtype), kernel.astype(matmul_dtype)


def fused_lstm_optimizer(
    meta_params,
    config,
    matmul_dtype: Literal["float32", "bfloat16"] = "float32",
) -> optax.GradientTransformationExtraArgs:
    """``learned.lstm_optimizer(meta_params, config)``, computed with fused gates (row layout).

    The state (one (c, h) per layer and coordinate, the feature state) has the same layout as that
    of ``learned.lstm_optimizer``, so states of the two are interchangeable.
    """
    dtype = matmul_dtype_of(matmul_dtype)
    weights = fuse(meta_params, config)
    return coordinatewise_optimizer(
        lambda carry, inputs: apply(weights, carry, inputs, dtype),
        config.network.initial_carry,
        make_features(config.features),
        config.output_scale,
    )


# --------------------------------------------------------------------------- whole batches


def to_columns(lstm) -> tuple:
    """((c, h) per layer, each (B, n, hidden)) -> each (hidden, B * n)."""
    return jax.tree.map(lambda a: a.reshape(-1, a.shape[-1]).T, lstm)


def from_columns(lstm, batch: int) -> tuple:
    """The inverse of :func:`to_columns`."""
    return jax.tree.map(lambda a: a.T.reshape(batch, -1, a.shape[0]), lstm)


def batched_update(config, matmul_dtype: Literal["float32", "bfloat16"] = "float32"):
    """The LSTM optimizer over the coordinates of a whole batch of instances at once.

    The input features are applied per instance (``vmap``, so features of any kind, including ones
    that look at all the coordinates of an instance, mean what they mean); the network, which is
    coordinatewise by construction (each coordinate a row of its own, the weights shared), runs
    once over all B x n coordinates in the column layout of :func:`apply_columns`. The update of
    coordinate i is what :func:`l2l.learned.coordinatewise_optimizer` makes of it:

        inputs, feature_state, scale = features.apply(g, feature_state)     (per instance)
        out = LSTM(inputs)                                                  (all coordinates)
        update = output_scale * scale * out; feature_state = features.observe(...) if any.

    The state at the boundaries is exactly that of the vmapped transform
    (:class:`l2l.learned.LSTMOptimizerState` with a leading instance axis).
    """
    dtype = matmul_dtype_of(matmul_dtype)
    features = make_features(config.features)
    output_scale = config.output_scale

    def to_carry(opt_state):
        return (to_columns(opt_state.lstm), opt_state.features, opt_state.count)

    def step(weights, carry, flat_g, flat_params, losses=None):
        del losses  # the LSTM does not read the loss
        del flat_params  # the LSTM's features read the gradient only
        lstm, feature_state, count = carry
        inputs, feature_state, scale = jax.vmap(features.apply)(flat_g, feature_state)
        inputs = inputs.astype(flat_g.dtype).reshape(-1, inputs.shape[-1]).T  # (k, B * n)
        lstm, out = apply_columns(weights, lstm, inputs, dtype)
        out = out.reshape(flat_g.shape)
        update = output_scale * jax.vmap(jnp.multiply)(scale, out)
        if features.observe is not None:
            feature_state = jax.vmap(features.observe)(update, output_scale * out, feature_state)
        return (lstm, feature_state, count + 1), update

    def from_carry(carry, like):
        lstm, feature_state, count = carry
        batch = jax.tree.leaves(like.lstm)[0].shape[0]
        return LSTMOptimizerState(from_columns(lstm, batch), feature_state, count)

    def prepare(meta_params):
        return transposed(fuse(meta_params, config))

    return BatchedUpdate(prepare, to_carry, step, from_carry)
