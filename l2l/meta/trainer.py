"""Meta-training a learned optimizer by truncated backpropagation through unrolled optimization.

The meta-step is one jitted pure function ``(meta_state) -> (meta_state, metrics)`` (DESIGN.md,
contract 4): it unrolls ``truncation`` optimizee steps of a whole batch of task instances
(``vmap``), differentiates the meta-objective with respect to the optimizer's weights, and applies
the meta-optimizer. Optimizee parameters and LSTM states carry from one truncation to the next with
``stop_gradient`` at the boundary; every ``horizon / truncation`` meta-steps a fresh batch of
instances is drawn. The Python loop around it (:func:`train`) only logs, evaluates, checkpoints and
shows progress. Andrychowicz et al., 2016.
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
from l2l.config import ConfigError, TaskConfig, build_task, field, from_dict, to_dict
from l2l.evaluate import (
    DEFAULT_BASELINES,
    BaselineConfig,
    EvaluateConfig,
    instance_keys,
    loss_curves,
)
from l2l.meta import unroll as unroll_lib
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
    second_derivatives: bool = False
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
    unroll: unroll_lib.UnrollState  # batched over task instances
    instances: Any  # batched task instances of the current horizon
    stream_keys: jax.Array  # (batch, 2) uint32 minibatch-stream key data per instance
    step: jax.Array  # int32 meta-steps taken
    skipped: jax.Array  # int32 meta-steps skipped for a non-finite meta-gradient


class MetaTrainer(NamedTuple):
    """The pure functions of a meta-training run."""

    init: Any  # (key) -> MetaState
    step: Any  # jitted (MetaState) -> (MetaState, metrics)
    meta_loss: Any  # (meta_params, MetaState) -> (loss, aux): the differentiated function
    make_optimizer: Any  # meta_params -> optax transform


def make_trainer(cfg: MetaTrainConfig, task, *, jit: bool = True) -> MetaTrainer:
    """Build the meta-step of ``cfg`` on ``task`` (a task object, see :mod:`l2l.tasks`)."""
    opt_cfg = cfg.optimizer
    meta_opt = cfg.meta_optimizer.make(cfg.meta_steps)
    objective = OBJECTIVES[cfg.objective]
    base_key = jax.random.key(cfg.seed)

    def make_optimizer(meta_params):
        return learned.lstm_optimizer(meta_params, opt_cfg)

    def fresh_batch(meta_params, step):
        """New instances, theta_0 and optimizer states at the start of a horizon."""
        key = jax.random.fold_in(jax.random.fold_in(base_key, 1), step)
        keys = jax.vmap(lambda k: jax.random.split(k, 3))(jax.random.split(key, cfg.batch_size))
        instances = jax.vmap(task.sample)(keys[:, 0])
        optimizer = make_optimizer(meta_params)
        states = jax.vmap(lambda i, k: unroll_lib.start(optimizer, task, i, k))(
            instances, keys[:, 1]
        )
        return states, instances, jax.random.key_data(keys[:, 2])

    def init(key=None):
        del key  # every random draw derives from cfg.seed
        meta_params = learned.init_meta_params(jax.random.fold_in(base_key, 0), opt_cfg)
        states, instances, stream = fresh_batch(meta_params, jnp.zeros((), jnp.int32))
        zero = jnp.zeros((), jnp.int32)
        state = MetaState(
            meta_params, meta_opt.init(meta_params), states, instances, stream, zero, zero
        )
        # Distinct buffers for every leaf: the jitted step donates its input state.
        return jax.tree.map(jnp.array, state)

    def meta_loss(meta_params, state: MetaState):
        optimizer = make_optimizer(meta_params)

        def one(instance, ustate, stream):
            ustate, losses = unroll_lib.unroll(
                optimizer,
                task,
                instance,
                ustate,
                jax.random.wrap_key_data(stream),
                cfg.truncation,
                stop_gradient_inputs=not cfg.second_derivatives,
            )
            return objective(losses), (ustate, losses)

        objectives, (ustates, losses) = jax.vmap(one)(
            state.instances, state.unroll, state.stream_keys
        )
        return jnp.mean(objectives), (ustates, losses)

    def step(state: MetaState):
        new_horizon = state.step % cfg.truncations_per_horizon == 0
        unroll_state, instances, stream = jax.lax.cond(
            new_horizon & (state.step > 0),
            lambda: fresh_batch(state.meta_params, state.step),
            lambda: (state.unroll, state.instances, state.stream_keys),
        )
        state = state._replace(unroll=unroll_state, instances=instances, stream_keys=stream)
        (loss, (ustates, losses)), grads = jax.value_and_grad(meta_loss, has_aux=True)(
            state.meta_params, state
        )
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
        )
        metrics = {
            "meta_loss": loss,
            "grad_norm": grad_norm,
            "final_loss": jnp.mean(losses[:, -1]),
            "skipped": new_state.skipped,
        }
        return new_state, metrics

    if jit:
        step = jax.jit(step, donate_argnums=0)
    return MetaTrainer(init, step, meta_loss, make_optimizer)


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, state: MetaState, extra: dict) -> None:
    """Atomically write the meta-state and the loop's bookkeeping (best weights, scores)."""
    payload = {
        "state": serialization.to_state_dict(jax.tree.map(np.asarray, state)),
        "extra": serialization.to_state_dict(jax.tree.map(np.asarray, extra)),
    }
    learned.io.atomic_write_bytes(path, serialization.msgpack_serialize(payload))


