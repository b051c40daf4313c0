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
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l import hyper, optimizers, plots, unroll
from l2l.config import field, save, to_dict
from l2l.experiments.seeds import Stats
from l2l.tasks import MLPConfig, TaskConfig

# --------------------------------------------------------------------------- configs


@dataclasses.dataclass(frozen=True)
class LevelConfig:
    """One level of a stack: a rule of ``l2l.hyper.RULES``, its initial hyperparameters (by
    optax's names: ``learning_rate``, ``momentum``, ``decay``, ``b1``, ...), and what it learns
    (``learn: null`` for the rule's default set; ignored at the top of a stack).

    The old names (``lr``, ``gamma``) are read with a ``DeprecationWarning`` and stored renamed.
    """

    optimizer: str
    hyperparams: dict[str, float] = field({})
    learn: tuple[str, ...] | None = None
    reparam: str | dict[str, str] = "auto"

    def __post_init__(self):
        # Names an unknown rule, hyperparameter or parameterization, or a bad value; warns on an
        # old name, which the built level has replaced by optax's.
        built = self.build()
        renames = getattr(optimizers.OPTIMIZERS[self.optimizer], "old_names", {})
        object.__setattr__(
            self, "hyperparams", {renames.get(k, k): v for k, v in self.hyperparams.items()}
        )
        object.__setattr__(self, "learn", built.learn)
        object.__setattr__(self, "reparam", built.reparam)

    def build(self, *, drop_learn: bool = False, **overrides) -> hyper.Level:
        """The ``Level``; ``overrides`` replace initial values (JAX arrays allowed).

        ``drop_learn`` forgets ``learn``, for a level reused at the top of a stack."""
        learn = None if drop_learn else self.learn
        return hyper.level(
            self.optimizer, learn=learn, reparam=self.reparam, **{**self.hyperparams, **overrides}
        )


def _build_stack(
    levels: tuple[LevelConfig, ...], *, drop_top_learn: bool = False, **bottom_overrides
) -> optax.GradientTransformationExtraArgs:
    """``hyper.stack`` of the levels; ``bottom_overrides`` replace the bottom's initial values."""
    built = [
        cfg.build(
            drop_learn=drop_top_learn and i == len(levels) - 1,
            **(bottom_overrides if i == 0 else {}),
        )
        for i, cfg in enumerate(levels)
    ]
    return hyper.stack(*built)


@dataclasses.dataclass(frozen=True)
class RowConfig:
    """One row of the table: a stack, bottom level first (one level: a plain optimizer)."""

    name: str
    stack: tuple[LevelConfig, ...]
    epochs: int | None = field(None, ge=1, help="None: the config's epochs")
    refit: bool = field(True, help="re-run the learned hyperparameters as a fixed optimizer")
    paper_error: float | None = field(None, ge=0, help="published test error %, for reference")

    def __post_init__(self):
        if not self.stack:
            raise ValueError(f"row {self.name!r}: `stack` needs at least one level")
        _build_stack(self.stack)  # Checks the levels fit together (e.g. each learns something).


@dataclasses.dataclass(frozen=True)
class RobustnessConfig:
    """Final loss against the bottom level's initial step size, for stacks of several heights.

    Height 1 is ``bottom`` alone (fixed); height h > 1 is ``bottom``, h - 2 copies of ``middle``,
    then ``top``. The bottom's ``learning_rate`` is swept over ``num_lrs`` values, log-spaced from
    ``lr_min`` to ``lr_max``.
    """

    enabled: bool = True
    heights: tuple[int, ...] = (1, 2, 3, 4)
    lr_min: float = field(1e-6, gt=0)
    lr_max: float = field(1.0, gt=0)
    num_lrs: int = field(13, ge=2)
    epochs: int = field(10, ge=1)
    seeds: int = field(1, ge=1)
    bottom: LevelConfig = field(LevelConfig("sgd", {"learning_rate": 0.01}, reparam="raw"))
    middle: LevelConfig = field(LevelConfig("sgd", {"learning_rate": 1e-3}, reparam="raw"))
    top: LevelConfig = field(LevelConfig("sgd", {"learning_rate": 1e-4}))

    def __post_init__(self):
        if not self.heights or any(h < 1 for h in self.heights):
            raise ValueError(f"heights must be positive integers, got {list(self.heights)}")
        if self.lr_max <= self.lr_min:
            raise ValueError(f"lr_max ({self.lr_max}) must exceed lr_min ({self.lr_min})")

    def levels(self, height: int) -> tuple[LevelConfig, ...]:
        if height == 1:
            return (self.bottom,)
        return (self.bottom, *([self.middle] * (height - 2)), self.top)


