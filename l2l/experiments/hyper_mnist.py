r"""``l2l hyper``: the MNIST experiments of Chandra et al. (2022), ``configs/hyper_mnist.yaml``.

* **Table** (the paper's Table 1): an MLP 784-128 (tanh)-10 trained with minibatches of 256 by
  each optimizer of ``Config.rows``, several seeds; the test error on the held-out split, the
  hyperparameters each stack learned, and each learned setting re-run from scratch as a fixed
  optimizer ("refit"). Every run of a row is one jitted unroll (:func:`l2l.unroll.trajectory`, a
  single ``lax.scan`` over all its steps), ``vmap`` ped over the seeds; every row sees the same
  seeds (initial weights and minibatches), so differences between rows are paired.
* **Robustness** (the paper's sensitivity figure): stacks of height 1..4 whose bottom step size is
  swept over many orders of magnitude; the final training loss against the initial step size,
  one curve per height.

Seed ``k`` of a run splits into an init key (the initial weights) and the key of its minibatch
stream; step ``t`` draws its minibatch, with replacement, from ``fold_in(stream key, t)``
(:func:`l2l.unroll.step_key`). An epoch is ``ceil(N / batch_size)`` steps.

References:
  Chandra, Xie, Ragan-Kelley & Meijer, *Gradient Descent: The Ultimate Optimizer*, NeurIPS 2022.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from l2l import hyper, plots, sweep
from l2l.config import field
from l2l.experiments.report import (
    Stats,
    jsonable,
    mean_sd,
    number,
    stats_of,
    steps_for,
    write_report,
)
from l2l.specs import LevelSpec, OptimizerSpec, StackSpec
from l2l.tasks import MLPConfig, TaskConfig

#: l2l 0.2's name of a stack's level, :class:`l2l.specs.LevelSpec`.
LevelConfig = LevelSpec

# --------------------------------------------------------------------------- configs


@dataclasses.dataclass(frozen=True)
class RowConfig:
    """One row of the table: a stack (``optimizer: {kind: stack, levels: [...]}``, bottom level
    first; one level: a plain optimizer).

    l2l 0.2 wrote the levels as the row's ``stack: [...]``; that is still read, with a
    ``DeprecationWarning`` (it goes in l2l 0.4)."""

    name: str
    optimizer: OptimizerSpec
    epochs: int | None = field(None, ge=1, help="None: the config's epochs")
    refit: bool = field(True, help="re-run the learned hyperparameters as a fixed optimizer")
    paper_error: float | None = field(None, ge=0, help="published test error %, for reference")

    @classmethod
    def __normalize__(cls, data: dict, *, where: str) -> dict:
        if "stack" not in data:
            return data
        warnings.warn(
            f"{where}: a row's `stack: [...]` is l2l 0.2's layout; write `optimizer: {{kind: "
            "stack, levels: [...]}`",
            DeprecationWarning,
            stacklevel=4,
        )
        data = dict(data)
        levels = data.pop("stack")
        return {**data, "optimizer": {"kind": "stack", "levels": levels}}

    def __post_init__(self):
        if not isinstance(self.optimizer, StackSpec):
            raise ValueError(
                f"row {self.name!r}: the table reads every level's hyperparameters, so its "
                "optimizer is a stack (`{kind: stack, levels: [...]}`; one level: a plain rule)"
            )

    @property
    def levels(self) -> tuple[LevelSpec, ...]:
        return self.optimizer.levels


@dataclasses.dataclass(frozen=True)
class RobustnessConfig(sweep.LogGrid):
    """Final loss against the bottom level's initial step size, for stacks of several heights.

    Height 1 is ``bottom`` alone (fixed); height h > 1 is ``bottom``, h - 2 copies of ``middle``,
    then ``top``. The bottom's ``learning_rate`` is swept over ``num_lrs`` values, log-spaced from
    ``lr_min`` to ``lr_max``.
    """

    lr_min: float = field(1e-6, gt=0)
    lr_max: float = field(1.0, gt=0)
    num_lrs: int = field(13, ge=2)
    enabled: bool = True
    heights: tuple[int, ...] = (1, 2, 3, 4)
    epochs: int = field(10, ge=1)
    seeds: int = field(1, ge=1)
    bottom: LevelSpec = field(LevelSpec("sgd", {"learning_rate": 0.01}, reparam="raw"))
    middle: LevelSpec = field(LevelSpec("sgd", {"learning_rate": 1e-3}, reparam="raw"))
    top: LevelSpec = field(LevelSpec("sgd", {"learning_rate": 1e-4}))
    mode: str = "forward"  # the stacks' hypergradient mode (height > 1): forward, run, reverse
    discount: float = field(1.0, ge=0, le=1, help="the whole-run mode's discount")
    rollback: float | None = field(None, help="the stacks' loss guard ratio (null: off), e.g. 2.0")

    def __post_init__(self):
        super().__post_init__()
        if not self.heights or any(h < 1 for h in self.heights):
            raise ValueError(f"heights must be positive integers, got {list(self.heights)}")
        if self.mode != "run" and self.discount != 1.0:
            raise ValueError(f"discount is the whole-run mode's: set mode run, not {self.mode!r}")
        self.stack(2)  # An unknown mode.

    def stack(self, height: int) -> StackSpec:
        """Height 1: the bottom alone, learning nothing; else bottom, middles, top (fixed), with
        ``mode`` (and ``discount``) and ``rollback``."""
        if height == 1:
            return StackSpec(levels=(self.bottom.fixed(),))
        middles = [self.middle] * (height - 2)
        levels = (self.bottom, *middles, self.top.fixed())
        # discount is 1.0 unless mode is run (__post_init__ checks it): the stack's default.
        return StackSpec(
            levels=levels, mode=self.mode, discount=self.discount, rollback=self.rollback
        )


def _sgd(learning_rate, **kw):
    return LevelSpec("sgd", {"learning_rate": learning_rate}, **kw)


DEFAULT_ROWS = (
    RowConfig("SGD", StackSpec(levels=(_sgd(0.01),)), paper_error=8.99),
    RowConfig(
        "SGD / SGD", StackSpec(levels=(_sgd(0.01, reparam="raw"), _sgd(0.01))), paper_error=4.81
    ),
)


@dataclasses.dataclass(frozen=True)
class Config:
    """``l2l hyper``: the MNIST table and robustness figure of Chandra et al. (2022).

    The optimizee trains on ``task.split`` and is scored on MNIST's test split. ``task.data_dir``
    is the MNIST directory (None: ``$L2L_DATA_DIR``, else the cache directory); a relative path is
    taken from the directory ``l2l`` runs in.
    """

    task: TaskConfig = field(MLPConfig(hidden_sizes=(128,), activation="tanh", batch_size=256))
    seeds: int = field(4, ge=1)
    seed: int = field(0, ge=0)
    epochs: int = field(30, ge=1)
    rows: tuple[RowConfig, ...] = field(DEFAULT_ROWS)
    robustness: RobustnessConfig = field(RobustnessConfig())
    output_dir: str = "runs/hyper_mnist"

    def __post_init__(self):
        if not isinstance(self.task, MLPConfig):
            raise TypeError(f"task.kind must be 'mlp' (the MNIST MLP), got {self.task.kind!r}")
        if self.task.split == "test":
            raise ValueError(
                "task.split is 'test', the split every run is scored on: train on 'train' "
                "(or 'validation')"
            )
        names = [row.name for row in self.rows]
        if len(set(names)) != len(names):
            raise ValueError(f"row names must be unique, got {names}")


HyperMnistConfig = Config

# --------------------------------------------------------------------------- the report


@dataclasses.dataclass
class Row:
    """One row of the table: the numbers of its runs, one per seed."""

    __json_omit_none__ = True

    name: str
    optimizer: StackSpec
    epochs: int
    steps: int
    test_error: Stats  # % of the test split misclassified
    train_loss: Stats  # cross-entropy on the whole training split, at the end
    learned: dict[str, Stats]  # the bottom level's learned hyperparameters, final values
    learned_as: dict[str, str]  # how each is parameterized ("raw", "log", "sqrt", ...)
    final_hyperparams: list[dict[str, Stats]]  # every level's hyperparameters, final values
    skipped: list[int]  # per level, hyper-steps skipped (non-finite), summed over the seeds
    loss_curve: list[float]  # mean minibatch loss of each tenth of the run (mean over seeds)
    hyperparam_trace: dict[str, list[float]]  # the bottom's hyperparameters at each tenth
    paper_error: float | None
    seconds: float
    refit_test_error: Stats | None = None  # the learned values re-run as a fixed optimizer
    baseline: str | None = None  # the plain row with the same bottom optimizer
    vs_baseline: Stats | None = None  # test error minus the baseline's, seed by seed (points)


@dataclasses.dataclass
class Curve:
    """One height of the robustness sweep: medians over the seeds, one per initial step size."""

    height: int
    optimizer: StackSpec
    final_train_loss: list[float]  # inf where the run diverged
    test_error: list[float]  # %
    final_lr: list[float]  # the bottom's learning_rate at the end
    diverged: int  # initial step sizes whose median final loss is not finite
    spread_decades: float | None  # log10(max / min) of the finite final losses
    seconds: float


@dataclasses.dataclass
class Robustness:
    """The robustness sweep: the initial step sizes and one curve per height."""

    lrs: list[float]
    epochs: int
    steps: int
    seeds: int
    curves: dict[str, Curve]  # by height


@dataclasses.dataclass
class Report:
    __json_omit_none__ = True

    config: Config
    data: str  # where the MNIST splits came from
    num_train: int
    num_test: int
    device: str
    rows: list[Row]
    table_minutes: float
    robustness: Robustness | None  # None when not enabled
    minutes: float


# --------------------------------------------------------------------------- running


class TestSplit(NamedTuple):
    """The held-out examples a run is scored on."""

    images: jax.Array  # (N, 784) float32
    labels: jax.Array  # (N,) int32


@dataclasses.dataclass(frozen=True)
class HyperRun:
    """The sweep runner's recorder of this study (the test split is the runner's ``extra``):
    the test error, the full training loss at the end, every level's final hyperparameters and
    skip counts, the mean minibatch loss of each tenth of the run, and the bottom level's
    hyperparameters at the start of each tenth."""

    steps: int

    def observe(self, run: sweep.RunContext, state) -> dict:
        return hyper.hyperparams(state.opt_state)[0]

    def record(self, run: sweep.RunContext, state, losses, trace) -> dict:
        task, test = run.task, run.extra
        chunks = min(10, self.steps)
        usable = self.steps - self.steps % chunks
        return {
            "test_error": task.error_rate(state.params, test.images, test.labels),
            "train_loss": task.full_loss(state.params, task.images, task.labels),
            "hyperparams": list(hyper.hyperparams(state.opt_state)),
            "skipped": list(hyper.skipped(state.opt_state)),
            "loss_curve": sweep.tenths(losses, self.steps),
            "hyperparam_trace": jax.tree.map(lambda x: x[: usable : usable // chunks], trace),
        }


def _per_seed(stack: StackSpec, seeds: int, **bottom) -> dict:
    """Every level's initial hyperparameters as float32 arrays of shape (1, seeds): the runner's
    ``levels`` value (one value, a number per seed), ``bottom`` replacing the bottom's."""
    levels = []
    for i, level in enumerate(stack.levels):
        given = {**level.hyperparams, **(bottom if i == 0 else {})}
        levels.append(
            {k: jnp.broadcast_to(jnp.asarray(v, jnp.float32), (1, seeds)) for k, v in given.items()}
        )
    return {"levels": tuple(levels)}


