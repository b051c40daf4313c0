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
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from l2l import specs, sweep
from l2l.specs import OptimizerSpec
from l2l.sweep import LogGrid
from l2l.unroll import TEST_SET, TUNING_SET, instance_keys

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


@dataclasses.dataclass(frozen=True, kw_only=True)
class BaselineConfig(LogGrid):
    """A hand-designed optimizer to tune: its spec (any kind, :mod:`l2l.specs`) and the log grid
    of its ``learning_rate`` (``lr_min``, ``lr_max``, ``num_lrs``); ``label`` names it in tables
    (default: the spec's label or name).

        {optimizer: adam, lr_min: 1.0e-4, lr_max: 1.0, num_lrs: 25}
        {optimizer: {name: nesterov, hyperparams: {momentum: 0.9}}, num_lrs: 25}

    The layout of l2l 0.2 (``{name: nesterov, hyperparams: {momentum: 0.9}, ...}``) is still read,
    with a ``DeprecationWarning``; it goes in l2l 0.4."""

    optimizer: OptimizerSpec
    label: str = ""

    @classmethod
    def __normalize__(cls, data: dict, *, where: str) -> dict:
        if "optimizer" in data or not ({"name", "hyperparams"} & set(data)):
            return data
        warnings.warn(
            f"{where}: a baseline written as {{name: ..., hyperparams: ...}} is deprecated; write "
            "{optimizer: {name: ..., hyperparams: ...}, lr_min: ..., ...} (an optimizer spec)",
            DeprecationWarning,
            stacklevel=4,
        )
        data = dict(data)
        optimizer = {"kind": "classic", "name": data.pop("name", None)}
        if "hyperparams" in data:
            optimizer["hyperparams"] = data.pop("hyperparams")
        return {"optimizer": optimizer, **data}

    @classmethod
    def of(cls, optimizer: OptimizerSpec | str | dict, **grid_and_label) -> BaselineConfig:
        """``BaselineConfig.of("adam", lr_min=1e-3, num_lrs=13)``: any spec, or what
        :func:`l2l.specs.spec` reads (a name, a mapping)."""
        return cls(optimizer=specs.spec(optimizer), **grid_and_label)

    def __post_init__(self):
        super().__post_init__()
        if "learning_rate" in getattr(self.optimizer, "hyperparams", {}):
            raise ValueError(
                "the learning rate is tuned over the grid [lr_min, lr_max]; remove it from "
                "hyperparams"
            )
        self.optimizer.check_arguments(["learning_rate"])

    @property
    def name(self) -> str:
        return self.label or self.optimizer.display_label

    @property
    def hyperparams(self) -> dict[str, Any]:
        """The spec's fixed hyperparameters (besides the tuned learning rate)."""
        return dict(getattr(self.optimizer, "hyperparams", {}))

    @property
    def lr_grid(self) -> np.ndarray:
        return self.values

    def make(self, learning_rate) -> optax.GradientTransformationExtraArgs:
        return self.optimizer.build(learning_rate=learning_rate)


def _classic(name: str, **hyperparams) -> BaselineConfig:
    spec = specs.ClassicSpec(name=name, hyperparams=hyperparams)
    return BaselineConfig(optimizer=spec, lr_min=1e-4, lr_max=1.0, num_lrs=25)


