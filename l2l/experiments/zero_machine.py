"""``l2l zero-machine``: how many runs reach float32's smallest normal number in 20 steps.

The problem is f(x) = sum_i (s_i x_i)^2 in 2 dimensions, s_i ~ U[0.5, 1.5], x_0 ~ U[-1, 1]^2
(:class:`l2l.tasks.SeparableQuadratic`), 20 optimization steps in float32. The "zero machine" is
``jnp.finfo(jnp.float32).tiny`` ~ 1.18e-38: a run *reaches* it when f(theta_t) <= tiny for some
t in 1..20. From f(theta_0) ~ 0.3 that takes a factor of more than 100 per step on average, across
38 orders of magnitude, so an optimizer that depends on the scale of its inputs cannot do it.

Every optimizer is run on the same held-out instances. The hand-designed baselines (SGD, RMSProp,
Adam, Nesterov) are tuned by the protocol of :func:`l2l.evaluate.tune` (the learning rate of a
log-spaced grid with the lowest mean summed loss on separate tuning instances); with
``selection`` including ``log_final`` each is also tuned for the mean log10 of its final loss (the
same loop with another score), a second row that gives it its best shot at the zero machine.

Numbers reported per optimizer:

- ``reached``: the fraction of runs with f(theta_t) <= tiny for some t in 1..steps (a loss that
  underflowed to exactly 0 counts; XLA on CPU flushes float32 subnormals to 0).
- ``mean_log10_final`` / ``median_log10_final``: log10 f(theta_steps), where a final loss of 0
  enters as log10 of float32's smallest subnormal, log10(2^-149) ~ -44.85 (:data:`LOG10_OF_ZERO`),
  and a non-finite one (a diverged run) as log10 of float32's largest number, ~ 38.53.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Literal

import numpy as np

from l2l import learned, plots, sweep
from l2l.config import field
from l2l.evaluate import (
    DEFAULT_BASELINES,
    BaselineConfig,
    learned_label,
    mean_summed_loss,
    tune,
)
from l2l.experiments.report import write_report
from l2l.tasks import SeparableQuadraticConfig, TaskConfig
from l2l.unroll import TEST_SET, TUNING_SET, instance_keys, run_optimizer

#: float32's smallest normal number, the zero machine.
ZERO_MACHINE = float(np.finfo(np.float32).tiny)
#: log10 of float32's smallest subnormal 2^-149: where a loss of exactly 0 enters the log10 mean.
LOG10_OF_ZERO = -149 * math.log10(2.0)
#: log10 of float32's largest number: where a non-finite (diverged) loss enters the log10 mean.
LOG10_OF_OVERFLOW = float(np.log10(np.finfo(np.float32).max))

ZERO_MACHINE_TASK = SeparableQuadraticConfig(dim=2, scale_low=0.5, scale_high=1.5, init_scale=1.0)
#: The protocol's baselines but momentum, from a step size of 1e-3.
ZERO_MACHINE_BASELINES = tuple(
    dataclasses.replace(b, lr_min=1e-3) for b in DEFAULT_BASELINES if b.name != "momentum"
)


@dataclasses.dataclass(frozen=True)
class Config:
    """``l2l zero-machine``: the zero-machine evaluation of learned and tuned optimizers."""

    task: TaskConfig = field(ZERO_MACHINE_TASK)
    steps: int = field(20, ge=1)
    num_tuning: int = field(128, ge=1, help="instances used to choose each baseline's lr")
    num_test: int = field(1000, ge=1, help="held-out instances every optimizer is reported on")
    seed: int = field(0, ge=0)
    baselines: tuple[BaselineConfig, ...] = field(ZERO_MACHINE_BASELINES)
    selection: tuple[Literal["summed_loss", "log_final"], ...] = field(
        ("summed_loss", "log_final"),
        help="how baselines are tuned: the protocol's summed loss and/or the mean log10 f_T",
    )
    learned: tuple[str, ...] = field(("zero-machine",), help="zoo names or .l2l files")
    output_dir: str = "runs/zero_machine_eval"

    def __post_init__(self):
        if not self.baselines and not self.learned:
            raise ValueError("nothing to evaluate: give at least one baseline or learned optimizer")
        if self.baselines and not self.selection:
            raise ValueError("selection is empty: give summed_loss and/or log_final")


# --------------------------------------------------------------------------- statistics


def log10_losses(curves: np.ndarray) -> np.ndarray:
    """log10 f elementwise; 0 -> :data:`LOG10_OF_ZERO`, non-finite -> :data:`LOG10_OF_OVERFLOW`."""
    curves = np.asarray(curves, np.float64)
    finite = np.isfinite(curves)
    positive = finite & (curves > 0)
    out = np.where(positive, np.log10(np.where(positive, curves, 1.0)), LOG10_OF_ZERO)
    return np.where(finite, np.maximum(out, LOG10_OF_ZERO), LOG10_OF_OVERFLOW)


def reached(curves: np.ndarray, target: float = ZERO_MACHINE) -> np.ndarray:
    """Per run: did f(theta_t) <= ``target`` for some t >= 1? (curves hold f(theta_0..T))."""
    later = np.asarray(curves, np.float64)[:, 1:]
    return np.any(np.isfinite(later) & (later <= target), axis=1)


def zero_machine_summary(curves: np.ndarray) -> dict:
    """The headline numbers and the figure's data of one optimizer's held-out loss curves."""
    logs = log10_losses(curves)
    hit = reached(curves)
    first = np.where(hit, np.argmax(np.asarray(curves)[:, 1:] <= ZERO_MACHINE, axis=1) + 1, -1)
    return {
        "reached": float(np.mean(hit)),
        "mean_log10_final": float(np.mean(logs[:, -1])),
        "median_log10_final": float(np.median(logs[:, -1])),
        "median_steps_to_reach": float(np.median(first[hit])) if hit.any() else None,
        "diverged": int(np.sum(~np.isfinite(np.asarray(curves, np.float64)[:, -1]))),
        "log10_median": np.median(logs, axis=0).tolist(),
        "log10_q10": np.quantile(logs, 0.1, axis=0).tolist(),
        "log10_q90": np.quantile(logs, 0.9, axis=0).tolist(),
    }


# --------------------------------------------------------------------------- running


def mean_log10_final(curves: np.ndarray) -> float:
    """A tuning score: the mean log10 of the final loss (see :func:`log10_losses`)."""
    return float(np.mean(log10_losses(curves)[:, -1]))


SELECTION_SCORES = {"summed_loss": mean_summed_loss, "log_final": mean_log10_final}


def tune_for_zero_machine(
    baseline: BaselineConfig, task, tuning_keys, test_keys, steps, selection, runner=None
):
    """Tune ``baseline``'s learning rate on the tuning instances under each rule of ``selection``
    (:func:`l2l.evaluate.tune` with that score); report each chosen setting on the held-out ones."""
    rows = []
    for rule in selection:
        tuned = tune(
            baseline,
            task,
            tuning_keys,
            test_keys,
            steps,
            score=SELECTION_SCORES[rule],
            runner=runner,
        )
        name = baseline.name if rule == "summed_loss" else f"{baseline.name} (tuned for log10 f_T)"
        rows.append(
            {
                "name": name,
                "selection": rule,
                "hyperparams": {"learning_rate": tuned.learning_rate, **baseline.hyperparams},
                "lr_at_grid_edge": tuned.at_grid_edge,
                **zero_machine_summary(tuned.test_curves),
            }
        )
    return rows


@dataclasses.dataclass
class Report:
    config: Config
    seconds: float
    results: list[dict]  # per optimizer: the numbers of zero_machine_summary, name, hyperparams
    zero_machine: float = ZERO_MACHINE
    log10_of_zero: float = LOG10_OF_ZERO


def run(cfg: Config, *, show_progress: bool = True) -> Report:
    """Evaluate every learned optimizer and tuned baseline of ``cfg`` on the same instances."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    task = cfg.task.build()
    tuning_keys = instance_keys(cfg.seed, TUNING_SET, cfg.num_tuning)
    test_keys = instance_keys(cfg.seed, TEST_SET, cfg.num_test)
    runner = sweep.Runner()
    results = []
    with tqdm(
        total=len(cfg.learned) + len(cfg.baselines), desc="zero machine", disable=not show_progress
    ) as bar:
        for name in cfg.learned:
            trained = learned.resolve(name)
            curves = run_optimizer(trained.transform(), task, test_keys, cfg.steps)
            results.append(
                {
                    "name": learned_label(name),
                    "learned": True,
                    "source": name,
                    "hyperparams": {},
                    **zero_machine_summary(curves),
                }
            )
            bar.update(1)
        for baseline in cfg.baselines:
            bar.set_postfix_str(baseline.name)
            results.extend(
                tune_for_zero_machine(
                    baseline, task, tuning_keys, test_keys, cfg.steps, cfg.selection, runner
                )
            )
            bar.update(1)
    return Report(cfg, time.perf_counter() - start, results)


