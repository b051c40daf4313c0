"""The baseline tuning protocol and the held-out comparison: numbers, not pictures.

The protocol of the learned-optimizer papers: each baseline gets a log-spaced learning-rate grid;
the rate is chosen on a *tuning* set of instances by a score of its loss curves (by default the
mean over instances of the summed losses f(theta_1) + ... + f(theta_T)); the chosen setting is then
reported on a separate *held-out* set of instances, the same instances for every optimizer
(:func:`l2l.unroll.instance_keys`). :func:`tune` is the one tuning loop; its ``score`` is pluggable
(the zero-machine study tunes for the log of the final loss).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from l2l import learned, optimizers
from l2l.config import field
from l2l.unroll import TEST_SET, TUNING_SET, instance_keys, loss_curves

__all__ = [
    "DEFAULT_BASELINES",
    "TEST_SET",
    "TUNING_SET",
    "BaselineConfig",
    "Comparison",
    "Result",
    "Tuned",
    "compare",
    "curve_summary",
    "evaluate_learned",
    "mean_summed_loss",
    "summed_loss",
    "tune",
    "tune_baseline",
]


@dataclasses.dataclass(frozen=True)
class BaselineConfig:
    """A hand-designed optimizer to tune: its name, the learning-rate grid, and its other
    hyperparameters (optax's names, e.g. ``{momentum: 0.9}`` for ``nesterov``)."""

    name: str
    lr_min: float = field(1e-4, gt=0)
    lr_max: float = field(1.0, gt=0)
    num_lrs: int = field(9, ge=1)
    hyperparams: dict[str, float] = field({})

    def __post_init__(self):
        if self.name not in optimizers.OPTIMIZERS:
            known = ", ".join(sorted(optimizers.OPTIMIZERS))
            raise ValueError(f"unknown optimizer {self.name!r}; known: {known}")
        if self.lr_max < self.lr_min:
            raise ValueError(f"lr_max ({self.lr_max}) is below lr_min ({self.lr_min})")
        if {"lr", "learning_rate"} & set(self.hyperparams):
            raise ValueError(
                "the learning rate is tuned over the grid [lr_min, lr_max]; remove it from "
                "hyperparams"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.make(self.lr_min)  # names an unknown hyperparameter or a bad value

    @property
    def lr_grid(self) -> np.ndarray:
        return np.geomspace(self.lr_min, self.lr_max, self.num_lrs)

    def make(self, learning_rate) -> optax.GradientTransformationExtraArgs:
        return optimizers.make(self.name, learning_rate=learning_rate, **self.hyperparams)


DEFAULT_BASELINES = (
    BaselineConfig("sgd", 1e-4, 1.0, 25),
    BaselineConfig("momentum", 1e-4, 1.0, 25, {"momentum": 0.9}),
    BaselineConfig("nesterov", 1e-4, 1.0, 25, {"momentum": 0.9}),
    BaselineConfig("rmsprop", 1e-4, 1.0, 25, {"decay": 0.9}),
    BaselineConfig("adam", 1e-4, 1.0, 25),
)


# --------------------------------------------------------------------------- scores


def summed_loss(curves: np.ndarray) -> np.ndarray:
    """Per-instance f(theta_1) + ... + f(theta_T), the papers' meta-loss; inf if not finite."""
    total = np.sum(np.asarray(curves, np.float64)[:, 1:], axis=1)
    return np.where(np.isfinite(total), total, np.inf)


def mean_summed_loss(curves: np.ndarray) -> float:
    """The protocol's default score: the mean over instances of the summed losses."""
    return float(np.mean(summed_loss(curves)))


#: A tuning score: loss curves (instances, steps + 1) -> a number to minimize.
Score = Callable[[np.ndarray], float]


# --------------------------------------------------------------------------- tuning


# One compiled function per optimizer and horizon, reused across grids, panels and comparisons
# (the task and the instances are arguments, so every task of one structure shares it).
@functools.cache
def _baseline_curves(name: str, hyperparams: tuple, steps: int):
    def make(learning_rate):
        return optimizers.make(name, learning_rate=learning_rate, **dict(hyperparams))

    return jax.jit(lambda t, k, lr: loss_curves(make, t, k, steps, lr))


@functools.cache
def _learned_curves(config: learned.LearnedOptimizerConfig, steps: int):
    return jax.jit(lambda t, k, mp: loss_curves(config.optimizer, t, k, steps, mp))


class Tuned(NamedTuple):
    """What :func:`tune` chose and how the choice does on the held-out instances."""

    learning_rate: float
    grid: np.ndarray  # the learning rates tried
    scores: list[float]  # the tuning score of each
    at_grid_edge: bool  # the best rate is the grid's first or last (widen the grid)
    test_curves: np.ndarray  # (held-out instances, steps + 1) at the chosen rate


def tune(
    baseline: BaselineConfig,
    task,
    tuning_keys: jax.Array,
    test_keys: jax.Array,
    steps: int,
    *,
    score: Score = mean_summed_loss,
    progress=None,
) -> Tuned:
    """Choose ``baseline``'s learning rate on the tuning instances by ``score``; run the chosen
    one on the held-out instances. One compiled function serves the whole grid."""
    fn = _baseline_curves(baseline.name, tuple(sorted(baseline.hyperparams.items())), steps)
    scores = []
    for lr in baseline.lr_grid:
        value = score(np.asarray(fn(task, tuning_keys, lr), np.float64))
        scores.append(value if math.isfinite(value) else math.inf)
        if progress is not None:
            progress.update(1)
    best = int(np.argmin(scores))
    if not math.isfinite(scores[best]):
        raise RuntimeError(f"{baseline.name}: every learning rate of the grid diverged")
    at_edge = baseline.num_lrs > 1 and best in (0, baseline.num_lrs - 1)
    learning_rate = float(baseline.lr_grid[best])
    test_curves = np.asarray(fn(task, test_keys, learning_rate), np.float64)
    return Tuned(learning_rate, baseline.lr_grid, scores, at_edge, test_curves)


# --------------------------------------------------------------------------- results


@dataclasses.dataclass
class Result:
    """One optimizer on the held-out instances: every number the table and the figure show."""

    name: str
    hyperparams: dict[str, float]
    mean_summed_loss: float
    summed_losses: list[float]  # per held-out instance
    sem_summed_loss: float = math.nan
    median_summed_loss: float = math.nan
    mean_final_loss: float = math.nan
    diverged: int = 0
    curve_mean: list[float] = dataclasses.field(default_factory=list)  # the mean curve
    curve_q25: list[float] = dataclasses.field(default_factory=list)  # f(theta_0..T), its IQR
    curve_q75: list[float] = dataclasses.field(default_factory=list)
    learned: bool = False
    source: str | None = None  # a learned optimizer's zoo name or file
    lr_grid: list[float] | None = None  # a tuned baseline's grid and tuning scores
    tuning_scores: list[float] | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict) -> Result:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def curve_summary(curves: np.ndarray) -> dict[str, Any]:
    """The statistics of :class:`Result` of held-out loss curves (instances, steps + 1)."""
    curves = np.asarray(curves, np.float64)
    summed = summed_loss(curves)
    finite = np.isfinite(summed)
    return {
        "mean_summed_loss": float(np.mean(summed)),
        "sem_summed_loss": float(np.std(summed[finite]) / math.sqrt(max(finite.sum(), 1))),
        "median_summed_loss": float(np.median(summed)),
        "mean_final_loss": float(np.mean(curves[:, -1])),
        "diverged": int((~finite).sum()),
        "summed_losses": summed.tolist(),
        "curve_mean": np.mean(curves, axis=0).tolist(),
        "curve_q25": np.quantile(curves, 0.25, axis=0).tolist(),
        "curve_q75": np.quantile(curves, 0.75, axis=0).tolist(),
    }


def tune_baseline(
    baseline: BaselineConfig, task, tuning_keys, test_keys, steps: int, progress=None
) -> Result:
    """:func:`tune` by the default score, summarized as a :class:`Result`."""
    tuned = tune(baseline, task, tuning_keys, test_keys, steps, progress=progress)
    if tuned.at_grid_edge:
        warnings.warn(
            f"{baseline.name}: the best learning rate ({tuned.learning_rate:.3g}) is at the edge "
            f"of the grid [{baseline.lr_min:g}, {baseline.lr_max:g}]; widen the grid to be sure",
            stacklevel=2,
        )
    return Result(
        name=baseline.name,
        hyperparams={"learning_rate": tuned.learning_rate, **baseline.hyperparams},
        lr_grid=tuned.grid.tolist(),
        tuning_scores=tuned.scores,
        **curve_summary(tuned.test_curves),
    )


def learned_label(name_or_path: str) -> str:
    """A learned optimizer's name in tables: its zoo name, or its file's stem."""
    return Path(name_or_path).stem if name_or_path.endswith(".l2l") else name_or_path


def evaluate_learned(name_or_path: str, task, test_keys, steps: int) -> Result:
    """A saved learned optimizer (zoo name or file) on the held-out instances; no tuning."""
    trained = learned.resolve(name_or_path)
    try:
        fn = _learned_curves(trained.config, steps)
    except TypeError:  # an architecture config that cannot be hashed: compile it unshared
        fn = jax.jit(lambda t, k, mp: loss_curves(trained.config.optimizer, t, k, steps, mp))
    curves = np.asarray(fn(task, test_keys, trained.meta_params))
    return Result(
        name=learned_label(name_or_path),
        hyperparams={},
        learned=True,
        source=name_or_path,
        **curve_summary(curves),
    )


# --------------------------------------------------------------------------- the comparison


@dataclasses.dataclass
class Comparison:
    """Tuned baselines and learned optimizers on the same held-out instances of one task."""

    task: dict  # the task's config, as written
    steps: int
    seed: int
    num_tuning: int
    num_test: int
    results: list[Result]

    @classmethod
    def from_json(cls, panel: dict) -> Comparison:
        """A comparison read back from a ``results.json`` (a panel's ``config`` and ``results``)."""
        cfg = panel["config"]
        return cls(
            task=cfg["task"],
            steps=cfg["steps"],
            seed=cfg["seed"],
            num_tuning=cfg.get("num_tuning", 0),
            num_test=cfg["num_test"],
            results=[Result.from_json(r) for r in panel["results"]],
        )

    @property
    def baselines(self) -> list[Result]:
        return [r for r in self.results if not r.learned]

    def best_baseline(self) -> Result:
        """The tuned baseline with the lowest held-out mean summed loss."""
        return min(self.baselines, key=lambda r: r.mean_summed_loss)

    def ratios_to_best_baseline(self) -> dict[str, float]:
        """Each learned optimizer's mean summed loss over the best tuned baseline's."""
        best = self.best_baseline().mean_summed_loss
        return {r.name: r.mean_summed_loss / best for r in self.results if r.learned}

    def held_out_summary(self) -> dict:
        """The headline numbers, small enough to store inside a trained optimizer's file."""
        return {
            "task": self.task,
            "steps": self.steps,
            "instances": self.num_test,
            "seed": self.seed,
            "mean_summed_loss": {r.name: r.mean_summed_loss for r in self.results},
            # Per-instance values of the first few held-out instances: a cheap exact check later;
            # and every one of a learned optimizer's, which a check robust to the chaotic drift
            # of a few instances under another CPU's rounding needs (the median of the ratios).
            "first_summed_losses": {r.name: r.summed_losses[:4] for r in self.results},
            "summed_losses": {r.name: r.summed_losses for r in self.results if r.learned},
            "best_baseline": self.best_baseline().name,
            "ratio_to_best_baseline": self.ratios_to_best_baseline(),
        }

    def table(self) -> str:
        """A markdown table of the held-out numbers, best first."""
        rows = sorted(self.results, key=lambda r: r.mean_summed_loss)
        tuned = [r.mean_summed_loss for r in self.baselines]
        best = min(tuned) if tuned else rows[0].mean_summed_loss
        lines = [
            "| optimizer | hyperparameters | mean summed loss (± s.e.m.) | ratio to best baseline "
            "| final loss |",
            "|---|---|---|---|---|",
        ]
        for r in rows:
            hp = ", ".join(f"{k}={v:.3g}" for k, v in r.hyperparams.items())
            hp = hp or ("learned" if r.learned else "")
            lines.append(
                f"| {r.name} | {hp} | {r.mean_summed_loss:.4g} ± {r.sem_summed_loss:.2g} "
                f"| {r.mean_summed_loss / best:.3f} | {r.mean_final_loss:.4g} |"
            )
        return "\n".join(lines)


def compare(
    task_config,
    *,
    baselines: Sequence[BaselineConfig],
    learned_optimizers: Sequence[str] = (),
    steps: int,
    seed: int = 0,
    num_tuning: int = 128,
    num_test: int = 256,
    show_progress: bool = True,
) -> Comparison:
    """Tune every baseline on the tuning instances of ``task_config``'s task; report them and the
    learned optimizers (zoo names or files) on the held-out instances."""
    from tqdm.auto import tqdm

    from l2l.config import to_dict

    task = task_config.build()
    tuning_keys = instance_keys(seed, TUNING_SET, num_tuning)
    test_keys = instance_keys(seed, TEST_SET, num_test)
    total = sum(b.num_lrs for b in baselines) + len(learned_optimizers)
    results = []
    with tqdm(total=total, desc="evaluating", disable=not show_progress) as bar:
        for baseline in baselines:
            bar.set_postfix_str(baseline.name)
            results.append(tune_baseline(baseline, task, tuning_keys, test_keys, steps, bar))
        for name in learned_optimizers:
            bar.set_postfix_str(name)
            results.append(evaluate_learned(name, task, test_keys, steps))
            bar.update(1)
    return Comparison(to_dict(task_config), steps, seed, num_tuning, num_test, results)
