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
    fast: bool = True,
) -> tuple[unroll_lib.UnrollState, jax.Array]:
    """``steps`` optimizee steps of the learned optimizer ``meta_params`` on B task instances.

    Args:
      instances, state, keys: batched over the B instances (leading axis), as for
        ``jax.vmap(l2l.unroll.unroll)``; ``keys`` are the minibatch-stream keys.
      stop_gradient_inputs, remat, scan_unroll: as in :func:`l2l.unroll.unroll`.
      matmul_dtype: ``"float32"``, or ``"bfloat16"`` for the network's matmul operands (where the
        architecture's fast path supports it).
      fast: take the architecture's fast path where it has one; False: always the ``vmap`` of
        :func:`l2l.unroll.unroll` (for comparisons).

    Returns the final (batched) state and the losses (B, steps) after each update, equal to those
    of ``jax.vmap`` of :func:`l2l.unroll.unroll` with ``config.optimizer(meta_params)``.
    """
    rule = config.batched_update(matmul_dtype) if fast else None
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
    _, unravel = ravel_pytree(jax.tree.map(lambda a: a[0], state.params))

    def flat_loss(flat_params, instance, key):
        return task.loss(unravel(flat_params), instance, key)

    value_and_grad = jax.value_and_grad(flat_loss)
    if stop_gradient_inputs:
        value_and_grad = first_order(value_and_grad)

    def body(carry, _):
        params, opt_carry, step = carry
        loss_keys = jax.vmap(unroll_lib.step_key)(keys, step)
        losses, grads = jax.vmap(value_and_grad)(params, instances, loss_keys)  # (B,), (B, n)
        opt_carry, update = rule.step(weights, opt_carry, grads, params, losses)
        return (params + update, opt_carry, step + 1), losses

    if remat:
        body = jax.checkpoint(body, prevent_cse=False)
    flat = jax.vmap(lambda p: ravel_pytree(p)[0])(state.params)  # (B, n)
    carry = (flat, rule.to_carry(state.opt_state), state.step)
    (flat, opt_carry, step), losses_before = jax.lax.scan(
        body, carry, length=steps, unroll=scan_unroll
    )
    final = jax.vmap(flat_loss)(flat, instances, jax.vmap(unroll_lib.step_key)(keys, step))
    losses = jnp.concatenate([losses_before[1:], final[None]]).T  # (B, steps)
    params = jax.vmap(unravel)(flat)
    return unroll_lib.UnrollState(params, rule.from_carry(opt_carry, state.opt_state), step), losses


def first_order(value_and_grad):
    """``value_and_grad(params, *args) -> (f, g)`` for first-order meta-training: ``g`` is a
    constant (``stop_gradient``), and the derivative of ``f`` with respect to ``params`` is ``g``,
    the gradient already computed, instead of a second backward pass through the task (the
    arguments after ``params``, task instances and keys, are data: no derivative flows to them).
    Same values, and the same meta-gradient as ``stop_gradient`` of the gradient alone."""

    def wrapped(params, *args):
        value, grads = value_and_grad(jax.lax.stop_gradient(params), *args)
        return _with_gradient(value, grads, params), grads

    return wrapped


@jax.custom_jvp
def _with_gradient(value, grads, params):
    """``value``, whose derivative with respect to ``params`` is ``grads`` (a pytree like them)."""
    del grads, params
    return value


@_with_gradient.defjvp
def _with_gradient_jvp(primals, tangents):
    value, grads, _ = primals
    d_params = tangents[2]
    slope = sum(
        jnp.vdot(g, d).astype(value.dtype)
        for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(d_params))
    )
    return value, slope