# --------------------------------------------------------------------------- reporting


def format_table(results: list[dict]) -> str:
    """A markdown table: fraction reaching the zero machine, mean and median log10 f_T."""
    header = (
        "| optimizer | hyperparameters | reached 1.18e-38 within the steps | mean log10 f_T "
        "| median log10 f_T |"
    )
    lines = [header, "|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (-r["reached"], r["mean_log10_final"])):
        hp = ", ".join(f"{k}={v:.3g}" for k, v in r["hyperparams"].items()) or "learned"
        lines.append(
            f"| {r['name']} | {hp} | {r['reached']:.3f} | {r['mean_log10_final']:.2f} "
            f"| {r['median_log10_final']:.2f} |"
        )
    return "\n".join(lines)


def summary(report: Report) -> str:
    return f"{format_table(report.results)}\n\n{report.seconds:.1f}s"


def write(report: Report, output_dir: str | Path) -> list[Path]:
    """``results.json``, ``zero_machine.png`` and ``config.yaml`` into ``output_dir``."""
    cfg = report.config
    dim = getattr(cfg.task, "dim", "?")

    def figures(out: Path) -> list[Path]:
        title = f"f = sum (s_i x_i)^2, {dim}-d, {cfg.num_test} held-out instances"
        png = plots.zero_machine(
            report.results,
            out / "zero_machine.png",
            title,
            target=ZERO_MACHINE,
            log10_of_zero=LOG10_OF_ZERO,
        )
        return [png]

    return write_report(report, output_dir, figures=figures)


ZeroMachineConfig = Config