def _train(runner, stack: StackSpec, task, test, keys, steps: int, **bottom) -> dict:
    """The runs of ``stack`` (one per seed key), every number of every level an argument (rows
    that differ only in numbers, e.g. a plain row and the refits of the stacks on it, share one
    program)."""
    values = _per_seed(stack, keys.shape[0], **bottom)
    out = runner.run(
        stack,
        task,
        keys,
        steps,
        values,
        recorder=HyperRun(steps),
        per_seed=True,
        extra=test,
        chunk=1,
    )
    return jax.tree.map(lambda x: x[0], out)


def _baseline_of(row: RowConfig, rows: tuple[RowConfig, ...]) -> RowConfig | None:
    """The plain row (height 1) with the same bottom optimizer and initial hyperparameters."""
    if len(row.levels) == 1:
        return None
    bottom = row.levels[0]
    for other in rows:
        if len(other.levels) == 1:
            base = other.levels[0]
            if base.optimizer == bottom.optimizer and base.hyperparams == bottom.hyperparams:
                return other
    return None


def _seed_keys(cfg: Config, seeds: int) -> jax.Array:
    return sweep.seed_instance_keys(jax.random.split(jax.random.key(cfg.seed), seeds))


def run_table(cfg: Config, task, test: TestSplit, progress=None) -> list[Row]:
    """Every row of the table: the stack's runs and, for stacks, the refit runs."""
    keys = _seed_keys(cfg, cfg.seeds)
    num_train = task.labels.shape[0]
    runner = sweep.Runner()
    rows = []
    for row_cfg in cfg.rows:
        epochs = row_cfg.epochs or cfg.epochs
        steps = steps_for(epochs, num_train, cfg.task.batch_size)
        start = time.perf_counter()
        stack = row_cfg.optimizer
        out = _train(runner, stack, task, test, keys, steps)
        bottom = stack.bottom()
        learned = bottom.learned_names(top=len(stack.levels) == 1)
        row = Row(
            name=row_cfg.name,
            optimizer=stack,
            epochs=epochs,
            steps=steps,
            test_error=Stats.of(100 * out["test_error"]),
            train_loss=Stats.of(out["train_loss"]),
            learned={name: Stats.of(out["hyperparams"][0][name]) for name in learned},
            learned_as={name: bottom.parameterization(name).name for name in learned},
            final_hyperparams=[
                {k: Stats.of(v) for k, v in level.items()} for level in out["hyperparams"]
            ],
            skipped=[int(np.sum(s)) for s in out["skipped"]],
            loss_curve=np.mean(out["loss_curve"], axis=0).tolist(),
            hyperparam_trace={
                k: np.mean(v, axis=0).tolist() for k, v in out["hyperparam_trace"].items()
            },
            paper_error=row_cfg.paper_error,
            seconds=0.0,
        )
        if learned and row_cfg.refit:
            final = {name: out["hyperparams"][0][name] for name in learned}
            plain = StackSpec(levels=(stack.levels[0].fixed(),))
            refit = _train(runner, plain, task, test, keys, steps, **final)
            row.refit_test_error = Stats.of(100 * refit["test_error"])
        row.seconds = time.perf_counter() - start
        rows.append(row)
        if progress is not None:
            progress(row)
    by_name = {row.name: row for row in rows}
    for row_cfg, row in zip(cfg.rows, rows):
        base = _baseline_of(row_cfg, cfg.rows)
        if base is not None:
            diff = np.subtract(row.test_error.per_seed, by_name[base.name].test_error.per_seed)
            row.baseline = base.name
            row.vs_baseline = Stats.of(diff)
    return rows


