"""Meta-training a learned optimizer on unrolled optimization.

The meta-step is one jitted pure function ``(meta_state) -> (meta_state, metrics)`` (DESIGN.md,
contract 4): it unrolls ``truncation`` optimizee steps of a whole batch of task instances
(``vmap``), estimates the gradient of the meta-objective with respect to the optimizer's weights,
and applies the meta-optimizer. Optimizee parameters and LSTM states carry from one truncation to
the next with ``stop_gradient`` at the boundary; every ``horizon / truncation`` meta-steps a fresh
batch of instances is drawn. The Python loop around it (:func:`train`) only logs, evaluates,
checkpoints and shows progress. Andrychowicz et al., 2016.

The meta-gradient estimator (``estimator``) is truncated backpropagation (``tbptt``, the default),
or one of the evolution strategies of :mod:`l2l.meta.estimators`: ``pes`` (unbiased for the whole
horizon) and ``es``; these need no backward pass, so their memory is that of the carried state.
Memory never grows with the horizon: only the state at the truncation boundary is carried.

Scale (docs/SCALE.md): the task batch is split over a mesh of all devices of all processes
(:mod:`l2l.meta.distributed`), the meta-parameters are replicated, XLA does the reduction. The LSTM
of the unroll is computed with fused gates (:mod:`l2l.meta.fused_lstm`), optionally with bfloat16
matmuls (``lstm_matmul_dtype``); ``remat`` recomputes each optimizee step in the backward pass
instead of storing its intermediates.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

from l2l import learned
from l2l.config import ConfigError, TaskConfig, build_task, field, to_dict
from l2l.evaluate import (
    DEFAULT_BASELINES,
    BaselineConfig,
    EvaluateConfig,
    instance_keys,
    loss_curves,
)
from l2l.meta import batch_unroll, distributed, estimators, fused_lstm
from l2l.meta import unroll as unroll_lib
from l2l.meta.distributed import DistributedConfig
from l2l.meta.objectives import OBJECTIVES

VALIDATION_SET = 2  # instance set used for early stopping (tuning is 0, the held-out test set 1)
CHECKPOINT = "checkpoint.msgpack"


# --------------------------------------------------------------------------- config


@dataclasses.dataclass(frozen=True)
class MetaOptimizerConfig:
    """The optax optimizer that trains the learned optimizer's weights."""

    name: Literal["adam", "sgd", "rmsprop"] = "adam"
    lr: float = field(3e-3, gt=0)
    clip_norm: float | None = field(1.0, gt=0, help="global-norm clipping of the meta-gradient")
    decay_to: float = field(0.1, gt=0, le=1, help="cosine-decay the lr to lr*decay_to by the end")

    def make(self, total_steps: int) -> optax.GradientTransformation:
        lr = self.lr
        if self.decay_to < 1.0:
            lr = optax.cosine_decay_schedule(self.lr, max(total_steps, 1), alpha=self.decay_to)
        base = {"adam": optax.adam, "sgd": optax.sgd, "rmsprop": optax.rmsprop}[self.name](lr)
        if self.clip_norm is None:
            return base
        return optax.chain(optax.clip_by_global_norm(self.clip_norm), base)


