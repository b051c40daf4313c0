"""The meta-step: one jitted pure function that meta-trains a learned optimizer by one truncation.

The meta-step is one jitted pure function ``(meta_state) -> (meta_state, metrics)`` (DESIGN.md,
contract 4): it unrolls ``truncation`` optimizee steps of a whole batch of task instances
(``vmap``), estimates the gradient of the meta-objective with respect to the optimizer's weights,
and applies the meta-optimizer. Optimizee parameters and LSTM states carry from one truncation to
the next with ``stop_gradient`` at the boundary; every ``horizon / truncation`` meta-steps a fresh
batch of instances is drawn. The Python loop around it (:func:`l2l.meta.loop.train`) only logs,
evaluates, checkpoints and shows progress. Andrychowicz et al., 2016.

The meta-gradient estimator (``estimator``) is truncated backpropagation (``tbptt``, the default),
or one of the evolution strategies of :mod:`l2l.meta.estimators`: ``pes`` (unbiased for the whole
horizon) and ``es``; these need no backward pass, so their memory is that of the carried state.
Memory never grows with the horizon: only the state at the truncation boundary is carried.

Scale (docs/SCALE.md): the task batch is split over a mesh of all devices of all processes
(:mod:`l2l.meta.distributed`), the meta-parameters are replicated, XLA does the reduction. The LSTM
of the unroll is computed with fused gates (:mod:`l2l.learned.fused_lstm`), optionally with bfloat16
matmuls (``lstm_matmul_dtype``); ``remat`` recomputes each optimizee step in the backward pass
instead of storing its intermediates.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from l2l import unroll as unroll_lib
from l2l.meta import batch_unroll, distributed, estimators
from l2l.meta.config import MetaTrainConfig
from l2l.meta.objectives import OBJECTIVES


class MetaState(NamedTuple):
    """Everything meta-training carries; a pytree of arrays (checkpointed as is)."""

    meta_params: Any
    meta_opt_state: Any
    # Batched over task instances; for es/pes with a second axis of 2 * es_pairs particles.
    unroll: unroll_lib.UnrollState
    instances: Any  # batched task instances of the current horizon
    stream_keys: jax.Array  # (batch, 2) uint32 minibatch-stream key data per instance
    step: jax.Array  # int32 meta-steps taken
    skipped: jax.Array  # int32 meta-steps skipped for a non-finite meta-gradient
    # pes: the perturbation xi each particle pair has accumulated this horizon, shaped like
    # meta_params with leading axes (batch, es_pairs); () for tbptt and es.
    perturbation: Any = ()


class MetaTrainer(NamedTuple):
    """The pure functions of a meta-training run."""

    init: Any  # (key) -> MetaState
    step: Any  # jitted (MetaState) -> (MetaState, metrics)
    meta_loss: Any  # (meta_params, MetaState) -> (loss, aux): the function tbptt differentiates
    make_optimizer: Any  # meta_params -> optax transform (the evaluated, float32 flax optimizer)
    # (meta_params, MetaState, key) -> (meta-gradient estimate, (unroll, perturbation) carried
    # to the next truncation, mean meta-objective, losses): one truncation of the estimator.
    gradient: Any = None
    mesh: Any = None  # the jax.sharding.Mesh the task batch is split over (jit only)
    shardings: Any = None  # MetaState-shaped tree of NamedShardings (jit only)


#: The version of meta-training's key tree, stored with every trained optimizer: 2 draws the
#: initial weights, the instances and the estimators' noise from branches of their own
#: (:data:`l2l.unroll.STREAMS`); 1 (files without the mark) drew them from
#: ``fold_in(key(seed), 0 | 1 | 2)``, the branches of the evaluation protocol's tuning, test and
#: validation sets, so meta-step s's instances shared keys with held-out instance s.
KEY_TREE = 2


def meta_init_key(seed: int) -> jax.Array:
    """The key of a learned optimizer's initial weights."""
    return unroll_lib.stream_key(seed, "meta_init")