def run_robustness(cfg: Config, task, test: TestSplit, progress=None) -> Robustness:
    """Final training loss (and test error) on a log grid of the bottom's initial step size."""
    rob = cfg.robustness
    lrs = rob.values
    keys = _seed_keys(cfg, rob.seeds)
    steps = steps_for(rob.epochs, task.labels.shape[0], cfg.task.batch_size)
    runner = sweep.Runner()
    curves = {}
    for height in rob.heights:
        stack = rob.stack(height)
        start = time.perf_counter()
        out = runner.run(
            stack,
            task,
            keys,
            steps,
            {"learning_rate": lrs},
            recorder=HyperRun(steps),
            extra=test,
        )
        final = np.where(np.isfinite(out["train_loss"]), out["train_loss"], np.inf)
        median = np.median(final, axis=1)  # Over seeds.
        finite = median[np.isfinite(median)]
        curve = Curve(
            height=height,
            optimizer=stack,
            final_train_loss=median.tolist(),
            test_error=(100 * np.median(out["test_error"], axis=1)).tolist(),
            final_lr=np.median(out["hyperparams"][0]["learning_rate"], axis=1).tolist(),
            diverged=int(np.sum(~np.isfinite(median))),
            spread_decades=float(np.log10(finite.max() / finite.min())) if finite.size else None,
            seconds=time.perf_counter() - start,
        )
        curves[str(height)] = curve
        if progress is not None:
            progress(curve)
    return Robustness(lrs.tolist(), rob.epochs, steps, rob.seeds, curves)


