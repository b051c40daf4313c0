"""Run optimizers on batches of task instances, and the baseline tuning protocol.

The protocol of the learned-optimizer papers: each baseline gets a log-spaced learning-rate grid;
the rate is chosen on a *tuning* set of instances by the mean (over instances) of the summed
losses f(theta_1) + ... + f(theta_T); the chosen setting is then reported on a separate *held-out*
set of instances, the same instances for every optimizer.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path
from typing import Callable, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l import optimizers
from l2l.config import TaskConfig, build_task, field, to_dict
from l2l.meta import unroll as unroll_lib

TUNING_SET = 0
TEST_SET = 1


# --------------------------------------------------------------------------- configs


@dataclasses.dataclass(frozen=True)
class BaselineConfig:
    """A hand-designed optimizer to tune: its name, the lr grid, and its other hyperparameters."""

    name: str
    lr_min: float = field(1e-4, gt=0)
    lr_max: float = field(1.0, gt=0)
    num_lrs: int = field(9, ge=1)
    hyperparams: dict[str, float] = field({})

    def __post_init__(self):
        if self.name not in optimizers.OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.name!r}; known: {', '.join(sorted(optimizers.OPTIMIZERS))}"
            )
        if self.lr_max < self.lr_min:
            raise ValueError(f"lr_max ({self.lr_max}) is below lr_min ({self.lr_min})")
        if "lr" in self.hyperparams:
            raise ValueError(
                "'lr' is tuned over the grid [lr_min, lr_max]; remove it from hyperparams"
            )
        optimizers.make(
            self.name, lr=self.lr_min, **self.hyperparams
        )  # names an unknown hyperparam

    @property
    def lr_grid(self) -> np.ndarray:
        return np.geomspace(self.lr_min, self.lr_max, self.num_lrs)

    def make(self, lr) -> optax.GradientTransformationExtraArgs:
        return optimizers.make(self.name, lr=lr, **self.hyperparams)


DEFAULT_BASELINES = (
    BaselineConfig("sgd", 1e-4, 1.0, 25),
    BaselineConfig("momentum", 1e-4, 1.0, 25, {"gamma": 0.9}),
    BaselineConfig("nesterov", 1e-4, 1.0, 25, {"gamma": 0.9}),
    BaselineConfig("rmsprop", 1e-4, 1.0, 25, {"gamma": 0.9}),
    BaselineConfig("adam", 1e-4, 1.0, 25),
)


@dataclasses.dataclass(frozen=True)
class SettingConfig:
    """One panel of a generalization study: the config's task and horizon with a few changes."""

    name: str
    steps: int | None = field(None, ge=1)
    hidden_sizes: tuple[int, ...] | None = None
    activation: Literal["sigmoid", "tanh", "relu"] | None = None
    distribution: Literal["normal", "uniform"] | None = None

    def apply(self, cfg: "EvaluateConfig") -> "EvaluateConfig":
        changes = {
            k: getattr(self, k)
            for k in ("hidden_sizes", "activation", "distribution")
            if getattr(self, k) is not None
        }
        return dataclasses.replace(
            cfg,
            task=dataclasses.replace(cfg.task, **changes),
            steps=self.steps or cfg.steps,
            settings=(),
        )


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """``l2l evaluate``: tune baselines (and compare learned optimizers) on held-out instances."""

    task: TaskConfig = field(TaskConfig())
    steps: int = field(100, ge=1)
    num_tuning: int = field(128, ge=1, help="instances used to choose each baseline's lr")
    num_test: int = field(256, ge=1, help="held-out instances every optimizer is reported on")
    seed: int = field(0, ge=0)
    baselines: tuple[BaselineConfig, ...] = field(DEFAULT_BASELINES)
    learned: tuple[str, ...] = field(
        (), help="learned optimizers to compare: zoo names or .l2l files"
    )
    settings: tuple[SettingConfig, ...] = field((), help="several panels (generalization studies)")
    output_dir: str = "runs/quadratic_baselines"

    def __post_init__(self):
        if not self.baselines and not self.learned:
            raise ValueError("nothing to evaluate: give at least one baseline or learned optimizer")


# --------------------------------------------------------------------------- running


def instance_keys(seed: int, which: int, num: int) -> jax.Array:
    """Keys of the instances of one set (TUNING_SET or TEST_SET); a (num, 3) array of keys:
    [sample key, init key, minibatch-stream key] per instance. Fixed by (seed, which)."""
    set_key = jax.random.fold_in(jax.random.key(seed), which)
    return jax.vmap(lambda k: jax.random.split(k, 3))(jax.random.split(set_key, num))