DEFAULT_BASELINES = (
    _classic("sgd"),
    _classic("momentum", momentum=0.9),
    _classic("nesterov", momentum=0.9),
    _classic("rmsprop", decay=0.9),
    _classic("adam"),
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
    runner: sweep.Runner | None = None,
) -> Tuned:
    """Choose ``baseline``'s learning rate on the tuning instances by ``score`` of their loss
    curves; run the chosen one on the held-out instances. One compiled program (of ``runner``,
    which may be shared with other tunings: every baseline of one structure and horizon uses it)
    serves the whole grid, one learning rate at a time."""
    runner = runner or sweep.Runner()
    try:
        tuned = sweep.tune(
            baseline.optimizer,
            baseline,
            task,
            tuning_keys,
            steps,
            score=lambda out: score(np.asarray(out["curve"], np.float64)),
            runner=runner,
            chunk=1,
            progress=None if progress is None else progress.update,
        )
    except RuntimeError:
        raise RuntimeError(f"{baseline.name}: every learning rate of the grid diverged") from None
    chosen = {"learning_rate": tuned.grid[tuned.best : tuned.best + 1]}
    test = runner.run(baseline.optimizer, task, test_keys, steps, chosen, chunk=1)
    test_curves = np.asarray(test["curve"][0], np.float64)
    return Tuned(tuned.value, tuned.grid, tuned.scores, tuned.at_edge, test_curves)


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

    __json_omit_none__ = True  # a learned optimizer's JSON has no grid and tuning scores

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
    baseline: BaselineConfig,
    task,
    tuning_keys,
    test_keys,
    steps: int,
    progress=None,
    *,
    runner: sweep.Runner | None = None,
) -> Result:
    """:func:`tune` by the default score, summarized as a :class:`Result`."""
    tuned = tune(baseline, task, tuning_keys, test_keys, steps, progress=progress, runner=runner)
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


def evaluate_learned(
    name_or_path: str, task, test_keys, steps: int, *, runner: sweep.Runner | None = None
) -> Result:
    """A saved learned optimizer (zoo name or file) on the held-out instances; no tuning. Its
    weights enter the compiled program as an argument, so every trained optimizer of one
    architecture shares ``runner``'s program."""
    spec = specs.LearnedSpec(path=name_or_path)
    weights = jax.tree.map(lambda x: x[None], spec.trained().meta_params)
    values = {"meta_params": weights}
    out = (runner or sweep.Runner()).run(spec, task, test_keys, steps, values, chunk=1)
    return Result(
        name=learned_label(name_or_path),
        hyperparams={},
        learned=True,
        source=name_or_path,
        **curve_summary(out["curve"][0]),
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
    def from_json(cls, data: dict) -> Comparison:
        """A comparison read back from a ``results.json`` (a panel's ``comparison``; the layout of
        l2l 0.2, a panel's ``config`` and ``results``, is read too)."""
        fields = data.get("config", data)
        return cls(
            task=fields["task"],
            steps=fields["steps"],
            seed=fields["seed"],
            num_tuning=fields.get("num_tuning", 0),
            num_test=fields["num_test"],
            results=[Result.from_json(r) for r in data["results"]],
        )

    @property
    def baselines(self) -> list[Result]:
        return [r for r in self.results if not r.learned]

    def best_baseline(self) -> Result | None:
        """The tuned baseline with the lowest held-out mean summed loss (None without any)."""
        return min(self.baselines, key=lambda r: r.mean_summed_loss, default=None)

    def ratios_to_best_baseline(self) -> dict[str, float]:
        """Each learned optimizer's mean summed loss over the best tuned baseline's (none without
        baselines)."""
        best = self.best_baseline()
        if best is None:
            return {}
        return {
            r.name: r.mean_summed_loss / best.mean_summed_loss for r in self.results if r.learned
        }

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
            "best_baseline": None if self.best_baseline() is None else self.best_baseline().name,
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
    runner: sweep.Runner | None = None,
) -> Comparison:
    """Tune every baseline on the tuning instances of ``task_config``'s task; report them and the
    learned optimizers (zoo names or files) on the held-out instances. Comparisons that share a
    ``runner`` share its compiled programs."""
    from tqdm.auto import tqdm

    from l2l.config import to_dict

    task = task_config.build()
    tuning_keys = instance_keys(seed, TUNING_SET, num_tuning)
    test_keys = instance_keys(seed, TEST_SET, num_test)
    runner = runner or sweep.Runner()
    total = sum(b.num_lrs for b in baselines) + len(learned_optimizers)
    results = []
    with tqdm(total=total, desc="evaluating", disable=not show_progress) as bar:
        for baseline in baselines:
            bar.set_postfix_str(baseline.name)
            results.append(
                tune_baseline(baseline, task, tuning_keys, test_keys, steps, bar, runner=runner)
            )
        for name in learned_optimizers:
            bar.set_postfix_str(name)
            results.append(evaluate_learned(name, task, test_keys, steps, runner=runner))
            bar.update(1)
    return Comparison(to_dict(task_config), steps, seed, num_tuning, num_test, results)