def run(cfg: Config, *, show_progress: bool = True) -> Report:
    """Both experiments; one line per row and per height while ``show_progress``."""
    from l2l.data import load_dataset

    progress = print_progress if show_progress else None
    start = time.perf_counter()
    task = cfg.task.build()
    data = load_dataset(cfg.task.dataset, cfg.task.data_dir)
    test = TestSplit(jnp.asarray(data.test.images), jnp.asarray(data.test.labels))
    rows = run_table(cfg, task, test, progress)
    table_minutes = (time.perf_counter() - start) / 60
    robustness = run_robustness(cfg, task, test, progress) if cfg.robustness.enabled else None
    return Report(
        config=cfg,
        data=data.description,
        num_train=int(task.labels.shape[0]),
        num_test=int(test.labels.shape[0]),
        device=f"{jax.devices()[0].device_kind}, jax {jax.__version__}",
        rows=rows,
        table_minutes=table_minutes,
        robustness=robustness,
        minutes=(time.perf_counter() - start) / 60,
    )


# --------------------------------------------------------------------------- reporting

#: How the table writes a hyperparameter (the paper's symbols).
GREEK = {
    "learning_rate": "α",
    "momentum": "γ",
    "decay": "γ",
    "rho": "ρ",
    "b1": "β1",
    "b2": "β2",
    "eps": "ε",
}


