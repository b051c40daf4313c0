"""Unrolling the learned LSTM optimizer on a whole batch of task instances in one ``lax.scan``.

``jax.vmap`` of :func:`l2l.meta.unroll.unroll` over B task instances computes the LSTM for the
B x n coordinates as a (B, n, 4h) array whose last axis holds the gates: every gate a short strided
slice, every elementwise operation short vectors. Here the same optimizee steps are taken with the
task (loss, gradient) and the input features still applied per instance (``vmap``, so features of
any kind, including ones that look at all the coordinates of an instance, mean what they mean), but
the network, which is coordinatewise by construction (each coordinate a row of its own, the
weights shared), runs once over all B x n coordinates in the column layout of
:func:`l2l.meta.fused_lstm.apply_columns`. The update of coordinate i is what
``learned.coordinatewise_optimizer`` makes of it:

    inputs, feature_state, scale = features.apply(g, feature_state)     (per instance)
    out = LSTM(inputs)                                                  (all coordinates at once)
    update = output_scale * scale * out; feature_state = features.observe(update, ...) if any.

The carried state, at the boundaries, is exactly that of the vmapped unroll (optimizee parameters,
``learned.LSTMOptimizerState`` with a leading instance axis, step), so the two are interchangeable;
tests/meta/test_batch_unroll.py checks equality for every feature kind in ``learned.FEATURES``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from l2l import learned
from l2l.meta import fused_lstm
from l2l.meta import unroll as unroll_lib


def to_columns(lstm) -> tuple:
    """((c, h) per layer, each (B, n, hidden)) -> each (hidden, B * n)."""
    return jax.tree.map(lambda a: a.reshape(-1, a.shape[-1]).T, lstm)


def from_columns(lstm, batch: int) -> tuple:
    """The inverse of :func:`to_columns`."""
    return jax.tree.map(lambda a: a.T.reshape(batch, -1, a.shape[0]), lstm)


def unroll(
    meta_params,
    config: learned.LSTMOptimizerConfig,
    task,
    instances,
    state: unroll_lib.UnrollState,
    keys: jax.Array,
    steps: int,
    *,
    stop_gradient_inputs: bool = False,
    remat: bool = False,
    scan_unroll: int | bool = 1,
    matmul_dtype=None,
) -> tuple[unroll_lib.UnrollState, jax.Array]:
    """``steps`` optimizee steps of the LSTM optimizer ``meta_params`` on B task instances.

    Args:
      instances, state, keys: batched over the B instances (leading axis), as for
        ``jax.vmap(l2l.meta.unroll.unroll)``; ``keys`` are the minibatch-stream keys.
      stop_gradient_inputs, remat, scan_unroll: as in :func:`l2l.meta.unroll.unroll`.
      matmul_dtype: None, or e.g. ``jnp.bfloat16`` for the LSTM's matmul operands.

    Returns the final (batched) state and the losses (B, steps) after each update, equal to those
    of ``jax.vmap`` of :func:`l2l.meta.unroll.unroll` with ``learned.lstm_optimizer``.
    """
    weights = fused_lstm.fuse(meta_params, config)
    features = learned.make_features(config.features)
    output_scale = config.output_scale
    batch = jax.tree.leaves(state.params)[0].shape[0]
    _, unravel = ravel_pytree(jax.tree.map(lambda a: a[0], state.params))
    opt_state = state.opt_state

    def body(carry, _):
        params, lstm, feature_state, count, step = carry
        loss_keys = jax.vmap(unroll_lib.step_key)(keys, step)
        losses, grads = jax.vmap(jax.value_and_grad(task.loss))(params, instances, loss_keys)
        if stop_gradient_inputs:
            grads = jax.lax.stop_gradient(grads)
        flat_g = jax.vmap(lambda g: ravel_pytree(g)[0])(grads)  # (B, n)
        inputs, feature_state, scale = jax.vmap(features.apply)(flat_g, feature_state)
        inputs = inputs.astype(flat_g.dtype).reshape(-1, inputs.shape[-1]).T  # (k, B * n)
        lstm, out = fused_lstm.apply_columns(weights, lstm, inputs, matmul_dtype)
        out = out.reshape(flat_g.shape)
        update = output_scale * jax.vmap(jnp.multiply)(scale, out)
        if features.observe is not None:
            feature_state = jax.vmap(features.observe)(update, output_scale * out, feature_state)
        params = jax.vmap(lambda p, u: optax.apply_updates(p, unravel(u)))(params, update)
        return (params, lstm, feature_state, count + 1, step + 1), losses

    if remat:
        body = jax.checkpoint(body, prevent_cse=False)
    carry = (
        state.params,
        to_columns(opt_state.lstm),
        opt_state.features,
        opt_state.count,
        state.step,
    )
    (params, lstm, feature_state, count, step), losses_before = jax.lax.scan(
        body, carry, length=steps, unroll=scan_unroll
    )
    final = jax.vmap(task.loss)(params, instances, jax.vmap(unroll_lib.step_key)(keys, step))
    losses = jnp.concatenate([losses_before[1:], final[None]]).T  # (B, steps)
    opt_state = learned.LSTMOptimizerState(from_columns(lstm, batch), feature_state, count)
    return unroll_lib.UnrollState(params, opt_state, step), losses
