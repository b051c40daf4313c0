"""The report of ``l2l short-horizon`` (:mod:`l2l.experiments.short_horizon`): what each run
and problem adds up to (traces, peaks, rises), the tables and the figure."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from l2l import plots
from l2l.experiments.report import Stats, jsonable, number, write_report

# --------------------------------------------------------------------------- the report


@dataclasses.dataclass
class Run:
    """One method from one initial (or fixed) step size, over the problem's seeds."""

    method: str
    mode: str  # 'fixed', 'forward' (one-step) or 'run'
    discount: float | None  # mu of mode 'run'
    alpha0: float  # the initial step size (the fixed one for mode 'fixed')
    alpha0_multiple: float  # alpha0 / the tuned fixed step size
    final_loss: Stats  # the training loss after the last update
    final_learning_rate: Stats  # the step size of the last update
    learning_rate_trace: list[float]  # geometric mean over seeds, at the problem's trace steps
    loss_trace: list[float]  # mean over seeds, at the trace steps (see Problem.loss_trace_is)
    peak_learning_rate: float  # the largest geometric-mean step size of the run
    peak_step: int  # the update (1-based) where it was reached
    below_tenth_from: int | None  # first update after the peak with geometric mean < alpha*/10
    loss_rise: float  # the loss trace's largest value over its lowest before it (1: never rose)
    guarded: int  # divergence-guard cuts, summed over seeds
    skipped: int  # non-finite hyper-steps skipped, summed over seeds and levels
    seconds: float  # wall time of the method's runs (compilation included) per initial step size


@dataclasses.dataclass
class Greedy:
    """Wu et al.'s greedy-optimal schedule on the noisy quadratic, in expectation (no seeds)."""

    final_loss: float  # E[L] after the last step
    final_learning_rate: float
    learning_rate_trace: list[float]  # at the trace steps
    loss_trace: list[float]


@dataclasses.dataclass
class Problem:
    """One problem: the tuning grid, the tuned fixed step size and every run."""

    name: str  # 'quadratic' or 'mnist'
    description: str
    steps: int
    seeds: int
    loss_trace_is: str  # what the loss traces hold
    trace_steps: list[int]  # 1-based update counts where the traces are read
    grid: list[float]  # the fixed step sizes tried
    grid_final_loss: list[float]  # mean over seeds of each; inf where a seed diverged
    best_learning_rate: float  # alpha*: the grid's lowest mean final loss
    at_grid_edge: bool  # alpha* is the grid's first or last value (widen the grid)
    runs: list[Run]  # runs[0]: fixed at alpha*; then each method from each alpha0
    greedy: Greedy | None  # the noisy quadratic only
    grid_expected_loss: list[float] | None  # the noisy quadratic: E[L_T] of each grid value
    expected_best: dict[str, float] | None  # the noisy quadratic: the fixed step size of least
    #   E[L_T] on a fine log grid over the same range ('learning_rate', 'loss'), closed form
    seconds: float

    @property
    def fixed(self) -> Run:
        return self.runs[0]


@dataclasses.dataclass
class Report:
    config: Any  # the experiment's Config (its own module imports this one)
    problems: dict[str, Problem]  # by name
    data: str | None  # where the MNIST splits came from
    device: str
    minutes: float


# --------------------------------------------------------------------------- the runs' numbers


def trace_steps(steps: int, points: int) -> np.ndarray:
    """``points`` update counts (1-based) spread evenly over 1..steps, the last one included."""
    return np.unique(np.linspace(1, steps, min(points, steps)).round().astype(int))


