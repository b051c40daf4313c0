r"""The MNIST experiments of Chandra et al. (2022): ``l2l hyper configs/hyper_mnist.yaml``.

* **Table** (the paper's Table 1): an MLP 784-128 (tanh)-10 trained with minibatches of 256 by
  each optimizer of ``HyperMnistConfig.rows``, several seeds; the test error on the held-out split,
  the hyperparameters each stack learned, and each learned setting re-run from scratch as a fixed
  optimizer ("refit"). Every run of a row is one jitted ``lax.scan`` over all its steps,
  ``vmap`` ped over the seeds; every row sees the same seeds (initial weights and minibatches), so
  differences between rows are paired.
* **Robustness** (the paper's sensitivity figure): stacks of height 1..4 whose bottom step size is
  swept over many orders of magnitude; the final training loss against the initial step size,
  one curve per height.

Minibatches are drawn with replacement; an epoch is ``ceil(N / batch_size)`` steps.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l.config import TaskConfig, build_task, field, to_dict
from l2l.hyper import levels as level_lib
from l2l.hyper.stack import stack

# --------------------------------------------------------------------------- configs


@dataclasses.dataclass(frozen=True)
class LevelConfig:
    """One level of a stack: a rule of ``l2l.hyper.RULES``, its initial hyperparameters, and what it
    learns (``learn: null`` for the rule's default set; ignored at the top of a stack)."""

    optimizer: str
    hyperparams: dict[str, float] = field({})
    learn: tuple[str, ...] | None = None
    reparam: str | dict[str, str] = "auto"

    def __post_init__(self):
        self.build()  # Names an unknown rule, hyperparameter or parameterization, or a bad value.

    def build(self, *, drop_learn: bool = False, **overrides) -> level_lib.Level:
        """The ``Level``; ``overrides`` replace initial values (JAX arrays allowed).

        ``drop_learn`` forgets ``learn``, for a level reused at the top of a stack."""
        learn = None if drop_learn else self.learn
        return level_lib.level(
            self.optimizer, learn=learn, reparam=self.reparam, **{**self.hyperparams, **overrides}
        )


def _build_stack(
    levels: tuple[LevelConfig, ...], *, drop_top_learn: bool = False, **bottom_overrides
) -> optax.GradientTransformation:
    """``stack`` of the levels; ``bottom_overrides`` replace the bottom's initial values."""
    built = [
        cfg.build(
            drop_learn=drop_top_learn and i == len(levels) - 1,
            **(bottom_overrides if i == 0 else {}),
        )
        for i, cfg in enumerate(levels)
    ]
    return stack(*built)


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
    then ``top``.
    """

    enabled: bool = True
    heights: tuple[int, ...] = (1, 2, 3, 4)
    lr_min: float = field(1e-6, gt=0)
    lr_max: float = field(1.0, gt=0)
    num_lrs: int = field(13, ge=2)
    epochs: int = field(10, ge=1)
    seeds: int = field(1, ge=1)
    bottom: LevelConfig = field(LevelConfig("sgd", {"lr": 0.01}, reparam="raw"))
    middle: LevelConfig = field(LevelConfig("sgd", {"lr": 1e-3}, reparam="raw"))
    top: LevelConfig = field(LevelConfig("sgd", {"lr": 1e-4}))

    def __post_init__(self):
        if not self.heights or any(h < 1 for h in self.heights):
            raise ValueError(f"heights must be positive integers, got {list(self.heights)}")
        if self.lr_max <= self.lr_min:
            raise ValueError(f"lr_max ({self.lr_max}) must exceed lr_min ({self.lr_min})")

    def levels(self, height: int) -> tuple[LevelConfig, ...]:
        if height == 1:
            return (self.bottom,)
        return (self.bottom, *([self.middle] * (height - 2)), self.top)


def _sgd(lr, **kw):
    return LevelConfig("sgd", {"lr": lr}, **kw)


DEFAULT_ROWS = (
    RowConfig("SGD", (_sgd(0.01),), paper_error=8.99),
    RowConfig("SGD / SGD", (_sgd(0.01, reparam="raw"), _sgd(0.01)), paper_error=4.81),
)


@dataclasses.dataclass(frozen=True)
class HyperMnistConfig:
    """``l2l hyper``: the MNIST table and robustness figure of Chandra et al. (2022).

    ``task.data_dir`` is the MNIST directory (None: ``$L2L_DATA_DIR``, else the cache directory); a
    relative path is taken from the directory ``l2l`` runs in.
    """

    task: TaskConfig = field(
        TaskConfig(kind="mlp", hidden_sizes=(128,), activation="tanh", batch_size=256)
    )
    seeds: int = field(4, ge=1)
    seed: int = field(0, ge=0)
    epochs: int = field(30, ge=1)
    rows: tuple[RowConfig, ...] = field(DEFAULT_ROWS)
    robustness: RobustnessConfig = field(RobustnessConfig())
    output_dir: str = "runs/hyper_mnist"

    def __post_init__(self):
        if self.task.kind != "mlp":
            raise ValueError(f"task.kind must be 'mlp' (the MNIST MLP), got {self.task.kind!r}")
        names = [row.name for row in self.rows]
        if len(set(names)) != len(names):
            raise ValueError(f"row names must be unique, got {names}")


# --------------------------------------------------------------------------- running


class TestSplit(NamedTuple):
    """The held-out examples a run is scored on."""

    images: jax.Array  # (N, 784) float32
    labels: jax.Array  # (N,) int32


def steps_for(epochs: int, num_examples: int, batch_size: int) -> int:
    return epochs * math.ceil(num_examples / batch_size)


def train(task, optimizer: optax.GradientTransformation, key: jax.Array, steps: int, test) -> dict:
    """One run: ``steps`` minibatch steps in one ``lax.scan``; returns arrays (traceable).

    Returns a dict with the test error, the full training loss at the end, the final optimizer
    state's hyperparameters (every level) and skip counts, the mean minibatch loss of each tenth of
    the run, and the bottom level's hyperparameters at each tenth.
    """
    init_key, data_key = jax.random.split(key)
    params = task.init(init_key)
    state = optimizer.init(params)

    def body(carry, step_key):
        params, state = carry
        loss, grads = jax.value_and_grad(task.loss)(params, None, step_key)
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), (loss, state.levels[0].hyperparams)

    (params, state), (losses, trace) = jax.lax.scan(
        body, (params, state), jax.random.split(data_key, steps)
    )
    chunks = min(10, steps)
    usable = steps - steps % chunks
    return {
        "test_error": task.error_rate(params, test.images, test.labels),
        "train_loss": task.full_loss(params, task.images, task.labels),
        "hyperparams": [level.hyperparams for level in state.levels],
        "skipped": [level.skipped for level in state.levels],
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
                        level_lib.level(cfg.optimizer, learn=learn, reparam=reparam, **values[i])
                    )
                return train(task, stack(*built), seed_key, steps, test)

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


def _stats(values) -> dict:
    values = np.asarray(values, np.float64)
    return {
        "mean": float(np.mean(values)),
        "sd": float(np.std(values, ddof=1)) if values.size > 1 else 0.0,
        "per_seed": values.tolist(),
    }


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


def run_table(cfg: HyperMnistConfig, task, test, progress=None) -> list[dict]:
    """Every row of the table: the stack's runs and, for stacks, the refit runs."""
    keys = jax.random.split(jax.random.key(cfg.seed), cfg.seeds)
    num_train = task.labels.shape[0]
    runner = _Runner()
    results = []
    for row in cfg.rows:
        epochs = row.epochs or cfg.epochs
        steps = steps_for(epochs, num_train, cfg.task.batch_size)
        start = time.perf_counter()
        out = runner(row.stack, task, test, keys, steps, _per_seed(row.stack, cfg.seeds))
        learned = row.stack[0].build().learned_names(top=len(row.stack) == 1)
        result = {
            "name": row.name,
            "stack": [to_dict(level) for level in row.stack],
            "epochs": epochs,
            "steps": steps,
            "test_error": _stats(100 * out["test_error"]),
            "train_loss": _stats(out["train_loss"]),
            "learned": {name: _stats(out["hyperparams"][0][name]) for name in learned},
            "learned_as": {
                name: row.stack[0].build().parameterization(name).name for name in learned
            },
            "final_hyperparams": [
                {k: _stats(v) for k, v in level.items()} for level in out["hyperparams"]
            ],
            "skipped": [int(np.sum(s)) for s in out["skipped"]],
            "loss_curve": np.mean(out["loss_curve"], axis=0).tolist(),
            "hyperparam_trace": {
                k: np.mean(v, axis=0).tolist() for k, v in out["hyperparam_trace"].items()
            },
            "paper_error": row.paper_error,
        }
        if learned and row.refit:
            final = {name: out["hyperparams"][0][name] for name in learned}
            plain = row.stack[:1]
            refit = runner(plain, task, test, keys, steps, _per_seed(plain, cfg.seeds, **final))
            result["refit_test_error"] = _stats(100 * refit["test_error"])
        result["seconds"] = time.perf_counter() - start
        results.append(result)
        if progress is not None:
            progress(result)
    by_name = {r["name"]: r for r in results}
    for row, result in zip(cfg.rows, results):
        base = _baseline_of(row, cfg.rows)
        if base is not None:
            diff = np.subtract(
                result["test_error"]["per_seed"], by_name[base.name]["test_error"]["per_seed"]
            )
            result["baseline"] = base.name
            result["vs_baseline"] = _stats(diff)
    return results


def run_robustness(cfg: HyperMnistConfig, task, test, progress=None) -> dict:
    """Final training loss (and test error) on a log grid of the bottom's initial step size."""
    rob = cfg.robustness
    lrs = np.geomspace(rob.lr_min, rob.lr_max, rob.num_lrs)
    keys = jax.random.split(jax.random.key(cfg.seed), rob.seeds)
    steps = steps_for(rob.epochs, task.labels.shape[0], cfg.task.batch_size)
    curves = {}
    for height in rob.heights:
        levels = rob.levels(height)
        start = time.perf_counter()

        def one_lr(lr, task, test, levels=levels):
            optimizer = _build_stack(levels, drop_top_learn=True, lr=lr)
            run = lambda k: train(task, optimizer, k, steps, test)  # noqa: E731
            return jax.vmap(run)(keys)

        fn = jax.jit(jax.vmap(one_lr, in_axes=(0, None, None)))
        out = jax.tree.map(np.asarray, fn(jnp.asarray(lrs, jnp.float32), task, test))
        final = np.where(np.isfinite(out["train_loss"]), out["train_loss"], np.inf)
        median = np.median(final, axis=1)  # Over seeds.
        finite = median[np.isfinite(median)]
        curves[str(height)] = {
            "height": height,
            "stack": [to_dict(level) for level in levels],
            "final_train_loss": median.tolist(),
            "test_error": (100 * np.median(out["test_error"], axis=1)).tolist(),
            "final_lr": np.median(out["hyperparams"][0]["lr"], axis=1).tolist(),
            "diverged": int(np.sum(~np.isfinite(median))),
            "spread_decades": float(np.log10(finite.max() / finite.min())) if finite.size else None,
            "seconds": time.perf_counter() - start,
        }
        if progress is not None:
            progress(curves[str(height)])
    return {
        "lrs": lrs.tolist(),
        "epochs": rob.epochs,
        "steps": steps,
        "seeds": rob.seeds,
        "curves": curves,
    }


def run(cfg: HyperMnistConfig, progress=None) -> dict:
    """Both experiments; a JSON-ready report."""
    from l2l.data import load_mnist

    start = time.perf_counter()
    task = build_task(cfg.task)
    data = load_mnist(cfg.task.data_dir)
    test = TestSplit(jnp.asarray(data.test.images), jnp.asarray(data.test.labels))
    report = {
        "config": to_dict(cfg),
        "data": data.description,
        "num_train": int(task.labels.shape[0]),
        "num_test": int(test.labels.shape[0]),
        "device": f"{jax.devices()[0].device_kind}, jax {jax.__version__}",
        "rows": run_table(cfg, task, test, progress),
    }
    report["table_minutes"] = (time.perf_counter() - start) / 60
    if cfg.robustness.enabled:
        report["robustness"] = run_robustness(cfg, task, test, progress)
    report["minutes"] = (time.perf_counter() - start) / 60
    return report


# --------------------------------------------------------------------------- writing

GREEK = {"lr": "α", "gamma": "γ", "b1": "β1", "b2": "β2", "eps": "ε"}


def _pm(stats: dict, digits: int = 2) -> str:
    return f"{stats['mean']:.{digits}f} ± {stats['sd']:.{digits}f}"


def _number(x: float) -> str:
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e3 or x == 0 else f"{x:.2e}"


def _tag(row: dict, name: str) -> str:
    """How a learned hyperparameter was parameterized, when not the paper's raw way."""
    how = row.get("learned_as", {}).get(name, "raw")
    return "" if how == "raw" else f" ({how})"


def print_progress(result: dict) -> None:
    """One line per finished row of the table, or height of the robustness sweep."""
    if "height" in result:
        spread = result["spread_decades"]
        spread = "n/a" if spread is None else f"{spread:.2f}"
        print(
            f"robustness, height {result['height']}: final losses spread over {spread} decades, "
            f"{result['diverged']} diverged ({result['seconds']:.0f}s)",
            flush=True,
        )
        return
    line = f"{result['name']}: test error {_pm(result['test_error'])} %"
    if "refit_test_error" in result:
        line += f"; learned values re-run fixed: {_pm(result['refit_test_error'])} %"
    print(f"{line} ({result['seconds']:.0f}s)", flush=True)


def format_table(report: dict) -> str:
    """The table as markdown: one row per optimizer, in the config's order."""
    seeds = report["config"]["seeds"]
    lines = [
        "| optimizer | epochs (steps) | learned hyperparameters (final; mean ± sd) "
        f"| test error % (mean ± sd, {seeds} seeds) | vs. plain, points (paired) "
        "| learned values re-run fixed: test error % | paper (60k images) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        learned = (
            ", ".join(
                f"{GREEK.get(k, k)}{_tag(r, k)} = {_number(v['mean'])} ± {_number(v['sd'])}"
                for k, v in r["learned"].items()
            )
            or "—"
        )
        vs = "—"
        if "vs_baseline" in r:
            vs = f"{r['vs_baseline']['mean']:+.2f} ± {r['vs_baseline']['sd']:.2f} ({r['baseline']})"
        refit = _pm(r["refit_test_error"]) if "refit_test_error" in r else "—"
        paper = f"{r['paper_error']:.2f}" if r.get("paper_error") is not None else "—"
        skipped = sum(r["skipped"])
        note = f" ({skipped} skipped hyper-steps)" if skipped else ""
        lines.append(
            f"| {r['name']} | {r['epochs']} ({r['steps']}) | {learned}{note} "
            f"| {_pm(r['test_error'])} | {vs} | {refit} | {paper} |"
        )
    return "\n".join(lines)


def plot_robustness(robustness: dict, path: str | Path, *, title: str = "") -> Path:
    """Final training loss against the bottom level's initial step size, one curve per height."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=100)
    lrs = np.asarray(robustness["lrs"])
    for curve in robustness["curves"].values():
        loss = np.asarray(curve["final_train_loss"], np.float64)
        loss = np.where(np.isfinite(loss), loss, np.nan)
        spread = curve["spread_decades"]
        label = f"height {curve['height']}"
        if spread is not None:
            label += f" (spread {spread:.2f} decades)"
        if curve["diverged"]:
            label += f", {curve['diverged']} diverged"
        ax.plot(lrs, loss, marker="o", ms=3.5, lw=1.5, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("initial step size of the bottom level")
    ax.set_ylabel("final training loss (full train split)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(report: dict, output_dir: str | Path) -> dict[str, Path]:
    """``results.json``, ``table.md`` and (if run) ``robustness.png`` under ``output_dir``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "table": out / "table.md"}
    paths["json"].write_text(json.dumps(report, indent=1, allow_nan=True))
    paths["table"].write_text(format_table(report) + "\n")
    if "robustness" in report:
        rob = report["robustness"]
        tallest = max(rob["curves"].values(), key=lambda c: c["height"])["stack"]

        def named(lvl):
            return f"{lvl['optimizer']}({_number(lvl['hyperparams'].get('lr', math.nan))})"

        layout = f"{tallest[0]['optimizer']}(α0)"
        if len(tallest) > 2:
            layout += f" / {named(tallest[1])} × (h − 2)"
        if len(tallest) > 1:
            layout += f" / {named(tallest[-1])}"
        title = (
            f"MNIST MLP, {report['num_train']:,} training images, {rob['epochs']} epochs "
            f"({rob['steps']} steps), median of {rob['seeds']} seeds\nheight h: {layout}"
        )
        paths["robustness"] = plot_robustness(rob, out / "robustness.png", title=title)
    return paths