@dataclasses.dataclass(frozen=True)
class MetaTrainConfig:
    """``l2l meta-train``: everything that defines a meta-training run (saved beside its outputs)."""

    task: TaskConfig = field(TaskConfig())
    optimizer: learned.LSTMOptimizerConfig = field(learned.LSTMOptimizerConfig())
    meta_optimizer: MetaOptimizerConfig = field(MetaOptimizerConfig())
    horizon: int = field(100, ge=1, help="optimizee steps per task instance")
    truncation: int = field(20, ge=1, help="optimizee steps per meta-step (truncated BPTT)")
    batch_size: int = field(128, ge=1, help="task instances per meta-step (vmapped)")
    meta_steps: int = field(3000, ge=1, help="meta-steps (truncations) in all")
    objective: Literal["sum", "final", "log_sum", "log_final"] = "sum"
    second_derivatives: bool = False  # tbptt only: ES and PES see the whole function anyway
    # The meta-gradient estimator (l2l.meta.estimators): truncated backpropagation, Persistent
    # Evolution Strategies (unbiased over the horizon), or truncated antithetic ES.
    estimator: Literal["tbptt", "pes", "es"] = "tbptt"
    es_sigma: float = field(0.01, gt=0, help="std of the (P)ES perturbations of the meta-params")
    es_pairs: int = field(1, ge=1, help="antithetic pairs of (P)ES particles per task instance")
    # Speed and memory (same meta-gradient either way): recompute each optimizee step in the
    # backward pass (jax.checkpoint) instead of storing its intermediates; bfloat16 operands for
    # the LSTM's matmuls (float32 accumulation, carry and gates).
    remat: bool = True
    lstm_matmul_dtype: Literal["float32", "bfloat16"] = "float32"
    eval_every: int = field(250, ge=1)
    eval_instances: int = field(128, ge=1)
    checkpoint_every: int = field(500, ge=1)
    log_every: int = field(25, ge=1)
    seed: int = field(0, ge=0)
    output_dir: str = "runs/quadratic_lstm"
    # Data tasks (MNIST): which split early stopping and the final comparison train optimizees on
    # (None: the training task's own split).
    validation_split: Literal["train", "validation", "test"] | None = None
    test_split: Literal["train", "validation", "test"] | None = None
    # The final comparison against tuned baselines on held-out instances (0 instances: skip it).
    test_instances: int = field(256, ge=0)
    tuning_instances: int = field(128, ge=1)
    baselines: tuple[BaselineConfig, ...] = field(DEFAULT_BASELINES)
    # Devices and processes the task batch is split over (default: all devices, one process).
    distributed: DistributedConfig = field(DistributedConfig())

    def __post_init__(self):
        if self.horizon % self.truncation:
            raise ValueError(
                f"horizon ({self.horizon}) must be a multiple of truncation ({self.truncation})"
            )

    @property
    def truncations_per_horizon(self) -> int:
        return self.horizon // self.truncation


# --------------------------------------------------------------------------- the meta-step


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