def _geometric_mean(values: np.ndarray, axis: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(np.mean(np.log(values), axis=axis))


def _windowed_mean(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Mean of ``values[..., s:t]`` over each window (previous trace step, trace step]."""
    starts = np.concatenate([[0], at[:-1]])
    return np.stack([values[..., s:t].mean(axis=-1) for s, t in zip(starts, at)], axis=-1)


def finite_or_inf(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, np.float64)
    return np.where(np.isfinite(values), values, np.inf)


def largest_rise(trace) -> float:
    """``max_t trace[t] / min_{s < t} trace[s]``: how far a loss curve climbed back above its best
    so far (a spike of a near-divergence); 1 if it never rose, inf if it became non-finite."""
    trace = np.asarray(trace, np.float64)
    if trace.size < 2:
        return 1.0
    best_before = np.minimum.accumulate(trace)[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.isfinite(trace[1:]), trace[1:] / best_before, np.inf)
    return float(max(1.0, np.max(ratio)))


def run_of(
    method: Any,  # the experiment's Method
    out: dict[str, np.ndarray],
    index: int,
    alpha0: float,
    best: float,
    at: np.ndarray,
    seconds: float,
) -> Run:
    """The Run of step size ``index`` of ``trajectories``' output."""
    lr = out["learning_rate"][index].astype(np.float64)  # (seeds, steps)
    lr_trace = _geometric_mean(lr, axis=0)
    if "training_loss" in out:
        loss_trace = np.mean(finite_or_inf(out["training_loss"][index]), axis=0)[at - 1]
    else:
        windows = _windowed_mean(finite_or_inf(out["minibatch_loss"][index]), at)
        loss_trace = np.mean(windows, axis=0)
    peak = int(np.nanargmax(lr_trace))
    below = np.flatnonzero(lr_trace[peak:] < best / 10)
    return Run(
        method=method.name,
        mode=method.mode,
        discount=method.discount if method.mode == "run" else None,
        alpha0=float(alpha0),
        alpha0_multiple=float(alpha0 / best),
        final_loss=Stats.of(finite_or_inf(out["final_loss"][index])),
        final_learning_rate=Stats.of(lr[:, -1]),
        learning_rate_trace=lr_trace[at - 1].tolist(),
        loss_trace=loss_trace.tolist(),
        peak_learning_rate=float(lr_trace[peak]),
        peak_step=peak + 1,
        below_tenth_from=int(peak + below[0] + 1) if below.size else None,
        loss_rise=largest_rise(loss_trace),
        guarded=int(np.sum(out["guarded"][index])),
        skipped=int(np.sum(out["skipped"][index])),
        seconds=seconds,
    )


def print_progress(problem: str, run: Run) -> None:
    """One line per finished run."""
    print(
        f"{problem}: {run.method} from alpha0 = {run.alpha0:.3g}: final loss "
        f"{run.final_loss.mean:.4g} ± {run.final_loss.sd:.2g}, final alpha "
        f"{_geometric_mean(np.asarray(run.final_learning_rate.per_seed), 0):.3g}",
        flush=True,
    )


# --------------------------------------------------------------------------- reporting


def format_problem(problem: Problem) -> str:
    """One problem's table as markdown, with its headline lines above it."""
    best, fixed = problem.best_learning_rate, problem.fixed
    grid = problem.grid
    lines = [
        f"### {problem.name}: {problem.description}; {problem.steps} steps, {problem.seeds} seeds",
        "",
        f"tuned fixed step size α* = {number(best)} (grid {number(grid[0])}–{number(grid[-1])}, "
        f"{len(grid)} values{', at its edge' if problem.at_grid_edge else ''}): final training "
        f"loss {number(fixed.final_loss.mean)} ± {number(fixed.final_loss.sd)}",
    ]
    if problem.expected_best is not None:
        e = problem.expected_best
        lines.append(
            f"in expectation (closed form), the best fixed step size is "
            f"{number(e['learning_rate'])}, E[L] = {number(e['loss'])}"
        )
    if problem.greedy is not None:
        g = problem.greedy
        lines.append(
            f"Wu et al.'s greedy schedule, in expectation: final loss {number(g.final_loss)}, "
            f"final α {number(g.final_learning_rate)}"
        )
    lines += [
        "",
        "| method | α0 (× α*) | final training loss (mean ± sd) | ÷ tuned fixed | peak α (step) "
        "| final α (geo. mean) | final α / α* | α < α*/10 from step | largest loss rise "
        "| guard cuts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in problem.runs:
        final_alpha = float(_geometric_mean(np.asarray(r.final_learning_rate.per_seed), 0))
        ratio = r.final_loss.mean / fixed.final_loss.mean
        learned = r.mode != "fixed"
        peak = f"{number(r.peak_learning_rate)} ({r.peak_step})" if learned else "—"
        below = "—" if r.below_tenth_from is None else str(r.below_tenth_from)
        lines.append(
            f"| {r.method} | {number(r.alpha0)} ({r.alpha0_multiple:g}) "
            f"| {number(r.final_loss.mean)} ± {number(r.final_loss.sd)} | {number(ratio)} "
            f"| {peak} | {number(final_alpha)} | {number(final_alpha / best)} | {below} "
            f"| {number(r.loss_rise)}× | {r.guarded if learned else '—'} |"
        )
    return "\n".join(lines)


def summary(report: Report) -> str:
    """Every problem's table and how long it all took."""
    tables = "\n\n".join(format_problem(p) for p in report.problems.values())
    notes = (
        "α: the step size (geometric mean over seeds); largest loss rise: the loss curve's "
        "largest value over its lowest before it (a spike of a near-divergence)"
    )
    return f"{tables}\n\n{notes}\n\n{report.minutes:.1f} min on {report.device}"


def write(report: Report, output_dir: str | Path) -> list[Path]:
    """``results.json``, ``table.md``, ``short_horizon.png`` and ``config.yaml``."""

    def figures(out: Path) -> list[Path]:
        png = plots.short_horizon_traces(
            [jsonable(p) for p in report.problems.values()],
            out / "short_horizon.png",
            title="Short-horizon bias: SGD's step size learned by one-step vs whole-run "
            "hypergradients, against the tuned fixed step size α*",
        )
        return [png]

    return write_report(report, output_dir, texts={"table.md": summary(report)}, figures=figures)


# --------------------------------------------------------------------------- documented results

#: The committed results of ``configs/short_horizon.yaml`` that docs/hyperoptimizers.md shows.
RESULTS = "docs/results/short_horizon.json"
_PROBLEM_LABELS = {"quadratic": "noisy quadratic", "mnist": "MNIST MLP"}


def bias_table(data: dict) -> str:
    """The short-horizon bias in one table, from a ``results.json``: per problem and learned
    method, the final training loss over the tuned fixed step size's when started at α* (the
    lowest of each problem in bold), and its range over every initial step size in brackets."""
    problems = data["problems"]
    methods: list[str] = []
    for problem in problems.values():
        for run in problem["runs"][1:]:
            if run["method"] not in methods:
                methods.append(run["method"])
    header = [m.replace("whole run, μ=", "μ = ") for m in methods]
    lines = [
        "| final training loss ÷ tuned fixed (α0 = α*; range over α0 in brackets) | "
        + " | ".join(header)
        + " |",
        "|---|" + "---|" * len(methods),
    ]
    for name, problem in problems.items():
        fixed = problem["runs"][0]["final_loss"]
        ratios: dict[str, dict[float, float]] = {m: {} for m in methods}
        for run in problem["runs"][1:]:
            ratios[run["method"]][run["alpha0_multiple"]] = (
                run["final_loss"]["mean"] / fixed["mean"]
            )
        at_tuned = {m: ratios[m].get(1.0) for m in methods}
        lowest = min(x for x in at_tuned.values() if x is not None)
        cells = []
        for m in methods:
            values = list(ratios[m].values())
            if not values:
                cells.append("—")
                continue
            tuned = at_tuned[m]
            head = "—" if tuned is None else number(tuned)
            if tuned == lowest:
                head = f"**{head}**"
            cells.append(f"{head} [{number(min(values))}-{number(max(values))}]")
        label = _PROBLEM_LABELS.get(name, name)
        lines.append(
            f"| {label} (fixed: {number(fixed['mean'])} ± {number(fixed['sd'])}) | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def documented_tables(root: Path) -> dict[str, str]:
    """The short-horizon table docs/hyperoptimizers.md shows, from the committed results."""
    import json

    return {"short-horizon": bias_table(json.loads((root / RESULTS).read_text()))}