def _tag(row: Row, name: str) -> str:
    """How a learned hyperparameter was parameterized, when not the paper's raw way."""
    how = row.learned_as.get(name, "raw")
    return "" if how == "raw" else f" ({how})"


def print_progress(result: Row | Curve) -> None:
    """One line per finished row of the table, or height of the robustness sweep."""
    if isinstance(result, Curve):
        spread = "n/a" if result.spread_decades is None else f"{result.spread_decades:.2f}"
        print(
            f"robustness, height {result.height}: final losses spread over {spread} decades, "
            f"{result.diverged} diverged ({result.seconds:.0f}s)",
            flush=True,
        )
        return
    line = f"{result.name}: test error {mean_sd(result.test_error)} %"
    if result.refit_test_error is not None:
        line += f"; learned values re-run fixed: {mean_sd(result.refit_test_error)} %"
    print(f"{line} ({result.seconds:.0f}s)", flush=True)


def format_table(report: Report) -> str:
    """The table as markdown: one row per optimizer, in the config's order."""
    header = (
        "| optimizer | epochs (steps) | learned hyperparameters (final; mean ± sd) "
        f"| test error % (mean ± sd, {report.config.seeds} seeds) | vs. plain, points (paired) "
        "| learned values re-run fixed: test error % | paper (60k images) |"
    )
    lines = [header, "|---|---|---|---|---|---|---|"]
    for r in report.rows:
        learned = (
            ", ".join(
                f"{GREEK.get(k, k)}{_tag(r, k)} = {number(v.mean)} ± {number(v.sd)}"
                for k, v in r.learned.items()
            )
            or "—"
        )
        vs = "—"
        if r.vs_baseline is not None:
            vs = f"{r.vs_baseline.mean:+.2f} ± {r.vs_baseline.sd:.2f} ({r.baseline})"
        refit = mean_sd(r.refit_test_error) if r.refit_test_error is not None else "—"
        paper = f"{r.paper_error:.2f}" if r.paper_error is not None else "—"
        skipped = sum(r.skipped)
        note = f" ({skipped} skipped hyper-steps)" if skipped else ""
        lines.append(
            f"| {r.name} | {r.epochs} ({r.steps}) | {learned}{note} "
            f"| {mean_sd(r.test_error)} | {vs} | {refit} | {paper} |"
        )
    return "\n".join(lines)