def load_checkpoint(path: Path, template_state: MetaState, template_extra: dict):
    payload = serialization.msgpack_restore(path.read_bytes())
    state = serialization.from_state_dict(template_state, payload["state"])
    extra = serialization.from_state_dict(template_extra, payload["extra"])
    return jax.tree.map(jnp.array, state), extra


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
    """
    from tqdm.auto import tqdm

    from l2l import config as config_lib

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
    config_lib.save(cfg, cfg_path)

    task = build_task(cfg.task)
    trainer = make_trainer(cfg, task)
    state = trainer.init()
    val_task = task
    if cfg.validation_split not in (None, cfg.task.split):
        val_task = build_task(dataclasses.replace(cfg.task, split=cfg.validation_split))
    val_keys = instance_keys(cfg.seed, VALIDATION_SET, cfg.eval_instances)
    eval_fn = jax.jit(lambda t, k, mp: loss_curves(trainer.make_optimizer, t, k, cfg.horizon, mp))
    extra = {
        "best_meta_params": jax.tree.map(np.array, state.meta_params),  # a host copy: the
        # jitted step donates (and so deletes) the buffers of the state it is given
        "best_score": np.array(np.inf),
        "best_step": np.array(-1),
        "elapsed": np.array(0.0),
    }
    if resume and ckpt_path.exists():
        state, extra = load_checkpoint(ckpt_path, state, extra)
    start_step = int(state.step)
    elapsed0 = float(extra["elapsed"])
    metrics_file = (out / "metrics.jsonl").open("a")

    def log(record):
        metrics_file.write(json.dumps(record) + "\n")
        metrics_file.flush()

    def evaluate_now(step):
        curves = np.asarray(eval_fn(val_task, val_keys, state.meta_params), np.float64)
        score = float(np.mean(np.sum(curves[:, 1:], axis=1)))
        score = score if math.isfinite(score) else math.inf
        if score < float(extra["best_score"]):
            extra["best_score"] = np.array(score)
            extra["best_step"] = np.array(step)
            extra["best_meta_params"] = jax.tree.map(np.array, state.meta_params)
            learned.save(
                out / "best.l2l", state.meta_params, cfg.optimizer, _info(cfg, step, score)
            )
        log({"step": step, "eval_mean_summed_loss": score, "best": float(extra["best_score"])})
        return score

    t0 = time.perf_counter()
    compile_start = time.perf_counter()
    end = cfg.meta_steps if stop_after is None else min(cfg.meta_steps, start_step + stop_after)
    bar = tqdm(
        total=cfg.meta_steps, initial=start_step, desc="meta-training", disable=not show_progress
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
            save_checkpoint(ckpt_path, state, extra)
        bar.update(1)
    bar.close()
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
    """The parts of a config that may change on resume (how long, how often to log) removed."""
    return dataclasses.replace(
        cfg, eval_every=1, checkpoint_every=1, log_every=1, test_instances=0, tuning_instances=1
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
