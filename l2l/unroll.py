"""Unrolled optimization: any optimizer run on task instances as a single ``lax.scan``.

The one loop that runs an optimizer on a task, shared by everything above it: evaluation and
baseline tuning (loss curves of a batch of instances, :func:`loss_curves`), meta-training (the
losses of a truncation differentiated with respect to the optimizer's meta-parameters,
:func:`unroll`), races on 2-D surfaces and hyperoptimizer experiments (what the run went through,
step by step, :func:`trajectory`).

Instances are drawn from keys (:func:`instance_keys`): each instance of a set has a sample key, an
init key and the key of its minibatch stream, so the same (seed, set) always gives the same
instances, initial points and minibatches, whatever else runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l._streams import STREAMS as STREAMS  # re-exported: l2l.unroll.STREAMS
from l2l._streams import stream_key as stream_key


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
    """One step theta_{t+1} = theta_t + update(grad f(theta_t)); returns the new state, f(theta_t).

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


def _scan(
    optimizer,
    task,
    instance,
    state: UnrollState,
    key: jax.Array,
    steps: int,
    *,
    observe: Callable[[UnrollState], Any] | None = None,
    stop_gradient_inputs: bool = False,
    remat: bool = False,
    scan_unroll: int | bool = 1,
):
    if not isinstance(optimizer, optax.GradientTransformationExtraArgs):
        optimizer = optax.with_extra_args_support(optimizer)

    def body(carry, _):
        new, loss = optimizee_step(
            optimizer, task, instance, carry, key, stop_gradient_inputs=stop_gradient_inputs
        )
        return new, (loss if observe is None else (loss, observe(new)))

    if remat:
        # prevent_cse=False: inside a scan the loop already keeps XLA from merging the recomputed
        # forward with the stored one (the JAX documentation's advice for checkpoint in scan).
        body = jax.checkpoint(body, prevent_cse=False)
    return jax.lax.scan(body, state, length=steps, unroll=scan_unroll)


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
    state, losses_before = _scan(
        optimizer,
        task,
        instance,
        state,
        key,
        steps,
        stop_gradient_inputs=stop_gradient_inputs,
        remat=remat,
        scan_unroll=scan_unroll,
    )
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


def trajectory(
    optimizer: optax.GradientTransformation,
    task,
    instance,
    state: UnrollState,
    key: jax.Array,
    steps: int,
    observe: Callable[[UnrollState], Any],
) -> tuple[UnrollState, jax.Array, Any]:
    """``steps`` optimizee steps from ``state``, recording ``observe(state)`` after every step.

    Returns the final state, the losses f(theta_t) *before* each update (t = s .. s + steps - 1,
    on each step's minibatch), and the observations stacked along a leading axis of ``steps``
    (e.g. ``lambda s: s.params`` for the path on a surface, or a hyperoptimizer's hyperparameters).
    """
    state, (losses, observed) = _scan(optimizer, task, instance, state, key, steps, observe=observe)
    return state, losses, observed


# --------------------------------------------------------------------------- batches of instances

#: The instance sets of the evaluation protocol (:func:`instance_keys`): baselines are tuned on
#: one set, meta-training validates on another, every optimizer is reported on a third.
TUNING_SET = STREAMS["tuning"]
TEST_SET = STREAMS["test"]
VALIDATION_SET = STREAMS["validation"]


def split_instance_keys(key: jax.Array, num: int) -> jax.Array:
    """``num`` runs' instance keys (num, 3) under ``key``: run ``i``'s are the children 0, 1, 2
    (sample, init, minibatch stream) of ``fold_in(key, i)``."""
    runs = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(num))
    return jax.vmap(lambda k: jax.vmap(lambda j: jax.random.fold_in(k, j))(jnp.arange(3)))(runs)


def instance_keys(seed: int, which: int, num: int) -> jax.Array:
    """Keys of the ``num`` instances of one set (e.g. :data:`TEST_SET`): a (num, 3) array of keys,
    [sample key, init key, minibatch-stream key] per instance. Fixed by (seed, which)."""
    set_key = jax.random.fold_in(jax.random.key(seed), which)
    return jax.vmap(lambda k: jax.random.split(k, 3))(jax.random.split(set_key, num))


def loss_curves(
    make_optimizer: Callable[..., optax.GradientTransformation],
    task,
    keys: jax.Array,
    steps: int,
    *args,
) -> jax.Array:
    """Loss curves (num_instances, steps + 1) of ``make_optimizer(*args)`` on instances ``keys``.

    Traceable: ``args`` (e.g. a learning rate, or meta-parameters) may be traced values, so one
    compiled function serves a whole grid.
    """
    optimizer = make_optimizer(*args)

    def one(k):
        instance = task.sample(k[0])
        return loss_curve(optimizer, task, instance, k[1], k[2], steps)

    return jax.vmap(one)(keys)


def run_optimizer(optimizer: optax.GradientTransformation, task, keys: jax.Array, steps: int):
    """Loss curves of one ready-made optimizer; a NumPy array (num_instances, steps + 1)."""
    fn = jax.jit(lambda t, k: loss_curves(lambda: optimizer, t, k, steps))
    return np.asarray(fn(task, keys))
