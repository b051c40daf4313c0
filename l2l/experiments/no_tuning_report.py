"""The report of ``l2l no-tuning`` (:mod:`l2l.experiments.no_tuning`): numbers, tables, figure."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from l2l import plots
from l2l.experiments.report import Stats, jsonable, mean_sd, number, stats_of, write_report
from l2l.experiments.starts import TUNED, ContenderConfig, tuned_adam
from l2l.specs import StackSpec


@dataclasses.dataclass
class Cell:
    """The runs of one contender from one start, one per seed."""

    start: str  # "default", or the multiplier as text ("0.001")
    multiplier: float | None  # None for the default start
    value: float | None  # the swept argument's value (None: not passed, the optimizer's default)
    test_error: Stats  # % of the test split misclassified
    train_loss: Stats  # cross-entropy on the whole training split at the end (inf: diverged)
    validation_loss: Stats
    gap: Stats | None  # test error minus tuned Adam's, seed by seed (points)
    diverged: int  # seeds whose final training loss is not finite
    step_size: Stats | None  # the step size of the last update, where the optimizer has one
    step_size_trace: list[float] | None  # its median over seeds at each tenth of the run
    guard_cuts: Stats | None  # stacks: how often the divergence guard cut the bottom step size
    skipped: Stats | None  # stacks: the bottom's hyper-steps skipped (non-finite hypergradient)
    loss_curve: list[float]  # mean minibatch loss of each tenth of the run (mean over seeds)

    @property
    def median_train_loss(self) -> float:
        return float(np.median(self.train_loss.per_seed))


@dataclasses.dataclass
class Result:
    """One contender: its default start, its bad starts and what they add up to."""

    __json_extra__ = ("median_time_ratio", "rule", "levels", "mode")

    name: str
    contender: ContenderConfig
    family: str
    reference_value: float | None  # what the multipliers multiply
    default: Cell
    starts: list[Cell]  # one per multiplier (none when not swept)
    worst_test_error: float  # the highest mean test error over the default and all starts
    worst_start: str
    test_error_range: float | None  # max - min of the starts' mean test errors (points)
    spread_decades: float | None  # log10(max / min) of the starts' finite median train losses
    diverged_starts: int  # starts whose median final training loss is not finite
    seconds: float
    ms_per_step: float | None = None  # fastest timed run
    time_ratio: Stats | None = None  # paired ratios to plain Adam's time, one per repeat

    @property
    def median_time_ratio(self) -> float | None:
        """The median of the paired ratios (robust to a shared CPU's load)."""
        return None if self.time_ratio is None else float(np.median(self.time_ratio.per_seed))

    @property
    def rule(self) -> str:
        """The contender's rule or factory (a stack's bottom one)."""
        return self.contender.rule

    @property
    def levels(self) -> list[str]:
        """A stack's rules, bottom first (empty for other optimizers)."""
        spec = self.contender.optimizer
        return [level.optimizer for level in spec.levels] if isinstance(spec, StackSpec) else []

    @property
    def mode(self) -> str | None:
        """A stack's hypergradient mode."""
        spec = self.contender.optimizer
        return spec.mode if isinstance(spec, StackSpec) else None


@dataclasses.dataclass
class Tuning:
    """One plain optimizer's tuning grid."""

    optimizer: str
    grid: list[float]
    validation_loss: list[float]  # mean over the tuning seeds, one per step size
    train_loss: list[float]
    metric: str
    best: float
    at_edge: bool  # the best step size is an end of the grid: widen the grid


@dataclasses.dataclass
class Report:
    config: Any  # the experiment's Config (its own module imports this one)
    data: str
    num_train: int
    num_validation: int
    num_test: int
    steps: int
    device: str
    tuning: dict[str, Tuning]
    results: list[Result]
    most_robust: str | None
    timing_minutes: float
    minutes: float
    compile_minutes: float = 0.0  # the runner's first calls of its programs (compiling included)


def tuned_adam_cell(results: list[Result]) -> Cell:
    """Tuned Adam's runs: the m = 1 start of the reference contender."""
    name = tuned_adam(tuple(r.contender for r in results)).name
    result = next(r for r in results if r.name == name)
    return next(c for c in result.starts if c.multiplier == 1.0)


def add_gaps(results: list[Result]) -> None:
    """Every cell's test error minus tuned Adam's, seed by seed."""
    reference = np.asarray(tuned_adam_cell(results).test_error.per_seed)
    for result in results:
        for cell in [result.default, *result.starts]:
            cell.gap = Stats.of(np.asarray(cell.test_error.per_seed) - reference)


def most_robust(results: list[Result]) -> str | None:
    """The swept contender with the lowest worst-case test error over its default and starts."""
    swept = [r for r in results if r.starts]
    return min(swept, key=lambda r: r.worst_test_error).name if swept else None


# --------------------------------------------------------------------------- reporting


def _loss(cell: Cell) -> str:
    if cell.diverged == len(cell.train_loss.per_seed):
        return "diverged"
    stats = cell.train_loss
    huge = abs(stats.mean) >= 1e4  # a run that blew up without overflowing: say how far
    text = f"{stats.mean:.3g} ± {stats.sd:.3g}" if huge else mean_sd(stats, 3)
    return text + (f" ({cell.diverged} diverged)" if cell.diverged else "")


def print_progress(result: Tuning | Result) -> None:
    """One line per tuned optimizer and per finished contender."""
    if isinstance(result, Tuning):
        edge = " (at the edge of the grid: widen it)" if result.at_edge else ""
        print(f"tuned {result.optimizer}: α* = {number(result.best)}{edge}", flush=True)
        return
    line = f"{result.name}: at its defaults {mean_sd(result.default.test_error)} % test error"
    if result.starts:
        line += f", worst over starts {result.worst_test_error:.2f} % (start {result.worst_start})"
    print(f"{line} ({result.seconds:.0f}s)", flush=True)


def _time(result: Result) -> str:
    """The median of the paired ratios to plain Adam's time, and the fastest time per step."""
    if result.time_ratio is None:
        return "—"
    return f"{result.median_time_ratio:.2f}× ({result.ms_per_step:.2f} ms)"


def format_table(report: Report) -> str:
    """Table 1: each contender at its defaults, over the bad starts, and its time per step."""
    cfg = report.config
    starts = ", ".join(f"{m:g}" for m in cfg.multipliers)
    header = (
        f"| optimizer | test error % at its defaults ({cfg.seeds} seeds) | train loss "
        f"| gap to tuned Adam (points) | worst test error % over defaults and starts m ∈ "
        f"{{{starts}}} | range of test error over starts (points) | spread of train loss over "
        "starts (decades) | time / step vs Adam |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for name in TUNED:
        plain = next(
            (
                r
                for r in report.results
                if r.family == "plain"
                and r.rule == name
                and r.contender.source == name
                and r.starts
            ),
            None,
        )
        if plain is None:
            continue
        cell = next(c for c in plain.starts if c.multiplier == 1.0)
        lines.append(
            f"| {plain.name}, tuned (α* = {number(report.tuning[name].best)}) "
            f"| {mean_sd(cell.test_error)} | {_loss(cell)} "
            f"| {cell.gap.mean:+.2f} ± {cell.gap.sd:.2f} | — | — | — | {_time(plain)} |"
        )
    for r in report.results:
        d = r.default
        worst = f"{r.worst_test_error:.2f} ({r.worst_start})" if r.starts else "—"
        spread = "—"
        if r.starts:
            spread = "—" if r.spread_decades is None else f"{r.spread_decades:.2f}"
            if r.diverged_starts:
                spread += f", {r.diverged_starts} diverged"
        value = "" if d.value is None else f" ({r.contender.sweep} = {number(d.value)})"
        rng = "—" if r.test_error_range is None else f"{r.test_error_range:.2f}"
        lines.append(
            f"| {r.name}{value} | {mean_sd(d.test_error)} | {_loss(d)} "
            f"| {d.gap.mean:+.2f} ± {d.gap.sd:.2f} | {worst} | {rng} | {spread} | {_time(r)} |"
        )
    return "\n".join(lines)


def format_starts(report: Report) -> str:
    """Table 2: test error % (mean ± sd) of every contender from every start."""
    multipliers = report.config.multipliers
    header = "| optimizer | swept argument (× reference) | " + " | ".join(
        f"m = {m:g}" for m in multipliers
    )
    lines = [header + " |", "|---|---|" + "---|" * len(multipliers)]
    for r in report.results:
        if not r.starts:
            continue
        what = f"{r.contender.sweep} (× {number(r.reference_value)})"
        cells = []
        for cell in r.starts:
            text = mean_sd(cell.test_error)
            if cell.diverged:
                text += f" ({cell.diverged}/{len(cell.train_loss.per_seed)} diverged)"
            if cell.skipped is not None and cell.skipped.mean > 0:
                text += f" [{cell.skipped.mean:.0f} hyper-steps skipped]"
            cells.append(text)
        lines.append(f"| {r.name} | {what} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def conclusion(report: Report) -> str:
    """Which contender is most robust, and at what cost, in words."""
    if report.most_robust is None:
        return "No contender was swept over bad starts."
    adam = tuned_adam_cell(report.results)
    best = next(r for r in report.results if r.name == report.most_robust)
    cost = (
        "" if best.time_ratio is None else f", at {best.median_time_ratio:.2f}× plain Adam's time"
    )
    text = (
        f"Most robust: {best.name}: its worst test error over its defaults and every start is "
        f"{best.worst_test_error:.2f} % (start {best.worst_start}); tuned Adam scores "
        f"{adam.test_error.mean:.2f} %. At its defaults it scores "
        f"{best.default.test_error.mean:.2f} % ({best.default.gap.mean:+.2f} points vs tuned "
        f"Adam){cost} per step, with no tuning "
        f"runs (tuned Adam took {len(report.tuning['adam'].grid)} step sizes x "
        f"{report.config.tuning.seeds} seeds)."
    )
    for family in ("stack", "parameter-free", "plain"):
        members = [r for r in report.results if r.family == family and r.starts]
        if members:
            top = min(members, key=lambda r: r.worst_test_error)
            text += f"\nBest {family}: {top.name} (worst {top.worst_test_error:.2f} %)."
    return text


def summary(report: Report) -> str:
    """The tuning line, both tables, the conclusion and how long it took."""
    tuned = "; ".join(
        f"{name} α* = {number(t.best)}" + (" (grid edge!)" if t.at_edge else "")
        for name, t in report.tuning.items()
    )
    metric = report.config.tuning.metric.replace("_", " ")
    return (
        f"{report.data}\n{report.steps} steps of minibatches of {report.config.task.batch_size}; "
        f"tuned by final {metric}: {tuned}\n\n{format_table(report)}\n\n"
        f"Test error % from each start (swept argument = m × reference):\n\n"
        f"{format_starts(report)}\n\n{conclusion(report)}\n\n{report.minutes:.1f} min "
        f"(timing {report.timing_minutes:.1f} min)"
    )


def write(report: Report, output_dir: str | Path) -> list[Path]:
    """``results.json``, ``table.md``, ``robustness.png`` and ``config.yaml``."""
    table = f"{format_table(report)}\n\n{format_starts(report)}\n\n{conclusion(report)}"
    adam = tuned_adam_cell(report.results)
    task = report.config.task
    title = (
        f"{task.dataset}, {task.kind} ({report.num_train:,} training images), {report.steps} "
        f"steps of {task.batch_size}; median and range of {report.config.seeds} seeds"
    )

    def figures(out: Path) -> list[Path]:
        figure = plots.no_tuning_robustness(
            jsonable(report.results),
            out / "robustness.png",
            multipliers=list(report.config.multipliers),
            reference={
                "train_loss": adam.median_train_loss,
                "test_error": adam.test_error.mean,
                "step_sizes": {name: t.best for name, t in report.tuning.items()},
            },
            title=title,
        )
        return [figure]

    return write_report(report, output_dir, texts={"table.md": table}, figures=figures)


# --------------------------------------------------------------------------- the committed results


#: A cell's fields that are per-seed numbers (:class:`Stats`, or None).
_CELL_STATS = (
    "test_error",
    "train_loss",
    "validation_loss",
    "gap",
    "step_size",
    "guard_cuts",
    "skipped",
)


def cell_of(data: dict) -> Cell:
    """A cell read back from its JSON."""
    fields = {f.name for f in dataclasses.fields(Cell)}
    values = {k: v for k, v in data.items() if k in fields}
    for name in _CELL_STATS:
        values[name] = stats_of(values.get(name))
    return Cell(**values)
