"""The benchmark's suite: its tasks, their key streams, and the runs every optimizer makes on them.

A suite task is a task section (any registered kind), its horizon and its family. Every optimizer
runs on the same ``seeds`` instances of each task (the *reported* stream); the baselines are tuned
on other instances (the *tuning* stream), so nothing that chose a baseline's step size is reported
(:func:`run_keys`). A run keeps its loss curve and, for a task with a data set, its loss and
accuracy on the official test split (:class:`Reported`).
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from l2l import sweep, unroll
from l2l.config import field
from l2l.specs import OptimizerSpec
from l2l.tasks import (
    AutoencoderConfig,
    ConvConfig,
    MarkovRNNConfig,
    MLPConfig,
    NoisyQuadraticConfig,
    QuadraticConfig,
    ReparamConfig,
    TaskConfig,
)
from l2l.tasks.splits import Split, held_out_scores

#: The two streams of the benchmark's instances (:func:`run_keys`), top-level branches of a seed's
#: key that no other experiment and no meta-training uses (:data:`l2l.unroll.STREAMS`).
Stream = Literal["benchmark_tuning", "benchmark_reported"]


@dataclasses.dataclass(frozen=True)
class SuiteTask:
    """One task of the suite: a task section, the horizon every optimizer runs, and its family
    (the tables group by it); ``quick``: in the ``--quick`` subset."""

    name: str
    family: str
    task: TaskConfig
    steps: int = field(100, ge=2)
    quick: bool = False

    def __post_init__(self) -> None:
        if not self.name or not self.family:
            raise ValueError("a suite task needs a 'name' and a 'family'")

    @property
    def window(self) -> int:
        """The steps the final loss averages over: the last 5 % (at least one)."""
        return final_window(self.steps)


def final_window(steps: int) -> int:
    """The last 5 % of a run of ``steps`` steps (at least one step)."""
    return max(1, math.ceil(0.05 * steps))


def _fashion(hidden: tuple[int, ...], activation: Any, **extra: Any) -> MLPConfig:
    return MLPConfig(
        hidden_sizes=tuple(hidden), activation=activation, dataset="fashion-mnist", **extra
    )


#: The suite: 18 tasks in 6 families, held out from every meta-training run (their instances are
#: drawn from the benchmark's own streams). Image tasks train on the training split (MNIST in
#: test-split-only mode: a carve of it, see ``l2l.data``) and are scored on the test split.
DEFAULT_SUITE: tuple[SuiteTask, ...] = (
    SuiteTask("quadratic-10d", "quadratic", QuadraticConfig(dim=10), 100, quick=True),
    SuiteTask("quadratic-50d-ill", "quadratic", QuadraticConfig(dim=50, condition_number=1e4), 200),
    SuiteTask("noisy-quadratic", "quadratic", NoisyQuadraticConfig(dim=100), 200),
    SuiteTask("quadratic-10d-long", "quadratic", QuadraticConfig(dim=10), 1000),
    SuiteTask("logistic-mnist-8x8", "logistic", MLPConfig(hidden_sizes=(), image_size=8), 300),
    SuiteTask(
        "logistic-fashion-8x8",
        "logistic",
        _fashion((), "relu", image_size=8),
        300,
        quick=True,
    ),
    SuiteTask(
        "mlp-mnist-8x8-relu",
        "mlp",
        MLPConfig(hidden_sizes=(32,), activation="relu", image_size=8),
        300,
    ),
    SuiteTask("mlp-fashion-8x8-tanh", "mlp", _fashion((32,), "tanh", image_size=8), 300),
    SuiteTask("mlp-mnist-sigmoid", "mlp", MLPConfig(hidden_sizes=(20,)), 200),
    SuiteTask("mlp-fashion-wide-relu", "mlp", _fashion((128,), "relu"), 300),
    SuiteTask("mlp-fashion-deep-tanh", "mlp", _fashion((32, 32, 32), "tanh"), 300),
    SuiteTask("mlp-fashion-gelu", "mlp", _fashion((64, 64), "gelu"), 300),
    SuiteTask(
        "mlp-fashion-8x8-reparam",
        "mlp",
        ReparamConfig(scale=100.0, task=_fashion((32,), "relu", image_size=8)),
        300,
    ),
    SuiteTask(
        "conv-fashion",
        "conv",
        ConvConfig(channels=(8, 8, 8), dense_sizes=(32,), batch_size=64, dataset="fashion-mnist"),
        200,
    ),
    SuiteTask(
        "autoencoder-mnist-8x8",
        "autoencoder",
        AutoencoderConfig(hidden_sizes=(32, 8), image_size=8),
        300,
        quick=True,
    ),
    SuiteTask(
        "autoencoder-fashion",
        "autoencoder",
        AutoencoderConfig(hidden_sizes=(64, 16), dataset="fashion-mnist"),
        300,
    ),
    SuiteTask("rnn-markov", "rnn", MarkovRNNConfig(), 100, quick=True),
    SuiteTask(
        "rnn-markov-wide",
        "rnn",
        MarkovRNNConfig(vocab=32, hidden=64, length=24, sharpness=3.0),
        150,
    ),
)


def with_data_dir(cfg: TaskConfig, root: str | None) -> TaskConfig:
    """``cfg`` reading its data set from ``root`` (a directory holding one subdirectory per data
    set) where it names no directory of its own; wrapped task sections too."""
    if root is None:
        return cfg
    changes: dict[str, Any] = {}
    if getattr(cfg, "data_dir", "") is None:
        changes["data_dir"] = root
    if isinstance(getattr(cfg, "task", None), TaskConfig):
        changes["task"] = with_data_dir(cfg.task, root)  # type: ignore[attr-defined]
    return dataclasses.replace(cfg, **changes) if changes else cfg


def _name_code(name: str) -> int:
    """A task's name as a number (its key branch: adding a task moves no other task's keys)."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def run_keys(seed: int, stream: Stream, task: str, num: int) -> jax.Array:
    """The instance keys (num, 3) of ``task``'s runs in ``stream``: run ``i``'s key is
    ``fold_in(fold_in(fold_in(key(seed), STREAMS[stream]), code(task)), i)``, cut into its sample,
    init and minibatch-stream keys."""
    base = jax.random.fold_in(unroll.stream_key(seed, stream), _name_code(task))
    return unroll.split_instance_keys(base, num)