def batch_keys(
    seed: int, step: jax.Array, batch_size: int, streams: tuple[jax.Array, jax.Array] | None = None
) -> jax.Array:
    """The instance keys (batch_size, 3) of the batch drawn at meta-step ``step`` (under
    ``streams[0]`` where given, else the seed's ``meta_train`` stream)."""
    key = unroll_lib.stream_key(seed, "meta_train") if streams is None else streams[0]
    return unroll_lib.split_instance_keys(jax.random.fold_in(key, step), batch_size)


def noise_key(
    seed: int, step: jax.Array, streams: tuple[jax.Array, jax.Array] | None = None
) -> jax.Array:
    """The key of the evolution strategies' perturbations at meta-step ``step`` (under
    ``streams[1]`` where given, else the seed's ``meta_noise`` stream)."""
    key = unroll_lib.stream_key(seed, "meta_noise") if streams is None else streams[1]
    return jax.random.fold_in(key, step)


def make_trainer(
    cfg: MetaTrainConfig,
    task,
    *,
    jit: bool = True,
    mesh=None,
    scan_unroll: int | bool = 1,
    streams: tuple[jax.Array, jax.Array] | None = None,
) -> MetaTrainer:
    """Build the meta-step of ``cfg`` on ``task`` (a task object, see :mod:`l2l.tasks`).

    With ``jit``, the task batch is split over ``mesh`` (a one-axis ``("batch",)``
    ``jax.sharding.Mesh``; default: :func:`l2l.meta.distributed.make_mesh` per
    ``cfg.distributed``); ``init`` then returns a state laid out on it. Without ``jit`` the
    functions are plain (for tests and for composing into other transformations).
    ``scan_unroll`` is passed to the unroll's ``lax.scan`` (see :func:`l2l.unroll.unroll`).
    ``streams``: the keys the instances and the estimators' noise are drawn under (default: the
    seed's ``meta_train`` and ``meta_noise`` streams; a task distribution gives each member its
    own, :mod:`l2l.meta.distribution`).
    """
    opt_cfg = cfg.optimizer
    meta_opt = cfg.meta_optimizer.make(cfg.meta_steps)
    objective = OBJECTIVES[cfg.objective]
    estimator = estimators.ESTIMATORS[cfg.estimator](cfg.es_sigma, cfg.es_pairs)
    if jit and mesh is None:
        mesh = distributed.make_mesh(cfg.batch_size, cfg.distributed.devices)

    def make_optimizer(meta_params):
        return opt_cfg.optimizer(meta_params)

    def unroll_optimizer(meta_params):
        """The same optimizer, computed the architecture's fastest way (for the LSTM: fused
        gates, and bfloat16 matmuls if asked)."""
        return opt_cfg.training_optimizer(meta_params, cfg.lstm_matmul_dtype)

    def fresh_batch(meta_params, step, sharded=False):
        """New instances, theta_0 and optimizer states (and particles) at the start of a horizon."""
        keys = batch_keys(cfg.seed, step, cfg.batch_size, streams)
        instances = jax.vmap(task.sample)(keys[:, 0])
        optimizer = make_optimizer(meta_params)
        states = jax.vmap(lambda i, k: unroll_lib.start(optimizer, task, i, k))(
            instances, keys[:, 1]
        )
        states, perturbation = jax.vmap(lambda s: estimator.start(s, meta_params))(states)
        batch = (states, instances, jax.random.key_data(keys[:, 2]), perturbation)
        if sharded:  # inside the jitted step: the new batch is laid out like the old one
            batch = jax.lax.with_sharding_constraint(batch, distributed.batch_sharded(mesh))
        return batch

    def init(key=None):
        del key  # every random draw derives from cfg.seed
        meta_params = opt_cfg.init_meta_params(meta_init_key(cfg.seed))
        states, instances, stream, perturbation = fresh_batch(meta_params, jnp.zeros((), jnp.int32))
        zero = jnp.zeros((), jnp.int32)
        state = MetaState(
            meta_params,
            meta_opt.init(meta_params),
            states,
            instances,
            stream,
            zero,
            zero,
            perturbation,
        )
        if shardings is not None:
            # Computed op by op (no compile) on every process alike, then laid out on the mesh.
            return distributed.from_host(distributed.to_host(state), shardings)
        # Distinct buffers for every leaf: the jitted step donates its input state.
        return jax.tree.map(jnp.array, state)

    def truncation(meta_params, instance, ustate, stream):
        """One truncation of one optimizee: (meta-objective, carried state, losses)."""
        ustate, losses = unroll_lib.unroll(
            unroll_optimizer(meta_params),
            task,
            instance,
            ustate,
            jax.random.wrap_key_data(stream),
            cfg.truncation,
            stop_gradient_inputs=not cfg.second_derivatives,
            remat=cfg.remat,
            scan_unroll=scan_unroll,
        )
        return objective(losses), ustate, losses

    def batch_truncation(meta_params, unroll, instances, stream_keys):
        # The whole batch in one scan, the LSTM over all its coordinates at once (batch_unroll).
        ustates, losses = batch_unroll.unroll(
            meta_params,
            opt_cfg,
            task,
            instances,
            unroll,
            jax.vmap(jax.random.wrap_key_data)(stream_keys),
            cfg.truncation,
            stop_gradient_inputs=not cfg.second_derivatives,
            remat=cfg.remat,
            scan_unroll=scan_unroll,
            matmul_dtype=cfg.lstm_matmul_dtype,
            fast=cfg.fast_paths,
        )
        return jnp.mean(jax.vmap(objective)(losses)), (ustates, losses)

    def meta_loss(meta_params, state: MetaState):
        """The mean meta-objective of the current truncation (what ``tbptt`` differentiates)."""
        return batch_truncation(meta_params, state.unroll, state.instances, state.stream_keys)

    def gradient(meta_params, state: MetaState, key):
        return estimator.gradient(
            estimators.Truncation(batch_truncation, truncation),
            meta_params,
            state.unroll,
            state.perturbation,
            state.instances,
            state.stream_keys,
            key,
        )

    def step(state: MetaState):
        new_horizon = state.step % cfg.truncations_per_horizon == 0
        unroll_state, instances, stream, perturbation = jax.lax.cond(
            new_horizon & (state.step > 0),
            lambda: fresh_batch(state.meta_params, state.step, sharded=jit),
            lambda: (state.unroll, state.instances, state.stream_keys, state.perturbation),
        )
        state = state._replace(
            unroll=unroll_state, instances=instances, stream_keys=stream, perturbation=perturbation
        )
        key = noise_key(cfg.seed, state.step, streams)
        grads, (ustates, perturbation), loss, losses = gradient(state.meta_params, state, key)
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(grad_norm) & jnp.isfinite(loss)

        def apply(_):
            updates, opt_state = meta_opt.update(grads, state.meta_opt_state, state.meta_params)
            return optax.apply_updates(state.meta_params, updates), opt_state

        meta_params, opt_state = jax.lax.cond(
            finite, apply, lambda _: (state.meta_params, state.meta_opt_state), None
        )
        new_state = MetaState(
            meta_params,
            opt_state,
            jax.lax.stop_gradient(ustates),  # the truncation boundary
            instances,
            stream,
            state.step + 1,
            state.skipped + jnp.where(finite, 0, 1).astype(jnp.int32),
            perturbation,
        )
        metrics = {
            "meta_loss": loss,
            "grad_norm": grad_norm,
            "final_loss": jnp.mean(losses[..., -1]),
            "skipped": new_state.skipped,
        }
        return new_state, metrics

    shardings = None
    if jit:
        shardings = state_shardings(jax.eval_shape(init), mesh)
        step = jax.jit(
            step,
            in_shardings=(shardings,),
            out_shardings=(shardings, distributed.replicated(mesh)),
            donate_argnums=0,
        )
    return MetaTrainer(init, step, meta_loss, make_optimizer, gradient, mesh, shardings)


def state_shardings(state: MetaState, mesh) -> MetaState:
    """Where each part of a meta-state lives: everything per task instance is split along the
    batch axis of ``mesh``; the meta-parameters, their optimizer state and the counters are
    replicated."""
    rep, split = distributed.replicated(mesh), distributed.batch_sharded(mesh)
    per_instance = {"unroll", "instances", "stream_keys", "perturbation"}
    return MetaState(
        *(
            jax.tree.map(lambda _, s=split if name in per_instance else rep: s, part)
            for name, part in zip(MetaState._fields, state)
        )
    )
