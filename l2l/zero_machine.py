"""The zero-machine evaluation: how many runs reach float32's smallest normal number in 20 steps.

The problem is f(x) = sum_i (s_i x_i)^2 in 2 dimensions, s_i ~ U[0.5, 1.5], x_0 ~ U[-1, 1]^2
(:class:`l2l.tasks.SeparableQuadratic`), 20 optimization steps in float32. The "zero machine" is
``jnp.finfo(jnp.float32).tiny`` ~ 1.18e-38: a run *reaches* it when f(theta_t) <= tiny for some
t in 1..20. From f(theta_0) ~ 0.3 that takes a factor of more than 100 per step on average, across
38 orders of magnitude, so an optimizer that depends on the scale of its inputs cannot do it.

Every optimizer is run on the same held-out instances. The hand-designed baselines (SGD, RMSProp,
Adam, Nesterov) are tuned by the foundation's protocol (:mod:`l2l.evaluate`: the learning rate of a
log-spaced grid with the lowest mean summed loss on separate tuning instances); with
``selection`` including ``log_final`` each is also tuned for the mean log10 of its final loss, a
second row that gives it its best shot at the zero machine.

Numbers reported per optimizer:

- ``reached``: the fraction of runs with f(theta_t) <= tiny for some t in 1..steps (a loss that
  underflowed to exactly 0 counts; XLA on CPU flushes float32 subnormals to 0).
- ``mean_log10_final`` / ``median_log10_final``: log10 f(theta_steps), where a final loss of 0
  enters as log10 of float32's smallest subnormal, log10(2^-149) ~ -44.85 (:data:`LOG10_OF_ZERO`),
  and a non-finite one (a diverged run) as log10 of float32's largest number, ~ 38.53.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Literal

import numpy as np

from l2l.config import TaskConfig, build_task, field, to_dict
from l2l.evaluate import (
    TEST_SET,
    TUNING_SET,
    BaselineConfig,
    instance_keys,
    loss_curves,
    run_optimizer,
    summed_loss,
)

#: float32's smallest normal number, the zero machine.
ZERO_MACHINE = float(np.finfo(np.float32).tiny)
#: log10 of float32's smallest subnormal 2^-149: where a loss of exactly 0 enters the log10 mean.
LOG10_OF_ZERO = -149 * math.log10(2.0)
#: log10 of float32's largest number: where a non-finite (diverged) loss enters the log10 mean.
LOG10_OF_OVERFLOW = float(np.log10(np.finfo(np.float32).max))

ZERO_MACHINE_TASK = TaskConfig(
    kind="separable_quadratic", dim=2, scale_low=0.5, scale_high=1.5, init_scale=1.0
)
ZERO_MACHINE_BASELINES = (
    BaselineConfig("sgd", 1e-3, 1.0, 25),
    BaselineConfig("nesterov", 1e-3, 1.0, 25, {"gamma": 0.9}),
    BaselineConfig("rmsprop", 1e-3, 1.0, 25, {"gamma": 0.9}),
    BaselineConfig("adam", 1e-3, 1.0, 25),
)


@dataclasses.dataclass(frozen=True)
class ZeroMachineConfig:
    """``l2l zero-machine``: the zero-machine evaluation of learned and tuned optimizers."""

    task: TaskConfig = field(ZERO_MACHINE_TASK)  # noqa: RUF009 (a frozen, shared default)
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


def _selection_score(curves: np.ndarray, selection: str) -> float:
    if selection == "summed_loss":
        return float(np.mean(summed_loss(curves)))
    return float(np.mean(log10_losses(curves)[:, -1]))


def tune_for_zero_machine(baseline: BaselineConfig, task, tuning_keys, test_keys, steps, selection):
    """Tune ``baseline``'s lr on the tuning instances under each rule of ``selection``; report
    each chosen setting on the held-out instances."""
    import jax

    fn = jax.jit(lambda t, k, lr: loss_curves(baseline.make, t, k, steps, lr))
    tuning = [np.asarray(fn(task, tuning_keys, lr), np.float64) for lr in baseline.lr_grid]
    rows = []
    for rule in selection:
        scores = [_selection_score(c, rule) for c in tuning]
        best = int(np.nanargmin(np.where(np.isfinite(scores), scores, np.inf)))
        lr = float(baseline.lr_grid[best])
        curves = np.asarray(fn(task, test_keys, lr), np.float64)
        name = baseline.name if rule == "summed_loss" else f"{baseline.name} (tuned for log10 f_T)"
        rows.append(
            {
                "name": name,
                "selection": rule,
                "hyperparams": {"lr": lr, **baseline.hyperparams},
                "lr_at_grid_edge": baseline.num_lrs > 1 and best in (0, baseline.num_lrs - 1),
                **zero_machine_summary(curves),
            }
        )
    return rows


def run(cfg: ZeroMachineConfig, *, show_progress: bool = True) -> dict:
    """Evaluate every learned optimizer and tuned baseline of ``cfg`` on the same instances."""
    from tqdm.auto import tqdm

    from l2l import learned

    start = time.perf_counter()
    task = build_task(cfg.task)
    tuning_keys = instance_keys(cfg.seed, TUNING_SET, cfg.num_tuning)
    test_keys = instance_keys(cfg.seed, TEST_SET, cfg.num_test)
    results = []
    with tqdm(
        total=len(cfg.learned) + len(cfg.baselines), desc="zero machine", disable=not show_progress
    ) as bar:
        for name in cfg.learned:
            trained = learned.resolve(name)
            curves = run_optimizer(trained.transform(), task, test_keys, cfg.steps)
            label = Path(name).stem if name.endswith(".l2l") else name
            results.append(
                {
                    "name": label,
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
                    baseline, task, tuning_keys, test_keys, cfg.steps, cfg.selection
                )
            )
            bar.update(1)
    return {
        "config": to_dict(cfg),
        "zero_machine": ZERO_MACHINE,
        "log10_of_zero": LOG10_OF_ZERO,
        "seconds": time.perf_counter() - start,
        "results": results,
    }


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


def plot(results: list[dict], path: str | Path, title: str = "") -> Path:
    """log10 f against the step: the median and the 10-90% band of each optimizer, with the
    zero machine (log10 1.18e-38) drawn as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in results:
        steps = np.arange(len(r["log10_median"]))
        label = f"{r['name']} ({r['reached']:.0%} reach)"
        (line,) = ax.plot(steps, r["log10_median"], lw=2 if r.get("learned") else 1.2, label=label)
        ax.fill_between(steps, r["log10_q10"], r["log10_q90"], color=line.get_color(), alpha=0.15)
    ax.axhline(math.log10(ZERO_MACHINE), color="k", ls="--", lw=1)
    ax.text(
        len(results[0]["log10_median"]) - 1 if results else 1,
        math.log10(ZERO_MACHINE) + 0.8,
        "zero machine: float32 tiny = 1.18e-38",
        fontsize=8,
        ha="right",
    )
    ax.set_xlabel("step t")
    ax.set_ylabel("log10 f(theta_t)  (0 drawn at log10 2^-149)")
    ax.set_ylim(LOG10_OF_ZERO - 2, 2)
    ax.set_title(title or "zero machine: median and 10-90% band")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(report: dict, output_dir: str | Path) -> tuple[Path, Path]:
    """Write ``results.json`` and ``zero_machine.png`` into ``output_dir``; return their paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "results.json"
    json_path.write_text(json.dumps(report, indent=1))
    cfg = report["config"]
    png_path = plot(
        report["results"],
        out / "zero_machine.png",
        f"f = sum (s_i x_i)^2, {cfg['task']['dim']}-d, {cfg['num_test']} held-out instances",
    )
    return json_path, png_path