def make_trainer(
    cfg: MetaTrainConfig, task, *, jit: bool = True, mesh=None, scan_unroll: int | bool = 1
) -> MetaTrainer:
    """Build the meta-step of ``cfg`` on ``task`` (a task object, see :mod:`l2l.tasks`).

    With ``jit``, the task batch is split over ``mesh`` (a one-axis ``("batch",)``
    ``jax.sharding.Mesh``; default: :func:`l2l.meta.distributed.make_mesh` per
    ``cfg.distributed``); ``init`` then returns a state laid out on it. Without ``jit`` the
    functions are plain (for tests and for composing into other transformations).
    ``scan_unroll`` is passed to the unroll's ``lax.scan`` (see :func:`l2l.meta.unroll.unroll`).
    """
    opt_cfg = cfg.optimizer
    meta_opt = cfg.meta_optimizer.make(cfg.meta_steps)
    objective = OBJECTIVES[cfg.objective]
    base_key = jax.random.key(cfg.seed)
    with_particles = cfg.estimator != "tbptt"
    persistent = cfg.estimator == "pes"
    if jit and mesh is None:
        mesh = distributed.make_mesh(cfg.batch_size, cfg.distributed.devices)

    def make_optimizer(meta_params):
        return learned.lstm_optimizer(meta_params, opt_cfg)

    def unroll_optimizer(meta_params):
        """The same optimizer, computed with fused gates (and bfloat16 matmuls if asked)."""
        return fused_lstm.fused_lstm_optimizer(meta_params, opt_cfg, cfg.lstm_matmul_dtype)

    def fresh_batch(meta_params, step, sharded=False):
        """New instances, theta_0 and optimizer states (and particles) at the start of a horizon."""
        key = jax.random.fold_in(jax.random.fold_in(base_key, 1), step)
        keys = jax.vmap(lambda k: jax.random.split(k, 3))(jax.random.split(key, cfg.batch_size))
        instances = jax.vmap(task.sample)(keys[:, 0])
        optimizer = make_optimizer(meta_params)
        states = jax.vmap(lambda i, k: unroll_lib.start(optimizer, task, i, k))(
            instances, keys[:, 1]
        )
        perturbation = ()
        if with_particles:
            particles = jax.vmap(
                lambda s: estimators.start(s, meta_params, cfg.es_pairs, persistent)
            )(states)
            states, perturbation = particles.unroll, particles.accumulated
        batch = (states, instances, jax.random.key_data(keys[:, 2]), perturbation)
        if sharded:  # inside the jitted step: the new batch is laid out like the old one
            batch = jax.lax.with_sharding_constraint(batch, distributed.batch_sharded(mesh))
        return batch

    def init(key=None):
        del key  # every random draw derives from cfg.seed
        meta_params = learned.init_meta_params(jax.random.fold_in(base_key, 0), opt_cfg)
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

    def truncation(optimizer, instance, ustate, stream):
        """One truncation of one optimizee: (meta-objective, carried state, losses)."""
        ustate, losses = unroll_lib.unroll(
            optimizer,
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

    def meta_loss(meta_params, state: MetaState):
        # The whole batch in one scan, the LSTM over all its coordinates at once (batch_unroll).
        ustates, losses = batch_unroll.unroll(
            meta_params,
            opt_cfg,
            task,
            state.instances,
            state.unroll,
            jax.vmap(jax.random.wrap_key_data)(state.stream_keys),
            cfg.truncation,
            stop_gradient_inputs=not cfg.second_derivatives,
            remat=cfg.remat,
            scan_unroll=scan_unroll,
            matmul_dtype=fused_lstm.matmul_dtype_of(cfg.lstm_matmul_dtype),
        )
        return jnp.mean(jax.vmap(objective)(losses)), (ustates, losses)

    def gradient(meta_params, state: MetaState, key):
        if not with_particles:
            (loss, (ustates, losses)), grads = jax.value_and_grad(meta_loss, has_aux=True)(
                meta_params, state
            )
            return grads, (jax.lax.stop_gradient(ustates), ()), loss, losses

        def one(instance, unroll_states, accumulated, stream, k):
            def run(mp, ustate):
                return truncation(unroll_optimizer(mp), instance, ustate, stream)

            return estimators.antithetic_gradient(
                run,
                meta_params,
                estimators.Particles(unroll_states, accumulated),
                k,
                sigma=cfg.es_sigma,
                persistent=persistent,
            )

        keys = jax.random.split(key, cfg.batch_size)
        grads, particles, objectives, losses = jax.vmap(one)(
            state.instances, state.unroll, state.perturbation, state.stream_keys, keys
        )
        grads = jax.tree.map(lambda g: jnp.mean(g, axis=0), grads)
        return grads, (particles.unroll, particles.accumulated), jnp.mean(objectives), losses

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
        key = jax.random.fold_in(jax.random.fold_in(base_key, 2), state.step)  # (P)ES noise
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


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, state: MetaState, extra: dict) -> None:
    """Atomically write the meta-state and the loop's bookkeeping (best weights, scores)."""
    payload = {
        "state": serialization.to_state_dict(jax.tree.map(np.asarray, state)),
        "extra": serialization.to_state_dict(jax.tree.map(np.asarray, extra)),
    }
    learned.io.atomic_write_bytes(path, serialization.msgpack_serialize(payload))


