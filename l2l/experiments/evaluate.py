"""``l2l evaluate``: tune the classic baselines and compare them, with any learned optimizers, on
held-out instances; with ``settings``, once per setting of a generalization study (the baselines
re-tuned for each, the learned optimizers not retrained)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Literal

from l2l import learned, plots, sweep
from l2l.config import field
from l2l.evaluate import DEFAULT_BASELINES, BaselineConfig, Comparison, Result, compare
from l2l.experiments.report import jsonable, write_report
from l2l.tasks import QuadraticConfig, TaskConfig


@dataclasses.dataclass(frozen=True)
class SettingConfig:
    """One panel of a generalization study: the config's task and horizon with a few changes
    (each must be a field of the task's kind, e.g. ``activation`` for ``mlp``), or a task section
    of its own (``task: {kind: conv, dataset: fashion-mnist, ...}``) that the changes then apply
    to."""

    name: str
    steps: int | None = field(None, ge=1)
    hidden_sizes: tuple[int, ...] | None = None
    activation: Literal["sigmoid", "tanh", "relu"] | None = None
    distribution: Literal["normal", "uniform"] | None = None
    task_section: TaskConfig | None = field(
        None, help="this panel's whole task (default: the config's task)"
    )

    def task(self, task: TaskConfig) -> TaskConfig:
        if self.task_section is not None:
            task = self.task_section
        changes = {
            k: getattr(self, k)
            for k in ("hidden_sizes", "activation", "distribution")
            if getattr(self, k) is not None
        }
        missing = [k for k in changes if not hasattr(task, k)]
        if missing:
            raise ValueError(
                f"setting {self.name!r} changes {missing[0]!r}, which task kind {task.kind!r} "
                "does not have"
            )
        return dataclasses.replace(task, **changes)


@dataclasses.dataclass(frozen=True)
class Config:
    """``l2l evaluate``: tune baselines (and compare learned optimizers) on held-out instances."""

    task: TaskConfig = field(QuadraticConfig())
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
        for setting in self.settings:
            setting.task(self.task)  # names a change the task kind cannot take
        for name in self.learned:  # an unknown zoo name fails now, not after the tuning
            if not learned.zoo.is_path(name):
                learned.zoo.pretrained_path(name)


EvaluateConfig = Config


@dataclasses.dataclass
class Panel:
    """One comparison: the whole config's, or one setting's."""

    name: str | None  # the setting's name; None without settings
    comparison: Comparison


@dataclasses.dataclass
class Report:
    config: Config
    panels: list[Panel]  # one per setting (one without settings)
    seconds: float

    @property
    def comparison(self) -> Comparison:
        """The one comparison of a config without settings."""
        return self.panels[0].comparison


def run(cfg: Config, *, show_progress: bool = True) -> Report:
    start = time.perf_counter()
    runner = sweep.Runner()  # Every setting of one structure shares its compiled programs.
    panels = []
    for setting in cfg.settings or (None,):
        comparison = compare(
            cfg.task if setting is None else setting.task(cfg.task),
            baselines=cfg.baselines,
            learned_optimizers=cfg.learned,
            steps=cfg.steps if setting is None or setting.steps is None else setting.steps,
            seed=cfg.seed,
            num_tuning=cfg.num_tuning,
            num_test=cfg.num_test,
            show_progress=show_progress,
            runner=runner,
        )
        panels.append(Panel(None if setting is None else setting.name, comparison))
    return Report(cfg, panels, time.perf_counter() - start)


def settings_table(report: Report) -> str:
    """One row per setting: each learned optimizer's ratio to that setting's best tuned baseline
    (the lowest of each row in bold)."""
    return _settings_table([(p.name, p.comparison) for p in report.panels])


def _panels_of(data: dict) -> list[tuple[str | None, Comparison]]:
    """The (setting, comparison) panels of a ``results.json`` (compact or not)."""
    return [(p["name"], Comparison.from_json(p["comparison"])) for p in data["panels"]]


def _settings_table(panels: list[tuple[str | None, Comparison]]) -> str:
    first = panels[0][1]
    names = [r.name for r in first.results if r.learned]
    lines = [
        "| setting | best tuned baseline (mean summed loss) | "
        + " | ".join(f"{n} (ratio)" for n in names)
        + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for name, c in panels:
        by_name = {r.name: r for r in c.results}
        if c.baselines:
            best = c.best_baseline()
            ratios = c.ratios_to_best_baseline()
            lowest = min(ratios.values(), default=None)
            lr = best.hyperparams["learning_rate"]
            baseline = f"{best.name} {lr:.3g}: {best.mean_summed_loss:.4g}"
            cells = [f"{by_name[n].mean_summed_loss:.4g} ({ratios[n]:.3f})" for n in names]
            cells = [
                f"**{cell}**" if ratios[n] == lowest else cell
                for n, cell in zip(names, cells, strict=True)
            ]
        else:  # learned optimizers only: no ratio to give
            baseline = "–"
            cells = [f"{by_name[n].mean_summed_loss:.4g} (–)" for n in names]
        lines.append(f"| {name} | {baseline} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(report: Report) -> str:
    if not report.config.settings:
        return report.comparison.table()
    parts = [f"{p.name}:\n{p.comparison.table()}" for p in report.panels]
    if report.config.learned:
        parts.append(settings_table(report))
    return "\n\n".join(parts) + f"\n\n{report.seconds:.1f}s"


def _curves(results: list[Result]) -> dict[str, dict]:
    return {r.name: jsonable(r) for r in results}


def write(report: Report, output_dir: str | Path, *, title: str | None = None) -> list[Path]:
    """``results.json``, ``loss_curves.png`` (one panel per setting), with settings and learned
    optimizers ``ratios.png`` (the heat map of ``settings_table``), and ``config.yaml``."""
    cfg = report.config
    title = title or f"{cfg.task.kind} task, {cfg.num_test} held-out instances"

    def figures(out: Path) -> list[Path]:
        if not cfg.settings:
            results = _curves(report.comparison.results)
            return [plots.loss_curves(results, out / "loss_curves.png", title=title)]
        panels = {
            f"{p.name} ({p.comparison.steps} steps)": _curves(p.comparison.results)
            for p in report.panels
        }
        paths = [plots.loss_curve_panels(panels, out / "loss_curves.png", title=title)]
        names = [r.name for r in report.panels[0].comparison.results if r.learned]
        if names and all(p.comparison.baselines for p in report.panels):
            ratios = [
                [p.comparison.ratios_to_best_baseline()[n] for p in report.panels] for n in names
            ]
            paths.append(
                plots.ratio_heatmap(
                    ratios,
                    rows=names,
                    columns=[p.name for p in report.panels],
                    path=out / "ratios.png",
                    title=title,
                )
            )
        return paths

    return write_report(report, output_dir, figures=figures)


# --------------------------------------------------------------------------- documented results

#: The committed results of ``configs/generalization_matrix.yaml`` that docs/learned_mlp.md shows
#: (a path from the repository's root): its ``results.json`` without the loss curves
#: (:func:`compact`), every held-out run's summed loss kept.
MATRIX_RESULTS = "docs/results/generalization_matrix.json"
MATRIX_PAGE = "docs/learned_mlp.md"
_CURVES = ("curve_mean", "curve_q25", "curve_q75")


def compact(data: dict) -> dict:
    """A ``results.json`` of ``l2l evaluate`` without its mean and interquartile loss curves
    (most of its size): what a committed results file keeps."""
    out = dict(data)
    out["panels"] = [
        {
            **panel,
            "comparison": {
                **panel["comparison"],
                "results": [
                    {k: v for k, v in r.items() if k not in _CURVES}
                    for r in panel["comparison"]["results"]
                ],
            },
        }
        for panel in data["panels"]
    ]
    return out


def _ratio(x: float) -> str:
    """A ratio as the matrix shows it: three significant digits, thousands written out."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:#.3g}"


def matrix_table(data: dict) -> str:
    """The generalization matrix of a ``results.json`` with settings and learned optimizers
    (compact or not): one column per setting, one row per learned optimizer, each cell its mean
    summed loss over the column's best tuned baseline's (the best of each column in bold), the
    first row that baseline, the last column how many cells are at most 1.0 (the most in bold)."""
    panels = _panels_of(data)
    names = [r.name for r in panels[0][1].results if r.learned]
    ratios = {n: [c.ratios_to_best_baseline()[n] for _, c in panels] for n in names}
    lowest = [min(ratios[n][j] for n in names) for j in range(len(panels))]
    counts = {n: sum(x <= 1.0 for x in ratios[n]) for n in names}
    most = max(counts.values())

    def bold(text: str, flag: bool) -> str:
        return f"**{text}**" if flag else text

    best = []
    for _, c in panels:
        b = c.best_baseline()
        assert b is not None, "a generalization matrix needs tuned baselines in every setting"
        best.append(f"{b.name} {b.hyperparams['learning_rate']:g}: {b.mean_summed_loss:.4g}")
    lines = [
        "| optimizer | " + " | ".join(name for name, _ in panels) + " | columns <= 1.0 |",
        "|---|" + "---|" * (len(panels) + 1),
        "| best tuned baseline (mean summed loss) | " + " | ".join(best) + " | |",
    ]
    for n in names:
        cells = [bold(_ratio(x), x == lowest[j]) for j, x in enumerate(ratios[n])]
        count = bold(str(counts[n]), counts[n] == most)
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {count} |")
    return "\n".join(lines)


#: The committed results of ``configs/mnist_generalization.yaml`` that docs/mnist.md shows.
MNIST_RESULTS = "docs/results/mnist_generalization.json"
MNIST_PAGE = "docs/mnist.md"


def settings_table_of(data: dict) -> str:
    """:func:`settings_table` of a ``results.json`` (compact or not)."""
    return _settings_table(_panels_of(data))


def comparison_table_of(data: dict) -> str:
    """The comparison table (:meth:`Comparison.table`) of a ``results.json`` without settings."""
    return _panels_of(data)[0][1].table()


#: The held-out comparisons docs/quadratics.md shows without retraining: the setting -> its
#: committed results and the command that made them.
QUADRATIC_SETTINGS = {
    "W, y ~ U[0, 1)": (
        "docs/results/quadratic_lstm_eval_uniform.json",
        "l2l evaluate configs/quadratic_lstm_eval.yaml task.distribution=uniform",
    ),
    "200 steps": (
        "docs/results/quadratic_lstm_eval_200_steps.json",
        "l2l evaluate configs/quadratic_lstm_eval.yaml steps=200",
    ),
}


def quadratic_settings_table(runs: dict[str, tuple[str, dict]]) -> str:
    """One row per setting (``runs``: its name -> (command, results)): the learned optimizer's
    mean summed loss, the best tuned baseline's, and their ratio."""
    lines = [
        "| setting | command | LSTM | best baseline | ratio |",
        "|---|---|---|---|---|",
    ]
    for name, (command, data) in runs.items():
        ((_, c),) = _panels_of(data)
        best = c.best_baseline()
        assert best is not None, f"{name}: no tuned baseline to compare with"
        ((learned, ratio),) = c.ratios_to_best_baseline().items()
        mine = next(r for r in c.results if r.name == learned)
        lines.append(
            f"| {name} | `{command}` | {mine.mean_summed_loss:.4g} | "
            f"{best.mean_summed_loss:.4g} ({best.name}) | {ratio:.3f} |"
        )
    return "\n".join(lines)


#: Each documented table made from one results file: its name -> (committed results, page, how
#: the table is made from them).
DOCUMENTED = {
    "generalization-matrix": (MATRIX_RESULTS, MATRIX_PAGE, matrix_table),
    "mnist-generalization": (MNIST_RESULTS, MNIST_PAGE, settings_table_of),
    "quadratic-baselines": (
        "docs/results/quadratic_baselines.json",
        "docs/quadratics.md",
        comparison_table_of,
    ),
    "quadratic-lstm-eval": (
        "docs/results/quadratic_lstm_eval.json",
        "docs/quadratics.md",
        comparison_table_of,
    ),
}


def documented_tables(root: Path) -> dict[str, str]:
    """The tables of ``l2l evaluate`` runs that docs/learned_mlp.md, docs/mnist.md and
    docs/quadratics.md show, by name, made from the committed results under ``root``."""
    import json

    def read(path: str) -> dict:
        return json.loads((root / path).read_text())

    tables = {name: table(read(results)) for name, (results, _, table) in DOCUMENTED.items()}
    tables["quadratic-settings"] = quadratic_settings_table(
        {name: (command, read(path)) for name, (path, command) in QUADRATIC_SETTINGS.items()}
    )
    return tables


def write_docs(name: str, results: Path, root: Path) -> list[Path]:
    """Commits a run for a documented table: ``name`` is a key of :data:`DOCUMENTED` or of
    :data:`QUADRATIC_SETTINGS`; the run's ``results.json`` is compacted into that table's
    committed results file, and the pages' tables are rewritten; returns the pages that
    changed."""
    import json

    from l2l.experiments import benchmark

    if name in DOCUMENTED:
        path, page, _ = DOCUMENTED[name]
    else:
        path, page = QUADRATIC_SETTINGS[name][0], "docs/quadratics.md"
    data = compact(json.loads(Path(results).read_text()))
    (root / path).write_text(json.dumps(data, indent=1) + "\n")
    return benchmark.fill_pages([root / page], documented_tables(root))
