"""The meta-training loop: the jitted meta-step (:mod:`l2l.meta.step`) run ``meta_steps`` times,
with progress, a metrics log, periodic validation (early stopping: the best weights so far are
saved as a trained-optimizer file), and checkpoints it resumes from after a crash."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from l2l import config as config_lib
from l2l import learned, tasks
from l2l import unroll as unroll_lib
from l2l.config import ConfigError, to_dict
from l2l.meta import distributed
from l2l.meta.checkpoints import CHECKPOINT, load_checkpoint, save_checkpoint
from l2l.meta.config import MetaTrainConfig, same_run, validation_task_config
from l2l.meta.distribution import make_distribution_trainer, validation_score
from l2l.meta.step import KEY_TREE, make_trainer
from l2l.tasks.distribution import TaskDistribution


class TrainingRun(NamedTuple):
    """What a meta-training run returns."""

    meta_params: Any  # the final weights
    best_meta_params: Any  # the weights with the best validation score (saved as best.l2l)
    best_score: float  # their validation mean summed loss
    best_step: int  # the meta-step they were taken at
    steps: int  # meta-steps taken in all
    skipped: int  # meta-steps skipped for a non-finite meta-gradient
    seconds: float  # wall time, over every resumption
    compile_seconds: float | None  # this process's first meta-step, compile included
    task: Any  # the training task


def train(
    cfg: MetaTrainConfig, *, resume: bool = True, show_progress: bool = True, stop_after=None
):
    """Meta-train per ``cfg``; writes into ``cfg.output_dir``:

    ``config.yaml`` (the exact config), ``metrics.jsonl`` (one line per ``log_every`` meta-steps
    and per evaluation), ``checkpoint.msgpack`` (atomic; resumed from when ``resume``), and
    ``best.l2l`` (the learned optimizer with the best validation score so far: early stopping).
    ``stop_after`` ends the loop early after that many meta-steps (to test resumption).
    Returns a :class:`TrainingRun`: the final and best meta-parameters and the run's statistics.

    Several processes (``cfg.distributed``, docs/SCALE.md) each run this same function; they
    compute together, process 0 alone writes, and ``output_dir`` must be one directory that all
    of them see (a shared filesystem) for them to resume.
    """
    from tqdm.auto import tqdm

    distributed.initialize(cfg.distributed)  # before any computation
    main = jax.process_index() == 0
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT
    cfg_path = out / "config.yaml"
    if ckpt_path.exists() and resume and cfg_path.exists():
        saved = _saved_run(cfg_path)
        if not same_run(saved, cfg):
            raise ConfigError(
                f"{out}: holds a checkpoint of a different config ({cfg_path}); use another "
                "output_dir, or resume=False to start over"
            )
    distributed.barrier("l2l-config-read")
    if main:
        config_lib.save(cfg, cfg_path)

    task = tasks.build(cfg.task)
    val_cfg = validation_task_config(cfg)
    val_task = task if val_cfg == cfg.task else tasks.build(val_cfg)
    if isinstance(task, TaskDistribution):
        trainer = make_distribution_trainer(cfg, task)
        score_of = validation_score(cfg, val_task, trainer.make_optimizer)
        score_name = "mean_log_loss"  # over members: see l2l.meta.distribution
    else:
        trainer = make_trainer(cfg, task)
        score_of = _validation_score(cfg, val_task, trainer.make_optimizer)
        score_name = "mean_summed_loss"
    state = trainer.init()
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
        score = score_of(meta_params)
        if score < float(extra["best_score"]):
            extra["best_score"] = np.array(score)
            extra["best_step"] = np.array(step)
            extra["best_meta_params"] = meta_params
            if main:
                info = _info(cfg, step, score, score_name)
                learned.save(out / "best.l2l", meta_params, cfg.optimizer, info)
        log({"step": step, f"eval_{score_name}": score, "best": float(extra["best_score"])})
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
    budget = math.inf if cfg.time_budget_minutes is None else 60.0 * cfg.time_budget_minutes
    out_of_time = False
    while step < end:
        state, metrics = trainer.step(state)
        step += 1
        if compile_seconds is None:
            jax.block_until_ready(metrics)
            compile_seconds = time.perf_counter() - compile_start
        if "compile_seconds" in metrics:  # a distribution's member, compiled at its first draw
            log(
                {
                    "step": step,
                    "member": metrics["member"],
                    "compile_seconds": metrics["compile_seconds"],
                }
            )
        if step % cfg.log_every == 0 or step == end:
            m = {k: float(v) for k, v in metrics.items() if k != "compile_seconds"}
            log({"step": step, **m, "seconds": elapsed0 + time.perf_counter() - t0})
            bar.set_postfix(meta_loss=f"{m['meta_loss']:.4g}", skipped=int(m["skipped"]))
        out_of_time = elapsed0 + time.perf_counter() - t0 >= budget
        if step % cfg.eval_every == 0 or step == cfg.meta_steps or out_of_time:
            evaluate_now(step)
        if step % cfg.checkpoint_every == 0 or step == end or out_of_time:
            extra["elapsed"] = np.array(elapsed0 + time.perf_counter() - t0)
            host_state = distributed.to_host(state)  # a collective: every process takes part
            if main:
                save_checkpoint(ckpt_path, host_state, extra)
        bar.update(1)
        if out_of_time:  # the wall-clock budget (time_budget_minutes) is spent
            break
    bar.close()
    if metrics_file is not None:
        metrics_file.close()
    if not math.isfinite(float(extra["best_score"])) and step == cfg.meta_steps:
        evaluate_now(step)
    seconds = elapsed0 + time.perf_counter() - t0
    return TrainingRun(
        meta_params=state.meta_params,
        best_meta_params=extra["best_meta_params"],
        best_score=float(extra["best_score"]),
        best_step=int(extra["best_step"]),
        steps=step,
        skipped=int(state.skipped),
        seconds=seconds,
        compile_seconds=compile_seconds,
        task=task,
    )


def _validation_score(cfg: MetaTrainConfig, val_task, make_optimizer):
    """``score(meta_params) -> float`` for early stopping: the mean over ``cfg.eval_instances``
    validation instances of the summed loss over the horizon (inf if it is not finite)."""
    # Evaluation runs on one local device of every process (each computes the same numbers).
    local = jax.local_devices()[0]
    val_keys = jax.device_put(
        unroll_lib.instance_keys(cfg.seed, unroll_lib.VALIDATION_SET, cfg.eval_instances), local
    )
    eval_fn = jax.jit(
        lambda t, k, mp: unroll_lib.loss_curves(make_optimizer, t, k, cfg.horizon, mp)
    )

    def score(meta_params) -> float:
        curves = np.asarray(eval_fn(val_task, val_keys, jax.device_put(meta_params, local)))
        value = float(np.mean(np.sum(curves.astype(np.float64)[:, 1:], axis=1)))
        return value if math.isfinite(value) else math.inf

    return score


def _info(
    cfg: MetaTrainConfig, step: int, score: float, score_name: str = "mean_summed_loss"
) -> dict:
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
        f"validation_{score_name}": score,
        "config": to_dict(cfg),
        "key_tree": KEY_TREE,
    }


def _saved_run(path: Path) -> MetaTrainConfig:
    """The :class:`MetaTrainConfig` part of a run's saved config (a subclass, e.g. the one of
    ``l2l meta-train``, adds fields that do not decide whether a run may resume)."""
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    own = {f.name for f in dataclasses.fields(MetaTrainConfig)}
    return config_lib.from_dict(
        MetaTrainConfig, {k: v for k, v in data.items() if k in own}, source=str(path)
    )