def loss_curves(
    make_optimizer: Callable[..., optax.GradientTransformation],
    task,
    keys: jax.Array,
    steps: int,
    *args,
) -> jax.Array:
    """Loss curves (num_instances, steps + 1) of ``make_optimizer(*args)`` on instances ``keys``.

    Traceable: ``args`` (e.g. a learning rate, or meta-parameters) may be traced values, so one
    compiled function serves a whole grid.
    """
    optimizer = make_optimizer(*args)

    def one(k):
        instance = task.sample(k[0])
        return unroll_lib.loss_curve(optimizer, task, instance, k[1], k[2], steps)

    return jax.vmap(one)(keys)


def run_optimizer(optimizer: optax.GradientTransformation, task, keys: jax.Array, steps: int):
    """Loss curves of one ready-made optimizer; a NumPy array (num_instances, steps + 1)."""
    fn = jax.jit(lambda t, k: loss_curves(lambda: optimizer, t, k, steps))
    return np.asarray(fn(task, keys))


def summed_loss(curves: np.ndarray) -> np.ndarray:
    """Per-instance f(theta_1) + ... + f(theta_T) (the meta-loss of the papers); inf if not finite."""
    total = np.sum(np.asarray(curves, np.float64)[:, 1:], axis=1)
    return np.where(np.isfinite(total), total, np.inf)


def curve_summary(curves: np.ndarray) -> dict:
    """Every number the loss-curve plot shows, plus the headline statistics."""
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
):
    """Choose ``baseline``'s lr on the tuning instances; report it on the held-out ones."""
    fn = jax.jit(lambda t, k, lr: loss_curves(baseline.make, t, k, steps, lr))
    scores = []
    for lr in baseline.lr_grid:
        scores.append(float(np.mean(summed_loss(np.asarray(fn(task, tuning_keys, lr))))))
        if progress is not None:
            progress.update(1)
    best = int(np.argmin(scores))
    if not np.isfinite(scores[best]):
        raise RuntimeError(f"{baseline.name}: every learning rate of the grid diverged")
    if baseline.num_lrs > 1 and best in (0, baseline.num_lrs - 1):
        warnings.warn(
            f"{baseline.name}: the best lr ({baseline.lr_grid[best]:.3g}) is at the edge of the "
            f"grid [{baseline.lr_min:g}, {baseline.lr_max:g}]; widen the grid to be sure",
            stacklevel=2,
        )
    best_lr = float(baseline.lr_grid[best])
    test_curves = np.asarray(fn(task, test_keys, best_lr))
    return {
        "name": baseline.name,
        "hyperparams": {"lr": best_lr, **baseline.hyperparams},
        "lr_grid": baseline.lr_grid.tolist(),
        "tuning_scores": scores,
        **curve_summary(test_curves),
    }


def evaluate(cfg: EvaluateConfig, *, show_progress: bool = True) -> dict:
    """Tune every baseline of ``cfg`` and report all of them on the held-out instances."""
    from tqdm.auto import tqdm

    task = build_task(cfg.task)
    tuning_keys = instance_keys(cfg.seed, TUNING_SET, cfg.num_tuning)
    test_keys = instance_keys(cfg.seed, TEST_SET, cfg.num_test)
    total = sum(b.num_lrs for b in cfg.baselines) + len(cfg.learned)
    results = []
    with tqdm(total=total, desc="evaluating", disable=not show_progress) as bar:
        for baseline in cfg.baselines:
            bar.set_postfix_str(baseline.name)
            results.append(tune_baseline(baseline, task, tuning_keys, test_keys, cfg.steps, bar))
        for name in cfg.learned:
            bar.set_postfix_str(name)
            results.append(evaluate_learned(name, task, test_keys, cfg.steps))
            bar.update(1)
    return {"config": to_dict(cfg), "results": results}


def evaluate_settings(cfg: EvaluateConfig, *, show_progress: bool = True) -> dict:
    """:func:`evaluate` once per setting of ``cfg.settings`` (baselines re-tuned for each)."""
    panels = []
    for setting in cfg.settings:
        report = evaluate(setting.apply(cfg), show_progress=show_progress)
        panels.append({"name": setting.name, **report})
    return {"config": to_dict(cfg), "settings": panels}


