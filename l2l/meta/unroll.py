"""Unrolled optimization: an optimizer run on one optimizee instance as a single ``lax.scan``.

This is the inner loop shared by evaluation (plain loss curves) and meta-training (where the
losses of an unroll are differentiated with respect to the optimizer's meta-parameters).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class UnrollState(NamedTuple):
    """What an unroll carries from one optimizee step to the next (and across truncations)."""

    params: Any  # optimizee parameters theta_t
    opt_state: Any  # the optimizer's state
    step: jax.Array  # int32 index t of the optimizee step about to be taken


def start(optimizer: optax.GradientTransformation, task, instance, key) -> UnrollState:
    """theta_0 drawn by ``task.init(key, instance)`` and a fresh optimizer state."""
    params = task.init(key, instance)
    return UnrollState(params, optimizer.init(params), jnp.zeros((), jnp.int32))


def step_key(key: jax.Array, step: jax.Array) -> jax.Array:
    """The key of the minibatch at optimizee step ``step``: one fixed stream per instance."""
    return jax.random.fold_in(key, step)


def optimizee_step(
    optimizer: optax.GradientTransformation,
    task,
    instance,
    state: UnrollState,
    key: jax.Array,
    *,
    stop_gradient_inputs: bool = False,
) -> tuple[UnrollState, jax.Array]:
    """One step theta_{t+1} = theta_t + update(grad f(theta_t)); returns the new state and f(theta_t).

    The optimizer receives, besides the gradient, the extra arguments that optax's line searches
    and our look-ahead optimizers use: ``value``, ``grad``, ``value_fn`` and ``grad_fn`` (the
    latter two evaluate the same minibatch at other points). With ``stop_gradient_inputs`` the
    gradient given to the optimizer is a constant for ``jax.grad`` of anything computed from the
    unroll (Andrychowicz et al., 2016 drop these second derivatives).
    """
    loss_key = step_key(key, state.step)

    def value_fn(p):
        return task.loss(p, instance, loss_key)

    loss, grads = jax.value_and_grad(value_fn)(state.params)
    if stop_gradient_inputs:
        grads = jax.lax.stop_gradient(grads)
    updates, opt_state = optimizer.update(
        grads,
        state.opt_state,
        state.params,
        value=loss,
        grad=grads,
        value_fn=value_fn,
        grad_fn=jax.grad(value_fn),
    )
    params = optax.apply_updates(state.params, updates)
    return UnrollState(params, opt_state, state.step + 1), loss


def unroll(
    optimizer: optax.GradientTransformation,
    task,
    instance,
    state: UnrollState,
    key: jax.Array,
    steps: int,
    *,
    stop_gradient_inputs: bool = False,
    remat: bool = False,
    scan_unroll: int | bool = 1,
) -> tuple[UnrollState, jax.Array]:
    """``steps`` optimizee steps from ``state`` in one ``lax.scan``.

    Returns the final state and the losses f(theta_{s+1}), ..., f(theta_{s+steps}) *after* each
    update (s = ``state.step``), each on the minibatch of its own step index, so that the losses of
    consecutive truncations tile the horizon with no gap and no repeat.

    ``remat`` wraps each step in ``jax.checkpoint``: differentiating the unroll then stores only the
    carried state of every step (the inputs of the step) and recomputes the step's inside in the
    backward pass, instead of storing every intermediate of every step. Same values and gradients;
    the memory of the backward pass falls several-fold (for the 2x20 LSTM, from ~26 to ~5 arrays of
    the size of the LSTM state per step), at the price of one more forward pass of the step.
    ``scan_unroll`` is ``lax.scan``'s ``unroll`` (steps per loop iteration; True: no loop). On CPU
    unrolling is slower; XLA's cost analysis counts a loop's body once, so the benchmark compiles
    short, fully unrolled truncations to count FLOPs.
    """
    if not isinstance(optimizer, optax.GradientTransformationExtraArgs):
        optimizer = optax.with_extra_args_support(optimizer)

    def body(carry, _):
        return optimizee_step(
            optimizer, task, instance, carry, key, stop_gradient_inputs=stop_gradient_inputs
        )

    if remat:
        # prevent_cse=False: inside a scan the loop already keeps XLA from merging the recomputed
        # forward with the stored one (the JAX documentation's advice for checkpoint in scan).
        body = jax.checkpoint(body, prevent_cse=False)
    state, losses_before = jax.lax.scan(body, state, length=steps, unroll=scan_unroll)
    final_loss = task.loss(state.params, instance, step_key(key, state.step))
    losses_after = jnp.concatenate([losses_before[1:], final_loss[None]])
    return state, losses_after


def loss_curve(
    optimizer: optax.GradientTransformation, task, instance, init_key, key, steps: int
) -> jax.Array:
    """f(theta_0), ..., f(theta_steps) of one run from theta_0 = task.init(init_key, instance)."""
    state = start(optimizer, task, instance, init_key)
    first = task.loss(state.params, instance, step_key(key, state.step))
    _, losses = unroll(optimizer, task, instance, state, key, steps)
    return jnp.concatenate([first[None], losses])