def table_rows_of(data: dict) -> list[Row]:
    """The table's rows read back from a ``results.json`` (``format_table`` makes the same table
    from them as from the run)."""
    from l2l.config import from_dict

    rows = []
    for r in data["rows"]:
        values = {f.name: r.get(f.name) for f in dataclasses.fields(Row)}
        values["optimizer"] = from_dict(StackSpec, r["optimizer"])
        for name in ("test_error", "train_loss", "refit_test_error", "vs_baseline"):
            values[name] = stats_of(r.get(name))
        values["learned"] = {k: stats_of(v) for k, v in r["learned"].items()}
        values["final_hyperparams"] = [
            {k: stats_of(v) for k, v in level.items()} for level in r["final_hyperparams"]
        ]
        rows.append(Row(**values))
    return rows


#: The committed results of ``configs/hyper_mnist.yaml`` (Chandra et al.'s table) that
#: docs/hyperoptimizers.md shows.
TABLE_RESULTS = "docs/results/hyper_mnist.json"


def chandra_table(data: dict) -> str:
    """:func:`format_table` of a ``results.json`` of ``configs/hyper_mnist.yaml``."""
    from l2l.config import from_dict

    report = Report(
        config=from_dict(Config, data["config"]),
        data=data["data"],
        num_train=data["num_train"],
        num_test=data["num_test"],
        device=data["device"],
        rows=table_rows_of(data),
        table_minutes=data["table_minutes"],
        robustness=None,  # Not part of the table.
        minutes=data["minutes"],
    )
    return format_table(report)


#: The columns of :func:`defaults_table`: initial step sizes over the tuned one.
DEFAULTS_COLUMNS = (1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.16, 10.0)


def defaults_table(runs: dict[str, dict]) -> str:
    """The robustness of l2l's default stacks on the MNIST MLP, from results files of
    ``configs/hyper_defaults.yaml`` (``runs``: a label of the stack -> its report's JSON): per
    bottom rule, the plain optimizer (height 1, once; tuned: its best initial step size of the
    sweep), and per run the stack (height 2): final training loss (median over seeds) by initial
    step size over the tuned one, its ratio to the tuned plain loss in brackets, and its test
    error."""
    header = " | ".join(f"{c:g}" for c in DEFAULTS_COLUMNS)
    lines = [
        f"| initial step size ÷ tuned | {header} |",
        "|---|" + "---|" * len(DEFAULTS_COLUMNS),
    ]
    shown = set()
    for label, data in runs.items():
        robustness = data["robustness"]
        lrs = np.asarray(robustness["lrs"])
        plain = np.asarray(robustness["curves"]["1"]["final_train_loss"], np.float64)
        stack = np.asarray(robustness["curves"]["2"]["final_train_loss"], np.float64)
        best = int(np.argmin(np.where(np.isfinite(plain), plain, np.inf)))
        at = [np.nonzero(np.isclose(lrs / lrs[best], c, rtol=1e-2))[0] for c in DEFAULTS_COLUMNS]
        rule = robustness["curves"]["1"]["optimizer"]["levels"][0]["optimizer"]
        if rule not in shown:
            shown.add(rule)
            error = robustness["curves"]["1"]["test_error"][best]
            row = [number(plain[i[0]]) if i.size else "—" for i in at]
            lines.append(
                f"| plain {rule} (tuned: α = {number(lrs[best])}, loss {number(plain[best])}, "
                f"{error:.1f} % test error) | " + " | ".join(row) + " |"
            )
        row = [
            f"{number(stack[i[0]])} ({stack[i[0]] / plain[best]:.2f}x)" if i.size else "—"
            for i in at
        ]
        lines.append(f"| {label} | " + " | ".join(row) + " |")
        errors = robustness["curves"]["2"]["test_error"]
        row = [f"{errors[i[0]]:.1f}" if i.size else "—" for i in at]
        lines.append(f"| {label}, test error % | " + " | ".join(row) + " |")
    return "\n".join(lines)