def load_checkpoint(path: Path, template_state: MetaState, template_extra: dict, shardings=None):
    """The meta-state and bookkeeping of a checkpoint; the state placed on ``shardings`` (a
    MetaState-shaped tree, as :attr:`MetaTrainer.shardings`) or on the default device."""
    payload = serialization.msgpack_restore(path.read_bytes())
    payload["state"].setdefault("perturbation", {})  # checkpoints from before (P)ES
    state = serialization.from_state_dict(template_state, payload["state"])
    extra = serialization.from_state_dict(template_extra, payload["extra"])
    if shardings is None:
        return jax.tree.map(jnp.array, state), extra
    return distributed.from_host(state, shardings), extra


# --------------------------------------------------------------------------- the loop


def train(
    cfg: MetaTrainConfig, *, resume: bool = True, show_progress: bool = True, stop_after=None
):
    """Meta-train per ``cfg``; writes into ``cfg.output_dir``:

    ``config.yaml`` (the exact config), ``metrics.jsonl`` (one line per ``log_every`` meta-steps
    and per evaluation), ``checkpoint.msgpack`` (atomic; resumed from when ``resume``), and
    ``best.l2l`` (the learned optimizer with the best validation score so far: early stopping).
    ``stop_after`` ends the loop early after that many meta-steps (to test resumption).
    Returns a dict with the final and best meta-parameters and the run's statistics.

    Several processes (``cfg.distributed``, docs/SCALE.md) each run this same function; they
    compute together, process 0 alone writes, and ``output_dir`` must be one directory that all
    of them see (a shared filesystem) for them to resume.
    """
    from tqdm.auto import tqdm

    from l2l import config as config_lib

    distributed.initialize(cfg.distributed)  # before any computation
    main = jax.process_index() == 0
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT
    cfg_path = out / "config.yaml"
    if ckpt_path.exists() and resume and cfg_path.exists():
        saved = config_lib.load(MetaTrainConfig, cfg_path)
        if _without_schedule(saved) != _without_schedule(cfg):
            raise ConfigError(
                f"{out}: holds a checkpoint of a different config ({cfg_path}); use another "
                "output_dir, or resume=False to start over"
            )
    distributed.barrier("l2l-config-read")
    if main:
        config_lib.save(cfg, cfg_path)

    task = build_task(cfg.task)
    trainer = make_trainer(cfg, task)
    state = trainer.init()
    val_task = task
    if cfg.validation_split not in (None, cfg.task.split):
        val_task = build_task(dataclasses.replace(cfg.task, split=cfg.validation_split))
    # Evaluation runs on one local device of every process (each computes the same numbers).
    local = jax.local_devices()[0]
    val_keys = jax.device_put(instance_keys(cfg.seed, VALIDATION_SET, cfg.eval_instances), local)
    eval_fn = jax.jit(lambda t, k, mp: loss_curves(trainer.make_optimizer, t, k, cfg.horizon, mp))
    extra = {
        "best_meta_params": distributed.to_host(state.meta_params),  # a host copy: the
        # jitted step donates (and so deletes) the buffers of the state it is given
        "best_score": np.array(np.inf),
        "best_step": np.array(-1),
        "elapsed": np.array(0.0),
    }
    if resume and ckpt_path.exists():
        state, extra = load_checkpoint(ckpt_path, state, extra, trainer.shardings)
    start_step = int(state.step)
    elapsed0 = float(extra["elapsed"])
    metrics_file = (out / "metrics.jsonl").open("a") if main else None

    def log(record):
        if metrics_file is not None:
            metrics_file.write(json.dumps(record) + "\n")
            metrics_file.flush()

    def evaluate_now(step):
        meta_params = distributed.to_host(state.meta_params)
        curves = eval_fn(val_task, val_keys, jax.device_put(meta_params, local))
        curves = np.asarray(curves, np.float64)
        score = float(np.mean(np.sum(curves[:, 1:], axis=1)))
        score = score if math.isfinite(score) else math.inf
        if score < float(extra["best_score"]):
            extra["best_score"] = np.array(score)
            extra["best_step"] = np.array(step)
            extra["best_meta_params"] = meta_params
            if main:
                learned.save(out / "best.l2l", meta_params, cfg.optimizer, _info(cfg, step, score))
        log({"step": step, "eval_mean_summed_loss": score, "best": float(extra["best_score"])})
        return score

    t0 = time.perf_counter()
    compile_start = time.perf_counter()
    end = cfg.meta_steps if stop_after is None else min(cfg.meta_steps, start_step + stop_after)
    bar = tqdm(
        total=cfg.meta_steps,
        initial=start_step,
        desc="meta-training",
        disable=not (show_progress and main),
    )
    compile_seconds = None
    step = start_step
    while step < end:
        state, metrics = trainer.step(state)
        step += 1
        if compile_seconds is None:
            jax.block_until_ready(metrics)
            compile_seconds = time.perf_counter() - compile_start
        if step % cfg.log_every == 0 or step == end:
            m = {k: float(v) for k, v in metrics.items()}
            log({"step": step, **m, "seconds": elapsed0 + time.perf_counter() - t0})
            bar.set_postfix(meta_loss=f"{m['meta_loss']:.4g}", skipped=int(m["skipped"]))
        if step % cfg.eval_every == 0 or step == cfg.meta_steps:
            evaluate_now(step)
        if step % cfg.checkpoint_every == 0 or step == end:
            extra["elapsed"] = np.array(elapsed0 + time.perf_counter() - t0)
            host_state = distributed.to_host(state)  # a collective: every process takes part
            if main:
                save_checkpoint(ckpt_path, host_state, extra)
        bar.update(1)
    bar.close()
    if metrics_file is not None:
        metrics_file.close()
    if not math.isfinite(float(extra["best_score"])) and step == cfg.meta_steps:
        evaluate_now(step)
    seconds = elapsed0 + time.perf_counter() - t0
    return {
        "meta_params": state.meta_params,
        "best_meta_params": extra["best_meta_params"],
        "best_score": float(extra["best_score"]),
        "best_step": int(extra["best_step"]),
        "steps": step,
        "skipped": int(state.skipped),
        "seconds": seconds,
        "compile_seconds": compile_seconds,
        "task": task,
    }