def evaluate_learned(name_or_path: str, task, test_keys, steps: int) -> dict:
    """A saved learned optimizer (zoo name or file) on the held-out instances; no tuning."""
    from l2l import learned

    trained = learned.resolve(name_or_path)
    fn = jax.jit(
        lambda t, k, mp: loss_curves(
            lambda m: learned.lstm_optimizer(m, trained.config), t, k, steps, mp
        )
    )
    curves = np.asarray(fn(task, test_keys, trained.meta_params))
    label = Path(name_or_path).stem if name_or_path.endswith(".l2l") else name_or_path
    return {
        "name": label,
        "hyperparams": {},
        "learned": True,
        "source": name_or_path,
        **curve_summary(curves),
    }


def best_baseline(report: dict) -> dict:
    """The tuned baseline with the lowest held-out mean summed loss."""
    return min(
        (r for r in report["results"] if not r.get("learned")), key=lambda r: r["mean_summed_loss"]
    )


def ratios_to_best_baseline(report: dict) -> dict[str, float]:
    """Each learned optimizer's mean summed loss over the best tuned baseline's (lower is better)."""
    best = best_baseline(report)["mean_summed_loss"]
    return {r["name"]: r["mean_summed_loss"] / best for r in report["results"] if r.get("learned")}


def held_out_summary(report: dict) -> dict:
    """The headline numbers of a report, small enough to store inside a trained optimizer file."""
    cfg = report["config"]
    return {
        "task": cfg["task"],
        "steps": cfg["steps"],
        "instances": cfg["num_test"],
        "seed": cfg["seed"],
        "mean_summed_loss": {r["name"]: r["mean_summed_loss"] for r in report["results"]},
        # Per-instance values of the first few held-out instances: a cheap exact check later.
        "first_summed_losses": {r["name"]: r["summed_losses"][:4] for r in report["results"]},
        "best_baseline": best_baseline(report)["name"],
        "ratio_to_best_baseline": ratios_to_best_baseline(report),
    }


def format_table(results: list[dict]) -> str:
    """A markdown table of the held-out numbers, best first."""
    rows = sorted(results, key=lambda r: r["mean_summed_loss"])
    tuned = [r["mean_summed_loss"] for r in rows if not r.get("learned")]
    best = min(tuned) if tuned else rows[0]["mean_summed_loss"]
    lines = [
        "| optimizer | hyperparameters | mean summed loss (± s.e.m.) | ratio to best baseline "
        "| final loss |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        hp = ", ".join(f"{k}={v:.3g}" for k, v in r["hyperparams"].items())
        hp = hp or ("learned" if r.get("learned") else "")
        lines.append(
            f"| {r['name']} | {hp} | {r['mean_summed_loss']:.4g} ± {r['sem_summed_loss']:.2g} "
            f"| {r['mean_summed_loss'] / best:.3f} | {r['mean_final_loss']:.4g} |"
        )
    return "\n".join(lines)


def write_report(report: dict, output_dir: str | Path, title: str) -> tuple[Path, Path]:
    """Write ``results.json`` and ``loss_curves.png`` into ``output_dir``; return their paths.

    A report of several settings (:func:`evaluate_settings`) gets one panel per setting.
    """
    from l2l import plots

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "results.json"
    json_path.write_text(json.dumps(report, indent=1))
    if "settings" in report:
        panels = {
            f"{p['name']} ({p['config']['steps']} steps)": {r["name"]: r for r in p["results"]}
            for p in report["settings"]
        }
        png_path = plots.loss_curve_panels(panels, out / "loss_curves.png", title=title)
    else:
        png_path = plots.loss_curves(
            {r["name"]: r for r in report["results"]}, out / "loss_curves.png", title=title
        )
    return json_path, png_path


def format_settings_table(report: dict) -> str:
    """One row per setting: each learned optimizer's ratio to that setting's best tuned baseline."""
    learned_names = [r["name"] for r in report["settings"][0]["results"] if r.get("learned")]
    lines = [
        "| setting | best tuned baseline (mean summed loss) | "
        + " | ".join(f"{n} (ratio)" for n in learned_names)
        + " |",
        "|---|---|" + "---|" * len(learned_names),
    ]
    for panel in report["settings"]:
        by_name = {r["name"]: r for r in panel["results"]}
        if any(not r.get("learned") for r in panel["results"]):
            best = best_baseline(panel)
            ratios = ratios_to_best_baseline(panel)
            baseline = (
                f"{best['name']} {best['hyperparams']['lr']:.3g}: {best['mean_summed_loss']:.4g}"
            )
            cells = [
                f"{by_name[n]['mean_summed_loss']:.4g} ({ratios[n]:.3f})" for n in learned_names
            ]
        else:  # learned optimizers only: no ratio to give
            baseline = "–"
            cells = [f"{by_name[n]['mean_summed_loss']:.4g} (–)" for n in learned_names]
        lines.append(f"| {panel['name']} | {baseline} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
