"""Unrolling a learned optimizer on a whole batch of task instances in one ``lax.scan``.

``jax.vmap`` of :func:`l2l.unroll.unroll` over B task instances runs the optimizer's network once
per instance, as many small operations. An architecture may offer a faster way to compute the same
updates (:meth:`l2l.learned.LearnedOptimizerConfig.batched_update`: for the coordinatewise LSTM,
one matmul over all B x n coordinates in a column layout); here the task's loss and gradient are
still taken per instance (``vmap``), and the update rule over the whole batch at once. An
architecture without a fast path is unrolled by the ``vmap`` of :func:`l2l.unroll.unroll`.

The carried state, at the boundaries, is exactly that of the vmapped unroll (optimizee
parameters, the optimizer state with a leading instance axis, step), so the two are
interchangeable; tests/meta/test_batch_unroll.py checks equality for every feature kind.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from l2l import unroll as unroll_lib
from l2l.learned import LearnedOptimizerConfig


def unroll(
    meta_params,
    config: LearnedOptimizerConfig,
    task,
    instances,
    state: unroll_lib.UnrollState,
    keys: jax.Array,
    steps: int,
    *,
    stop_gradient_inputs: bool = False,
    remat: bool = False,
    scan_unroll: int | bool = 1,
    matmul_dtype: str = "float32",
) -> tuple[unroll_lib.UnrollState, jax.Array]:
    """``steps`` optimizee steps of the learned optimizer ``meta_params`` on B task instances.

    Args:
      instances, state, keys: batched over the B instances (leading axis), as for
        ``jax.vmap(l2l.unroll.unroll)``; ``keys`` are the minibatch-stream keys.
      stop_gradient_inputs, remat, scan_unroll: as in :func:`l2l.unroll.unroll`.
      matmul_dtype: ``"float32"``, or ``"bfloat16"`` for the network's matmul operands (where the
        architecture's fast path supports it).

    Returns the final (batched) state and the losses (B, steps) after each update, equal to those
    of ``jax.vmap`` of :func:`l2l.unroll.unroll` with ``config.optimizer(meta_params)``.
    """
    rule = config.batched_update(matmul_dtype)
    if rule is None:
        optimizer = config.training_optimizer(meta_params, matmul_dtype)

        def one(instance, ustate, key):
            return unroll_lib.unroll(
                optimizer,
                task,
                instance,
                ustate,
                key,
                steps,
                stop_gradient_inputs=stop_gradient_inputs,
                remat=remat,
                scan_unroll=scan_unroll,
            )

        return jax.vmap(one)(instances, state, keys)

    weights = rule.prepare(meta_params)
    batch = jax.tree.leaves(state.params)[0].shape[0]
    _, unravel = ravel_pytree(jax.tree.map(lambda a: a[0], state.params))

    def body(carry, _):
        params, opt_carry, step = carry
        loss_keys = jax.vmap(unroll_lib.step_key)(keys, step)
        losses, grads = jax.vmap(jax.value_and_grad(task.loss))(params, instances, loss_keys)
        if stop_gradient_inputs:
            grads = jax.lax.stop_gradient(grads)
        flat_g = jax.vmap(lambda g: ravel_pytree(g)[0])(grads)  # (B, n)
        opt_carry, update = rule.step(weights, opt_carry, flat_g)
        params = jax.vmap(lambda p, u: optax.apply_updates(p, unravel(u)))(params, update)
        return (params, opt_carry, step + 1), losses

    if remat:
        body = jax.checkpoint(body, prevent_cse=False)
    carry = (state.params, rule.to_carry(state.opt_state), state.step)
    (params, opt_carry, step), losses_before = jax.lax.scan(
        body, carry, length=steps, unroll=scan_unroll
    )
    final = jax.vmap(task.loss)(params, instances, jax.vmap(unroll_lib.step_key)(keys, step))
    losses = jnp.concatenate([losses_before[1:], final[None]]).T  # (B, steps)
    return unroll_lib.UnrollState(params, rule.from_carry(opt_carry, batch), step), losses