def _sgd(learning_rate, **kw):
    return LevelConfig("sgd", {"learning_rate": learning_rate}, **kw)


DEFAULT_ROWS = (
    RowConfig("SGD", (_sgd(0.01),), paper_error=8.99),
    RowConfig("SGD / SGD", (_sgd(0.01, reparam="raw"), _sgd(0.01)), paper_error=4.81),
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

    name: str
    stack: tuple[LevelConfig, ...]
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

    def to_json(self) -> dict:
        out = {
            "name": self.name,
            "stack": [to_dict(level) for level in self.stack],
            "epochs": self.epochs,
            "steps": self.steps,
            "test_error": self.test_error.to_json(),
            "train_loss": self.train_loss.to_json(),
            "learned": {k: v.to_json() for k, v in self.learned.items()},
            "learned_as": self.learned_as,
            "final_hyperparams": [
                {k: v.to_json() for k, v in level.items()} for level in self.final_hyperparams
            ],
            "skipped": self.skipped,
            "loss_curve": self.loss_curve,
            "hyperparam_trace": self.hyperparam_trace,
            "paper_error": self.paper_error,
        }
        if self.refit_test_error is not None:
            out["refit_test_error"] = self.refit_test_error.to_json()
        out["seconds"] = self.seconds
        if self.baseline is not None:
            out["baseline"] = self.baseline
            out["vs_baseline"] = self.vs_baseline.to_json()
        return out


@dataclasses.dataclass
class Curve:
    """One height of the robustness sweep: medians over the seeds, one per initial step size."""

    height: int
    stack: tuple[LevelConfig, ...]
    final_train_loss: list[float]  # inf where the run diverged
    test_error: list[float]  # %
    final_lr: list[float]  # the bottom's learning_rate at the end
    diverged: int  # initial step sizes whose median final loss is not finite
    spread_decades: float | None  # log10(max / min) of the finite final losses
    seconds: float

    def to_json(self) -> dict:
        return {
            "height": self.height,
            "stack": [to_dict(level) for level in self.stack],
            "final_train_loss": self.final_train_loss,
            "test_error": self.test_error,
            "final_lr": self.final_lr,
            "diverged": self.diverged,
            "spread_decades": self.spread_decades,
            "seconds": self.seconds,
        }


@dataclasses.dataclass
class Robustness:
    """The robustness sweep: the initial step sizes and one curve per height."""

    lrs: list[float]
    epochs: int
    steps: int
    seeds: int
    curves: list[Curve]

    def to_json(self) -> dict:
        return {
            "lrs": self.lrs,
            "epochs": self.epochs,
            "steps": self.steps,
            "seeds": self.seeds,
            "curves": {str(c.height): c.to_json() for c in self.curves},
        }


@dataclasses.dataclass
class Report:
    config: Config
    data: str  # where the MNIST splits came from
    num_train: int
    num_test: int
    device: str
    rows: list[Row]
    table_minutes: float
    robustness: Robustness | None  # None when not enabled
    minutes: float

    def to_json(self) -> dict:
        out = {
            "config": to_dict(self.config),
            "data": self.data,
            "num_train": self.num_train,
            "num_test": self.num_test,
            "device": self.device,
            "rows": [row.to_json() for row in self.rows],
            "table_minutes": self.table_minutes,
        }
        if self.robustness is not None:
            out["robustness"] = self.robustness.to_json()
        out["minutes"] = self.minutes
        return out


# --------------------------------------------------------------------------- running


class TestSplit(NamedTuple):
    """The held-out examples a run is scored on."""

    images: jax.Array  # (N, 784) float32
    labels: jax.Array  # (N,) int32


def steps_for(epochs: int, num_examples: int, batch_size: int) -> int:
    return epochs * math.ceil(num_examples / batch_size)


def train(task, optimizer: optax.GradientTransformation, key: jax.Array, steps: int, test) -> dict:
    """One run of ``steps`` minibatch steps (one :func:`l2l.unroll.trajectory`); returns arrays
    (traceable).

    Returns a dict with the test error, the full training loss at the end, the final optimizer
    state's hyperparameters (every level) and skip counts, the mean minibatch loss of each tenth of
    the run, and the bottom level's hyperparameters at each tenth.
    """
    init_key, data_key = jax.random.split(key)
    instance = task.sample(init_key)
    state = unroll.start(optimizer, task, instance, init_key)
    state, losses, trace = unroll.trajectory(
        optimizer,
        task,
        instance,
        state,
        data_key,
        steps,
        lambda s: hyper.hyperparams(s.opt_state)[0],
    )
    chunks = min(10, steps)
    usable = steps - steps % chunks
    return {
        "test_error": task.error_rate(state.params, test.images, test.labels),
        "train_loss": task.full_loss(state.params, task.images, task.labels),
        "hyperparams": list(hyper.hyperparams(state.opt_state)),
        "skipped": list(hyper.skipped(state.opt_state)),
        "loss_curve": losses[:usable].reshape(chunks, -1).mean(axis=1),
        "hyperparam_trace": jax.tree.map(lambda x: x[: usable : usable // chunks], trace),
    }


def _structure(levels: tuple[LevelConfig, ...]) -> tuple:
    """What fixes a stack's compiled program: its rules, what they learn and how, and the names
    of its hyperparameters (not their values, which enter as arguments). The top level learns
    nothing, so its ``learn`` and ``reparam`` do not matter."""
    key = []
    for i, cfg in enumerate(levels):
        top = i == len(levels) - 1
        reparam = (
            cfg.reparam if isinstance(cfg.reparam, str) else tuple(sorted(cfg.reparam.items()))
        )
        key.append(
            (
                cfg.optimizer,
                None if top else cfg.learn,
                None if top else reparam,
                tuple(sorted(cfg.hyperparams)),
            )
        )
    return tuple(key)


class _Runner:
    """``train`` vmapped over seeds and jitted, one compiled program per stack structure and step
    count: rows that differ only in numbers (e.g. a plain row and the refits of the stacks on it)
    share it. The datasets and every hyperparameter value enter as arguments, not constants."""

    def __init__(self):
        self._compiled: dict[tuple, Callable] = {}

    def __call__(
        self, levels: tuple[LevelConfig, ...], task, test, keys, steps: int, values
    ) -> dict:
        """``values``: per level, a dict of initial hyperparameters with a leading seed axis."""
        key = (_structure(levels), steps)
        if key not in self._compiled:

            def one(seed_key, task, test, values):
                built = []
                for i, cfg in enumerate(levels):
                    top = i == len(levels) - 1
                    learn, reparam = (None, "auto") if top else (cfg.learn, cfg.reparam)
                    built.append(
                        hyper.level(cfg.optimizer, learn=learn, reparam=reparam, **values[i])
                    )
                return train(task, hyper.stack(*built), seed_key, steps, test)

            self._compiled[key] = jax.jit(jax.vmap(one, in_axes=(0, None, None, 0)))
        out = self._compiled[key](keys, task, test, values)
        return jax.tree.map(np.asarray, out)


def _per_seed(levels: tuple[LevelConfig, ...], seeds: int, **bottom_overrides) -> tuple[dict, ...]:
    """Every level's initial hyperparameters as float32 arrays with a leading seed axis."""
    values = []
    for i, cfg in enumerate(levels):
        given = {**cfg.hyperparams, **(bottom_overrides if i == 0 else {})}
        values.append(
            {k: jnp.broadcast_to(jnp.asarray(v, jnp.float32), (seeds,)) for k, v in given.items()}
        )
    return tuple(values)


def _baseline_of(row: RowConfig, rows: tuple[RowConfig, ...]) -> RowConfig | None:
    """The plain row (height 1) with the same bottom optimizer and initial hyperparameters."""
    if len(row.stack) == 1:
        return None
    bottom = row.stack[0]
    for other in rows:
        if len(other.stack) == 1:
            base = other.stack[0]
            if base.optimizer == bottom.optimizer and base.hyperparams == bottom.hyperparams:
                return other
    return None


def run_table(cfg: Config, task, test: TestSplit, progress=None) -> list[Row]:
    """Every row of the table: the stack's runs and, for stacks, the refit runs."""
    keys = jax.random.split(jax.random.key(cfg.seed), cfg.seeds)
    num_train = task.labels.shape[0]
    runner = _Runner()
    rows = []
    for row_cfg in cfg.rows:
        epochs = row_cfg.epochs or cfg.epochs
        steps = steps_for(epochs, num_train, cfg.task.batch_size)
        start = time.perf_counter()
        stack = row_cfg.stack
        out = runner(stack, task, test, keys, steps, _per_seed(stack, cfg.seeds))
        bottom = stack[0].build()
        learned = bottom.learned_names(top=len(stack) == 1)
        row = Row(
            name=row_cfg.name,
            stack=stack,
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
            plain = stack[:1]
            refit = runner(plain, task, test, keys, steps, _per_seed(plain, cfg.seeds, **final))
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
    lrs = np.geomspace(rob.lr_min, rob.lr_max, rob.num_lrs)
    keys = jax.random.split(jax.random.key(cfg.seed), rob.seeds)
    steps = steps_for(rob.epochs, task.labels.shape[0], cfg.task.batch_size)
    curves = []
    for height in rob.heights:
        levels = rob.levels(height)
        start = time.perf_counter()

        def one_lr(lr, task, test, levels=levels):
            optimizer = _build_stack(levels, drop_top_learn=True, learning_rate=lr)
            return jax.vmap(lambda k: train(task, optimizer, k, steps, test))(keys)

        fn = jax.jit(jax.vmap(one_lr, in_axes=(0, None, None)))
        out = jax.tree.map(np.asarray, fn(jnp.asarray(lrs, jnp.float32), task, test))
        final = np.where(np.isfinite(out["train_loss"]), out["train_loss"], np.inf)
        median = np.median(final, axis=1)  # Over seeds.
        finite = median[np.isfinite(median)]
        curve = Curve(
            height=height,
            stack=levels,
            final_train_loss=median.tolist(),
            test_error=(100 * np.median(out["test_error"], axis=1)).tolist(),
            final_lr=np.median(out["hyperparams"][0]["learning_rate"], axis=1).tolist(),
            diverged=int(np.sum(~np.isfinite(median))),
            spread_decades=float(np.log10(finite.max() / finite.min())) if finite.size else None,
            seconds=time.perf_counter() - start,
        )
        curves.append(curve)
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


def _pm(stats: Stats, digits: int = 2) -> str:
    return f"{stats.mean:.{digits}f} ± {stats.sd:.{digits}f}"


def _number(x: float) -> str:
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e3 or x == 0 else f"{x:.2e}"


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
    line = f"{result.name}: test error {_pm(result.test_error)} %"
    if result.refit_test_error is not None:
        line += f"; learned values re-run fixed: {_pm(result.refit_test_error)} %"
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
                f"{GREEK.get(k, k)}{_tag(r, k)} = {_number(v.mean)} ± {_number(v.sd)}"
                for k, v in r.learned.items()
            )
            or "—"
        )
        vs = "—"
        if r.vs_baseline is not None:
            vs = f"{r.vs_baseline.mean:+.2f} ± {r.vs_baseline.sd:.2f} ({r.baseline})"
        refit = _pm(r.refit_test_error) if r.refit_test_error is not None else "—"
        paper = f"{r.paper_error:.2f}" if r.paper_error is not None else "—"
        skipped = sum(r.skipped)
        note = f" ({skipped} skipped hyper-steps)" if skipped else ""
        lines.append(
            f"| {r.name} | {r.epochs} ({r.steps}) | {learned}{note} "
            f"| {_pm(r.test_error)} | {vs} | {refit} | {paper} |"
        )
    return "\n".join(lines)


def summary(report: Report) -> str:
    """The table and how long it all took."""
    return (
        f"{format_table(report)}\n\n{report.minutes:.1f} min (table {report.table_minutes:.1f} min)"
    )


def _robustness_title(report: Report) -> str:
    rob = report.robustness
    tallest = max(rob.curves, key=lambda c: c.height).stack

    def named(level: LevelConfig) -> str:
        return f"{level.optimizer}({_number(level.hyperparams.get('learning_rate', math.nan))})"

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
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, table_path = out / "results.json", out / "table.md"
    json_path.write_text(json.dumps(report.to_json(), indent=1, allow_nan=True))
    table_path.write_text(format_table(report) + "\n")
    paths = [json_path, table_path]
    if report.robustness is not None:
        paths.append(
            plots.robustness(
                report.robustness.to_json(),
                out / "robustness.png",
                title=_robustness_title(report),
            )
        )
    return [*paths, save(report.config, out / "config.yaml")]