def held_out_split(cfg: TaskConfig) -> Split | None:
    """The official test split of ``cfg``'s data set (of the task it wraps, for a wrapper), cut
    for scoring; None for a task without data."""
    inner = cfg
    while isinstance(getattr(inner, "task", None), TaskConfig):
        inner = inner.task  # type: ignore[attr-defined]
    if not hasattr(inner, "split"):
        return None
    task: Any = inner.with_split("test").build()
    labels = getattr(task, "labels", None)
    labels = np.zeros(task.images.shape[0], np.int32) if labels is None else labels
    return Split.of(task.images, labels)


@dataclasses.dataclass(frozen=True)
class Reported:
    """The sweep runner's recorder of the benchmark: the loss curve f(theta_0), ..., f(theta_T)
    (minibatch losses) and, with ``held_out``, the loss (and a classifier's accuracy) on the test
    split passed as the runner's ``extra``, at the parameters the optimizer is scored at."""

    held_out: bool = False

    def observe(self, run: sweep.RunContext, state: unroll.UnrollState) -> tuple:
        return ()

    def record(
        self, run: sweep.RunContext, state: unroll.UnrollState, losses: jax.Array, observed: Any
    ) -> dict[str, jax.Array]:
        out = sweep.LOSS_CURVE.record(run, state, losses, observed)
        if self.held_out:
            params = run.spec.eval_params(state.opt_state, state.params)
            scores = held_out_scores(run.task, params, run.extra)
            out.update({f"test_{name}": value for name, value in scores.items()})
        return out


def final_losses(curves: np.ndarray, steps: int) -> np.ndarray:
    """Each run's final training loss: the mean of its curve over the last 5 % of the steps
    (curves (..., steps + 1)); non-finite where the run diverged."""
    curves = np.asarray(curves, np.float64)
    return np.mean(curves[..., steps + 1 - final_window(steps) : steps + 1], axis=-1)


@dataclasses.dataclass
class TaskRuns:
    """``seeds`` reported runs of one optimizer on one task."""

    final_loss: list[float]
    test_loss: list[float] | None = None
    test_accuracy: list[float] | None = None
    curve: np.ndarray | None = dataclasses.field(default=None, repr=False)  # (seeds, steps + 1)


def run_reported(
    runner: sweep.Runner,
    spec: OptimizerSpec,
    task: Any,
    keys: jax.Array,
    steps: int,
    split: Split | None,
    values: dict[str, Any] | None = None,
) -> TaskRuns:
    """``spec`` (with ``values`` set, one value each) on the reported instances ``keys``."""
    batch = None if not values else {k: jnp.asarray([v]) for k, v in values.items()}
    out = runner.run(
        spec, task, keys, steps, batch, recorder=Reported(split is not None), extra=split, chunk=1
    )
    curve = np.asarray(out["curve"][0], np.float64)
    runs = TaskRuns(final_loss=_floats(final_losses(curve, steps)), curve=curve)
    if split is not None:
        runs.test_loss = _floats(out["test_loss"][0])
        if "test_accuracy" in out:
            runs.test_accuracy = _floats(out["test_accuracy"][0])
    return runs


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, np.float64)]
