"""The config of a meta-training run: the task, the learned optimizer, the meta-optimizer, the
unroll (horizon, truncation, batch), the estimator, and the loop's schedule."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import optax

from l2l._suggest import did_you_mean
from l2l.config import field
from l2l.learned import LearnedOptimizerConfig, LSTMOptimizerConfig
from l2l.meta.distributed import DistributedConfig
from l2l.meta.estimators import ESTIMATORS
from l2l.meta.objectives import OBJECTIVES
from l2l.tasks import QuadraticConfig, TaskConfig


@dataclasses.dataclass(frozen=True)
class MetaOptimizerConfig:
    """The optax optimizer that trains the learned optimizer's weights."""

    __renamed__: ClassVar[dict[str, str]] = {"lr": "learning_rate"}

    name: Literal["adam", "sgd", "rmsprop"] = "adam"
    learning_rate: float = field(3e-3, gt=0)
    clip_norm: float | None = field(1.0, gt=0, help="global-norm clipping of the meta-gradient")
    decay_to: float = field(0.1, gt=0, le=1, help="cosine-decay the lr to lr*decay_to by the end")

    def make(self, total_steps: int) -> optax.GradientTransformation:
        lr = self.learning_rate
        if self.decay_to < 1.0:
            lr = optax.cosine_decay_schedule(lr, max(total_steps, 1), alpha=self.decay_to)
        base = {"adam": optax.adam, "sgd": optax.sgd, "rmsprop": optax.rmsprop}[self.name](lr)
        if self.clip_norm is None:
            return base
        return optax.chain(optax.clip_by_global_norm(self.clip_norm), base)


@dataclasses.dataclass(frozen=True)
class MetaTrainConfig:
    """Everything that defines a meta-training run (saved beside its outputs).

    ``l2l meta-train`` reads :class:`l2l.experiments.meta_train.MetaTrainExperimentConfig`, this
    plus the comparison with tuned baselines that closes a run.
    """

    task: TaskConfig = field(QuadraticConfig())
    optimizer: LearnedOptimizerConfig = field(LSTMOptimizerConfig())
    meta_optimizer: MetaOptimizerConfig = field(MetaOptimizerConfig())
    horizon: int = field(100, ge=1, help="optimizee steps per task instance")
    truncation: int = field(20, ge=1, help="optimizee steps per meta-step (truncated BPTT)")
    batch_size: int = field(128, ge=1, help="task instances per meta-step (vmapped)")
    meta_steps: int = field(3000, ge=1, help="meta-steps (truncations) in all")
    time_budget_minutes: float | None = field(
        None, gt=0, help="stop meta-training after this much wall-clock time (None: no limit)"
    )
    objective: str = field("sum", help="a name in l2l.meta.objectives.OBJECTIVES")
    second_derivatives: bool = False  # tbptt only: ES and PES see the whole function anyway
    # The meta-gradient estimator (l2l.meta.estimators): truncated backpropagation, Persistent
    # Evolution Strategies (unbiased over the horizon), or truncated antithetic ES.
    estimator: str = "tbptt"
    es_sigma: float = field(0.01, gt=0, help="std of the (P)ES perturbations of the meta-params")
    es_pairs: int = field(1, ge=1, help="antithetic pairs of (P)ES particles per task instance")
    # Speed and memory (same meta-gradient either way): recompute each optimizee step in the
    # backward pass (jax.checkpoint) instead of storing its intermediates; bfloat16 operands for
    # the LSTM's matmuls (float32 accumulation, carry and gates).
    remat: bool = True
    # Unroll with the architecture's batched fast path where it has one (learned.BatchedUpdate:
    # the LSTM's and the MLP's), else vmap the plain transform over the batch (same numbers to
    # float rounding; false for comparisons and benchmarks).
    fast_paths: bool = True
    lstm_matmul_dtype: Literal["float32", "bfloat16"] = "float32"
    eval_every: int = field(250, ge=1)
    eval_instances: int = field(128, ge=1)
    checkpoint_every: int = field(500, ge=1)
    log_every: int = field(25, ge=1)
    seed: int = field(0, ge=0)
    output_dir: str = "runs/quadratic_lstm"
    # Data tasks (MNIST): which split early stopping trains optimizees on (None: the training
    # task's own split).
    validation_split: Literal["train", "validation", "test"] | None = None
    # Devices and processes the task batch is split over (default: all devices, one process).
    distributed: DistributedConfig = field(DistributedConfig())

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"objective: unknown {self.objective!r}.{did_you_mean(self.objective, OBJECTIVES)}"
                f" Known: {', '.join(sorted(OBJECTIVES))}"
            )
        if self.estimator not in ESTIMATORS:
            raise ValueError(
                f"estimator: unknown {self.estimator!r}.{did_you_mean(self.estimator, ESTIMATORS)}"
                f" Known: {', '.join(sorted(ESTIMATORS))}"
            )
        if self.horizon % self.truncation:
            raise ValueError(
                f"horizon ({self.horizon}) must be a multiple of truncation ({self.truncation})"
            )

    @property
    def truncations_per_horizon(self) -> int:
        return self.horizon // self.truncation


def validation_task_config(cfg: MetaTrainConfig) -> TaskConfig:
    """The task early stopping scores on: the training task on ``validation_split`` if given."""
    if cfg.validation_split is None:
        return cfg.task
    return cfg.task.with_split(cfg.validation_split)


#: The fields of a config that may change when a run resumes: how long, how often to log, on
#: which devices, with or without remat or fast paths: nothing that changes the numbers computed.
RESUMABLE_CHANGES = (
    "time_budget_minutes",
    "eval_every",
    "checkpoint_every",
    "log_every",
    "remat",
    "fast_paths",
    "distributed",
)


def same_run(a: MetaTrainConfig, b: MetaTrainConfig) -> bool:
    """Whether a checkpoint written under config ``a`` may be resumed under config ``b``: their
    :class:`MetaTrainConfig` fields agree, except :data:`RESUMABLE_CHANGES` (fields that a
    subclass adds, e.g. the closing comparison of ``l2l meta-train``, do not matter)."""
    names = [f.name for f in dataclasses.fields(MetaTrainConfig) if f.name not in RESUMABLE_CHANGES]
    return all(getattr(a, n) == getattr(b, n) for n in names)