#: The committed results of ``configs/hyper_defaults.yaml`` that docs/hyperoptimizers.md shows:
#: the stack's label -> its file (the commands are on the page).
DEFAULTS_RESULTS = {
    "SGD(α0) / SGD()": "docs/results/hyper_defaults_sgd.json",
    "SGD(α0) / SGD(), whole run (μ = 0.99)": "docs/results/hyper_defaults_sgd_run.json",
    "SGD(α0) / SGD(), loss guard (ρ = 2)": "docs/results/hyper_defaults_sgd_rollback.json",
    "SGD(α0) / SGD(), whole run (μ = 0.99), loss guard (ρ = 2)": (
        "docs/results/hyper_defaults_sgd_run_rollback.json"
    ),
    "Adam(α0) / SGD()": "docs/results/hyper_defaults_adam.json",
}


def documented_tables(root: Path) -> dict[str, str]:
    """The tables docs/hyperoptimizers.md shows from committed results under ``root`` (the
    defaults' robustness, and Chandra et al.'s table)."""
    import json

    runs = {k: json.loads((root / v).read_text()) for k, v in DEFAULTS_RESULTS.items()}
    return {
        "hyper-defaults-mnist": defaults_table(runs),
        "hyper-mnist-chandra": chandra_table(json.loads((root / TABLE_RESULTS).read_text())),
    }


def summary(report: Report) -> str:
    """The table and how long it all took."""
    return (
        f"{format_table(report)}\n\n{report.minutes:.1f} min (table {report.table_minutes:.1f} min)"
    )


def _robustness_title(report: Report) -> str:
    rob = report.robustness
    tallest = max(rob.curves.values(), key=lambda c: c.height).optimizer.levels

    def named(level: LevelSpec) -> str:
        return f"{level.optimizer}({number(level.hyperparams.get('learning_rate', math.nan))})"

    layout = f"{tallest[0].optimizer}(α0)"
    if len(tallest) > 2:
        layout += f" / {named(tallest[1])} × (h − 2)"
    if len(tallest) > 1:
        layout += f" / {named(tallest[-1])}"
    return (
        f"MNIST MLP, {report.num_train:,} training images, {rob.epochs} epochs "
        f"({rob.steps} steps), median of {rob.seeds} seeds\nheight h: {layout}"
    )


def write(report: Report, output_dir: str | Path) -> list[Path]:
    """``results.json``, ``table.md``, ``robustness.png`` (if run) and ``config.yaml``."""

    def figures(out: Path) -> list[Path]:
        if report.robustness is None:
            return []
        return [
            plots.robustness(
                jsonable(report.robustness),
                out / "robustness.png",
                title=_robustness_title(report),
            )
        ]

    return write_report(
        report, output_dir, texts={"table.md": format_table(report)}, figures=figures
    )