def _without_schedule(cfg: MetaTrainConfig) -> MetaTrainConfig:
    """The parts of a config that may change on resume (how long, how often to log, on which
    devices, with or without remat: nothing that changes the numbers computed) removed."""
    return dataclasses.replace(
        cfg,
        eval_every=1,
        checkpoint_every=1,
        log_every=1,
        test_instances=0,
        tuning_instances=1,
        remat=False,
        distributed=DistributedConfig(),
    )


def _info(cfg: MetaTrainConfig, step: int, score: float) -> dict:
    return {
        "trained_on": to_dict(cfg.task),
        "meta_training": {
            "meta_step": step,
            "horizon": cfg.horizon,
            "truncation": cfg.truncation,
            "batch_size": cfg.batch_size,
            "objective": cfg.objective,
            "seed": cfg.seed,
        },
        "validation_mean_summed_loss": score,
        "config": to_dict(cfg),
    }


def evaluation_config(cfg: MetaTrainConfig, learned_path: str | Path) -> EvaluateConfig:
    """The comparison that closes a run: the trained optimizer against the tuned baselines on the
    held-out instances of ``cfg.task`` over the training horizon."""
    task = (
        cfg.task if cfg.test_split is None else dataclasses.replace(cfg.task, split=cfg.test_split)
    )
    return EvaluateConfig(
        task=task,
        steps=cfg.horizon,
        num_tuning=cfg.tuning_instances,
        num_test=cfg.test_instances,
        seed=cfg.seed,
        baselines=cfg.baselines,
        learned=(str(learned_path),),
        output_dir=str(Path(cfg.output_dir) / "evaluation"),
    )
