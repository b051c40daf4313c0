"""Meta-training on a distribution of tasks (task kind ``distribution``,
:mod:`l2l.tasks.distribution`): one meta-step of one member at a time, one set of weights.

Meta-step s draws member :math:`m_s` with probability proportional to its weight (from the seed's
``meta_schedule`` stream, so a resumed run draws the same members) and runs one truncation of
that member's batch through the member's own jitted meta-step (:func:`l2l.meta.step.make_trainer`
with the member's horizon and batch size): the shared meta-parameters and meta-optimizer state go
in, the updated ones come out. Every member keeps its own optimizees in flight, so a member's
horizon continues where it stopped when it is next drawn. Member m draws its instances and noise
under branch m of the ``meta_members`` stream, so no two members (and no member and a
single-task run) share a key.

Each member is its own program: it is compiled the first time it is drawn and reused after
(``compile_seconds`` in the metrics of that step). The validation score of early stopping is the
mean over members of the log of their mean validation loss over their horizon, so that a member
whose losses are large (a quadratic) does not outweigh one whose losses are small.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from l2l import unroll as unroll_lib
from l2l._streams import stream_key
from l2l.config import ConfigError
from l2l.meta.config import MetaTrainConfig
from l2l.meta.step import MetaTrainer, make_trainer
from l2l.tasks.distribution import TaskDistribution


class DistributionState(NamedTuple):
    """What meta-training on a distribution carries (a pytree, checkpointed as is)."""

    meta_params: Any  # the shared weights of the learned optimizer
    meta_opt_state: Any  # the meta-optimizer's state (its count: meta-steps of every member)
    # Per member, its MetaState without the two fields above (each ()): optimizees in flight,
    # instances, stream keys, the member's own step and skipped counters.
    members: tuple
    step: Any  # meta-steps taken in all (a host integer; the member drawn next is schedule[step])

    @property
    def skipped(self) -> jax.Array:
        """Meta-steps skipped for a non-finite meta-gradient, over every member."""
        return sum(m.skipped for m in self.members)


def member_config(cfg: MetaTrainConfig, index: int) -> MetaTrainConfig:
    """The single-task run of member ``index``: its task, horizon and batch size."""
    member = cfg.task.members[index]  # type: ignore[attr-defined]
    try:
        return dataclasses.replace(
            cfg,
            task=member.task,
            horizon=member.horizon or cfg.horizon,
            batch_size=member.batch_size or cfg.batch_size,
        )
    except ValueError as err:
        raise ConfigError(f"task.members[{index}]: {err}") from None


def member_streams(seed: int, index: int) -> tuple[jax.Array, jax.Array]:
    """The keys member ``index`` draws its instances and its estimator noise under."""
    branch = jax.random.fold_in(stream_key(seed, "meta_members"), index)
    return jax.random.fold_in(branch, 0), jax.random.fold_in(branch, 1)


def schedule(seed: int, meta_steps: int, weights: tuple[float, ...]) -> np.ndarray:
    """The member each of ``meta_steps`` meta-steps draws: (meta_steps,) ints, member i with
    probability weights[i] / sum(weights)."""
    logits = jnp.log(jnp.asarray(weights, jnp.float32))
    draws = jax.random.categorical(stream_key(seed, "meta_schedule"), logits, shape=(meta_steps,))
    return np.asarray(draws, np.int64)


def make_distribution_trainer(cfg: MetaTrainConfig, distribution: TaskDistribution) -> MetaTrainer:
    """The meta-step of ``cfg`` over ``distribution``: a :class:`l2l.meta.MetaTrainer` whose state
    is a :class:`DistributionState` (its ``step`` dispatches each meta-step to the jitted step
    of the member it draws)."""
    if cfg.distributed.devices not in (None, 1) or cfg.distributed.num_processes not in (None, 1):
        raise ConfigError("distributed: meta-training on a task distribution runs on one device")
    configs = [member_config(cfg, i) for i in range(len(distribution.tasks))]
    trainers = [
        make_trainer(c, t, streams=member_streams(cfg.seed, i))
        for i, (c, t) in enumerate(zip(configs, distribution.tasks, strict=True))
    ]
    draws = schedule(cfg.seed, cfg.meta_steps, distribution.weights)
    compiled: set[int] = set()

    def init(key=None):
        del key
        states = [t.init() for t in trainers]
        return DistributionState(
            states[0].meta_params,
            states[0].meta_opt_state,
            tuple(s._replace(meta_params=(), meta_opt_state=()) for s in states),
            np.int64(0),
        )

    def step(state: DistributionState):
        index = int(state.step)
        m = int(draws[index])
        full = state.members[m]._replace(
            meta_params=state.meta_params, meta_opt_state=state.meta_opt_state
        )
        start = time.perf_counter()
        new, metrics = trainers[m].step(full)
        metrics = dict(metrics)
        if m not in compiled:  # its first meta-step: the compile, and the step
            jax.block_until_ready(new.meta_params)
            metrics["compile_seconds"] = time.perf_counter() - start
            compiled.add(m)
        members = list(state.members)
        members[m] = new._replace(meta_params=(), meta_opt_state=())
        state = DistributionState(
            new.meta_params, new.meta_opt_state, tuple(members), np.int64(index + 1)
        )
        metrics["member"] = m
        metrics["skipped"] = state.skipped
        return state, metrics

    return MetaTrainer(init, step, None, trainers[0].make_optimizer)


def validation_score(cfg: MetaTrainConfig, validation: TaskDistribution, make_optimizer):
    """``score(meta_params) -> float`` for early stopping: the mean over members of
    log(mean validation loss over the member's horizon), on ``cfg.eval_instances`` instances of
    each member (``validation``: the distribution on its validation split); inf if any diverged."""
    keys = unroll_lib.instance_keys(cfg.seed, unroll_lib.VALIDATION_SET, cfg.eval_instances)
    horizons = [member_config(cfg, i).horizon for i in range(len(validation.tasks))]
    curves = [
        jax.jit(lambda t, k, mp, h=h: unroll_lib.loss_curves(make_optimizer, t, k, h, mp))
        for h in horizons
    ]

    def score(meta_params) -> float:
        logs = []
        for task, curve in zip(validation.tasks, curves, strict=True):
            losses = np.asarray(curve(task, keys, meta_params), np.float64)
            mean = float(np.mean(losses[:, 1:]))
            if not (math.isfinite(mean) and mean > 0):
                return math.inf
            logs.append(math.log(mean))
        return float(np.mean(logs))

    return score
