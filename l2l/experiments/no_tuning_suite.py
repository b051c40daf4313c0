r"""``l2l no-tuning-suite``: does an optimizer that tunes itself keep its promise on every task of
the benchmark suite, from any start? (``configs/no_tuning_suite.yaml``; ``docs/no_tuning_suite.md``)

Chandra et al. (2022) promise that a hyperoptimizer stack makes training insensitive to the
initial step size; the parameter-free optimizers of ``optax.contrib`` promise the same another
way. :mod:`l2l.experiments.no_tuning` checks that on one Fashion-MNIST MLP; this study asks it of
every task of the benchmark suite (:mod:`l2l.experiments.benchmark`), with the benchmark's own
numbers as the reference:

* **Starts.** Each contender (``contenders``, :class:`l2l.experiments.starts.ContenderConfig`)
  runs from its swept argument set to :math:`m \times` its reference for every ``multipliers``
  :math:`m` (default :math:`10^{-3}, 10^{-2}, 0.1, 1, 10`): a stack's bottom step size or plain
  Adam's from :math:`m\,\alpha^*_{\text{Adam}}` (tuned Adam's step size on that task, read from
  the benchmark's committed ``baselines_file``), SGD / SGD from :math:`m\,\alpha^*_{\text{SGD}}`,
  Prodigy's initial step-size estimate :math:`d_0` from :math:`m\,\alpha^*_{\text{Adam}}`,
  schedule-free AdamW's step size from :math:`m\,\alpha^*_{\text{Adam}}`.
* **Runs.** On the benchmark's reported instances (the same ``seeds`` keys as tuned Adam's
  committed runs, so every comparison is paired), the benchmark's horizons; the five starts of a
  contender on a task are one program of the sweep runner (a value axis over the seeds).
* **Numbers.** Per (task, start) pair and seed: the final training loss (the mean of the last 5 %
  of the steps; for schedule-free AdamW at its averaged point) over tuned Adam's mean final loss
  (the benchmark's normalized loss); a pair keeps the promise when its mean over the seeds is at
  most ``within`` (1.5). Per contender: the share of (task, start) pairs that keep it, with a
  95 % stratified-bootstrap interval over seeds (``rliable``: seeds resampled within each pair),
  the same share per start, and how many runs ended above their starting loss. A figure shows
  the learned step sizes beside tuned Adam's constant step and tuned warmup + cosine Adam's
  schedule.

Each contender's runs on a task are saved under ``output_dir/runs/`` as they finish; a run that
stops resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from l2l import _atomic, sweep, unroll
from l2l.config import field, to_dict
from l2l.experiments import benchmark
from l2l.experiments import benchmark_metrics as metrics
from l2l.experiments.benchmark import slug
from l2l.experiments.benchmark_suite import (
    DEFAULT_SUITE,
    SuiteTask,
    final_losses,
    run_keys,
    with_data_dir,
)
from l2l.experiments.report import jsonable, number, write_report
from l2l.experiments.starts import ContenderConfig
from l2l.specs import LevelSpec, OptaxSpec, OptimizerSpec, StackSpec

__all__ = ["Config", "Report", "run", "summary", "write"]


def _stack(
    bottom: str,
    top: str,
    mode: str = "forward",
    rollback: float | None = None,
    **initial: float,
) -> StackSpec:
    """``bottom`` (its ``initial`` hyperparameters) under ``top``, each at its defaults;
    ``mode: run`` with l2l's documented whole-run discount, 0.99; ``rollback``: the loss
    guard's ratio."""
    levels = (LevelSpec(bottom, initial), LevelSpec(top))
    discount = 0.99 if mode == "run" else 1.0
    return StackSpec(levels=levels, mode=mode, discount=discount, rollback=rollback)


DEFAULT_CONTENDERS = (
    ContenderConfig("Adam", OptaxSpec(name="adam"), sweep="learning_rate", reference="adam"),
    ContenderConfig("Adam / SGD", _stack("adam", "sgd"), reference="adam"),
    ContenderConfig("AdamW / SGD", _stack("adamw", "sgd", learning_rate=1e-3), reference="adam"),
    ContenderConfig("SGD / SGD", _stack("sgd", "sgd"), reference="sgd"),
    ContenderConfig("Adam / SGD, whole run", _stack("adam", "sgd", "run"), reference="adam"),
    ContenderConfig("SGD / SGD, whole run", _stack("sgd", "sgd", "run"), reference="sgd"),
    ContenderConfig(
        "Adam / SGD, loss guard", _stack("adam", "sgd", rollback=2.0), reference="adam"
    ),
    ContenderConfig("SGD / SGD, loss guard", _stack("sgd", "sgd", rollback=2.0), reference="sgd"),
    ContenderConfig(
        "SGD / SGD, whole run, loss guard",
        _stack("sgd", "sgd", "run", rollback=2.0),
        reference="sgd",
    ),
    ContenderConfig("Prodigy, d0 = m α*", OptaxSpec(name="prodigy"), "estim_lr0", "adam"),
    ContenderConfig(
        "Schedule-free AdamW, α = m α*",
        OptaxSpec(name="schedule_free_adamw"),
        sweep="learning_rate",
        reference="adam",
    ),
)

#: The benchmark's tuned baselines whose step sizes a contender's starts may refer to.
REFERENCES = {"adam": benchmark.ADAM, "sgd": "SGD"}
#: Points kept of each start's step-size trace (median over seeds), from the first step to the last.
TRACE_POINTS = 21


@dataclasses.dataclass(frozen=True)
class Config:
    """``configs/no_tuning_suite.yaml``; the suite, its tuned baselines and its reported instances
    are the benchmark's (``seed``, ``seeds``, ``tuning_seeds`` must be those the baselines file
    was made with)."""

    contenders: tuple[ContenderConfig, ...] = DEFAULT_CONTENDERS
    suite: tuple[SuiteTask, ...] = DEFAULT_SUITE  # the benchmark's
    baselines: tuple[benchmark.TunedBaseline, ...] = benchmark.DEFAULT_BASELINES  # the benchmark's
    multipliers: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
    within: float = field(1.5, gt=1, help="a run keeps the promise within this x tuned Adam")
    only: tuple[str, ...] = ()
    quick: bool = False
    seed: int = 0
    seeds: int = field(5, ge=1)
    tuning_seeds: int = field(2, ge=1)
    baselines_file: str = benchmark.BASELINES_RESULTS
    data_dir: str | None = None
    trace_tasks: tuple[str, ...] = (
        "quadratic-50d-ill",
        "mlp-fashion-wide-relu",
        "conv-fashion",
        "rnn-markov-wide",
    )
    trace_contender: str = "Adam / SGD"
    bootstrap_reps: int = field(2000, ge=100)
    output_dir: str = "runs/no_tuning_suite"

    def __post_init__(self) -> None:
        names = [c.name for c in self.contenders]
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            raise ValueError(f"contenders: names must be unique, {doubles} repeat")
        for c in self.contenders:
            if c.sweep is None or c.source not in REFERENCES:
                raise ValueError(
                    f"contender {c.name!r}: its starts must multiply a tuned step size "
                    f"(reference: {' or '.join(REFERENCES)}), not {c.source!r}"
                )
        if not self.multipliers or min(self.multipliers) <= 0:
            raise ValueError(f"multipliers: give positive multipliers, not {self.multipliers}")
        labels = {b.label for b in self.baselines}
        missing = sorted({REFERENCES[c.source] for c in self.contenders} - labels)
        if missing:
            raise ValueError(f"baselines: the starts multiply tuned {missing}; keep them")
        suite = {t.name for t in self.benchmark().suite}
        unknown = [n for n in self.trace_tasks if n not in suite]
        if unknown:
            raise ValueError(f"trace_tasks: {unknown} are not tasks of the suite")
        if self.trace_contender not in names:
            raise ValueError(f"trace_contender: {self.trace_contender!r} is not a contender")

    def benchmark(self) -> benchmark.Config:
        """The benchmark's config these runs share (its suite, baselines and instances)."""
        return benchmark.Config(
            optimizers=(),
            suite=self.suite,
            baselines=self.baselines,
            only=self.only,
            quick=self.quick,
            seed=self.seed,
            seeds=self.seeds,
            tuning_seeds=self.tuning_seeds,
            baselines_file=self.baselines_file,
            data_dir=self.data_dir,
        )


# --------------------------------------------------------------------------- the runs


def _scored_elsewhere(spec: OptimizerSpec) -> bool:
    """Whether ``spec`` scores a run at other parameters than its iterate (schedule-free's
    averaged point)."""
    from l2l.specs.optax_factory import EVAL_PARAMS

    return isinstance(spec, OptaxSpec) and spec.name.removeprefix("contrib.") in EVAL_PARAMS


@dataclasses.dataclass(frozen=True)
class StartRun:
    """The sweep runner's recorder of this study: the loss curve (at the scored parameters), and
    the step size of each update where the optimizer has one (:data:`TRACE_POINTS` of them)."""

    steps: int

    def observe(self, run: sweep.RunContext, state: unroll.UnrollState) -> Any:
        reader = run.spec.step_size(run.values)
        step = () if reader is None else reader(state.opt_state)
        if not _scored_elsewhere(run.spec):
            return step, ()
        params = run.spec.eval_params(state.opt_state, state.params)
        key = unroll.step_key(run.stream_key, state.step)
        return step, run.task.loss(params, run.instance, key)

    def record(
        self, run: sweep.RunContext, state: unroll.UnrollState, losses: jax.Array, observed: Any
    ) -> dict[str, jax.Array]:
        trace, scored = observed
        out = sweep.LOSS_CURVE.record(run, state, losses, ())
        if _scored_elsewhere(run.spec):  # f at the scored point after steps 1..T (and theta_0)
            out["curve"] = jnp.concatenate([out["curve"][:1], scored])
        if run.spec.step_size(run.values) is not None:
            out["step_size"] = trace[trace_steps(self.steps)]
        return out


def trace_steps(steps: int) -> np.ndarray:
    """The updates (0-based) whose step size a trace keeps: :data:`TRACE_POINTS` from the first
    to the last."""
    return np.unique(np.round(np.linspace(0, steps - 1, TRACE_POINTS)).astype(int))


def run_contender(
    contender: ContenderConfig,
    task: Any,
    keys: jax.Array,
    steps: int,
    reference: float,
    multipliers: tuple[float, ...],
    runner: sweep.Runner,
) -> dict:
    """Every start of one contender on one task: per start, each seed's starting and final loss,
    and the median step-size trace over the seeds (where the optimizer has a step size)."""
    swept = contender.sweep
    assert swept is not None  # Config refuses a contender without starts
    values = np.asarray([m * reference for m in multipliers], np.float32)
    out = runner.run(
        contender.optimizer, task, keys, steps, {swept: values}, recorder=StartRun(steps)
    )
    curves = np.asarray(out["curve"], np.float64)  # (starts, seeds, steps + 1)
    finals = final_losses(curves, steps)
    starts = []
    for v, m in enumerate(multipliers):
        start: dict[str, Any] = {
            "multiplier": m,
            "value": float(values[v]),
            "start_loss": [float(x) for x in curves[v, :, 0]],
            "final_loss": [float(x) for x in finals[v]],
        }
        if "step_size" in out:
            trace = np.asarray(out["step_size"][v], np.float64)
            with warnings.catch_warnings():  # a step size that went non-finite in every seed
                warnings.simplefilter("ignore", RuntimeWarning)
                start["step_size"] = np.nanmedian(trace, axis=0).tolist()
        starts.append(start)
    return {"reference": reference, "starts": starts}


def compact(runs: dict) -> dict:
    """``runs`` as the results file keeps them: a step-size trace at four significant digits (it
    is drawn, not computed with), and none where the step size stayed the value it started at
    (a plain optimizer's fixed step size)."""
    starts = []
    for start in runs["starts"]:
        start = dict(start)
        trace = np.asarray(start.pop("step_size", []), np.float64)
        if trace.size and not np.allclose(trace, trace[0], rtol=1e-6, atol=0.0):
            start["step_size"] = [float(f"{x:.4g}") for x in trace]
        starts.append(start)
    return {**runs, "starts": starts}


@dataclasses.dataclass
class Share:
    """A share of (task, start) pairs and its 95 % stratified-bootstrap interval over seeds."""

    value: float
    low: float
    high: float


@dataclasses.dataclass
class Summary:
    """One contender over the suite."""

    within: Share  # the share of (task, start) pairs within `within` x tuned Adam (seed-mean)
    per_start: dict[str, float]  # multiplier -> the share of tasks within
    above_start: int  # runs whose final loss is above their starting loss (or not finite)
    runs: int


@dataclasses.dataclass
class Report:
    config: Config
    tasks: list[dict]  # per task: name, family, steps, tuned step sizes, each contender's starts
    summaries: dict[str, Summary]
    seconds: dict[str, float]  # contender -> wall time of its runs


def normalized_matrix(tasks: list[dict], label: str) -> np.ndarray:
    """(seeds, tasks x starts): each run's final loss over tuned Adam's mean final loss on its
    task (the benchmark's normalized loss: a diverged run counts as its cap)."""
    columns = [
        metrics.normalized(start["final_loss"], t["adam_final_loss"])
        for t in tasks
        for start in t["contenders"][label]["starts"]
    ]
    return np.asarray(columns, np.float64).T


def summarize(tasks: list[dict], label: str, cfg: Config) -> Summary:
    """A (task, start) pair keeps the promise when its seed-mean normalized loss is at most
    ``within``; the share of pairs that do, with its 95 % stratified-bootstrap interval (seeds
    resampled within each pair)."""
    scores = normalized_matrix(tasks, label)

    def share(x: np.ndarray) -> np.ndarray:
        return np.asarray([np.mean(np.mean(x, axis=0) <= cfg.within)])

    point, interval = metrics.interval_estimates(
        {label: scores}, share, reps=cfg.bootstrap_reps, seed=cfg.seed
    )
    kept = np.mean(scores, axis=0).reshape(len(tasks), len(cfg.multipliers)) <= cfg.within
    above = runs = 0
    for t in tasks:
        for start in t["contenders"][label]["starts"]:
            first = np.asarray(start["start_loss"], np.float64)
            final = np.asarray(start["final_loss"], np.float64)
            above += int(np.sum(~np.isfinite(final) | (final > first)))
            runs += final.size
    low, high = interval[label][:, 0]
    return Summary(
        within=Share(float(point[label][0]), float(low), float(high)),
        per_start={f"{m:g}": float(np.mean(kept[:, i])) for i, m in enumerate(cfg.multipliers)},
        above_start=above,
        runs=runs,
    )


def run(cfg: Config, *, show_progress: bool = True) -> Report:
    bench = cfg.benchmark()
    suite = bench.tasks()
    data = benchmark.load_baselines(bench, suite)
    labels = [c.name for c in cfg.contenders]
    seconds = dict.fromkeys(labels, 0.0)
    tasks = []
    for task_cfg in suite:
        entry = data["tasks"][task_cfg.name]
        tuned = {
            k: entry["baselines"][label]["learning_rate"]
            for k, label in REFERENCES.items()
            if label in entry["baselines"]
        }
        cosine = entry["baselines"].get(benchmark.ADAM_COSINE)
        task_section = with_data_dir(task_cfg.task, cfg.data_dir)
        task = task_section.build()
        keys = run_keys(cfg.seed, "benchmark_reported", task_cfg.name, cfg.seeds)
        identity = benchmark.identity(bench, task_cfg)
        runner = sweep.Runner()
        result: dict[str, Any] = {
            "name": task_cfg.name,
            "family": task_cfg.family,
            "steps": task_cfg.steps,
            "adam_final_loss": float(np.mean(entry["baselines"][benchmark.ADAM]["final_loss"])),
            "tuned": tuned | ({"adam_cosine": cosine["learning_rate"]} if cosine else {}),
            "contenders": {},
        }
        for contender in cfg.contenders:
            reference = contender.reference_value(tuned)
            assert reference is not None  # Config checks every contender has one
            saved = benchmark.run_path(cfg.output_dir, contender.name, task_cfg.name)
            made_by = {
                **identity,
                "contender": to_dict(contender),
                "multipliers": list(cfg.multipliers),
                "reference": reference,
            }
            done = benchmark.read_run(saved, made_by)
            if done is not None:
                runs, spent = done
            else:
                started = time.perf_counter()
                runs = run_contender(
                    contender, task, keys, task_cfg.steps, reference, cfg.multipliers, runner
                )
                spent = time.perf_counter() - started
                benchmark.save_run(saved, made_by, runs, spent)
            seconds[contender.name] += spent
            result["contenders"][contender.name] = compact(runs)
        tasks.append(result)
        jax.clear_caches()  # a task's programs serve no other task (benchmark._release_programs)
        if show_progress:
            print(f"{task_cfg.name}: done", flush=True)
    summaries = {label: summarize(tasks, label, cfg) for label in labels}
    return Report(cfg, tasks, summaries, seconds)


# --------------------------------------------------------------------------- tables


def summary_table(data: dict) -> str:
    """Per contender: the share of (task, start) pairs within ``within`` x tuned Adam's final loss
    [95 % CI over seeds], the share per start, and the runs that ended above their starting loss;
    ``data``: the report as its JSON holds it."""
    cfg, summaries = data["config"], data["summaries"]
    starts = [f"{m:g}" for m in cfg["multipliers"]]
    lines = [
        f"| contender | (task, start) pairs within {cfg['within']:g}x tuned Adam [95% CI] | "
        + " | ".join(f"m = {s}" for s in starts)
        + " | runs ending above their start |",
        "|---|---|" + "---|" * len(starts) + "---|",
    ]
    for label, s in summaries.items():
        w = s["within"]
        share = f"{w['value']:.0%} [{w['low']:.0%}, {w['high']:.0%}]"
        per = " | ".join(f"{s['per_start'][m]:.0%}" for m in starts)
        lines.append(f"| {label} | {share} | {per} | {s['above_start']} of {s['runs']} |")
    return "\n".join(lines).replace("%", " %")


def task_table(data: dict, label: str) -> str:
    """One contender's normalized final loss per task and start (the mean over seeds, a
    diverged run counted as the cap: the number each pair is judged by)."""
    cfg = data["config"]
    starts = [f"{m:g}" for m in cfg["multipliers"]]
    lines = [
        "| task | tuned Adam's α* | " + " | ".join(f"m = {s}" for s in starts) + " |",
        "|---|---|" + "---|" * len(starts),
    ]
    for t in data["tasks"]:
        cells = []
        for start in t["contenders"][label]["starts"]:
            ratio = metrics.normalized(start["final_loss"], t["adam_final_loss"])
            cells.append(number(float(np.mean(ratio))))
        lines.append(f"| {t['name']} | {t['tuned']['adam']:.2g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cost_table(data: dict) -> str:
    return benchmark.cost_table(data, "| contender | minutes (all starts, all tasks) |")


#: The committed results the documentation's tables are made from (paths from the repository).
RESULTS = "docs/results/no_tuning_suite.json"
PAGE = "docs/no_tuning_suite.md"


def documented_tables(root: Path) -> dict[str, str]:
    """Every table the page shows, by name, made from the committed results under ``root``."""
    data = json.loads((root / RESULTS).read_text())
    tables = {"summary": summary_table(data), "cost": cost_table(data)}
    for label in data["summaries"]:
        tables[f"tasks-{slug(label)}"] = task_table(data, label)
    return tables


def write_docs(root: Path) -> list[Path]:
    """Rewrites the page's tables from the committed results (after a run's results.json is
    copied to :data:`RESULTS`); returns the pages that changed."""
    return benchmark.fill_pages([root / PAGE, root / "README.md"], documented_tables(root))


def summary(report: Report) -> str:
    data = jsonable(report)
    return (
        "Share of (task, start) pairs whose final training loss is within "
        f"{report.config.within:g}x tuned Adam's (95 % CI over seeds):\n\n" + summary_table(data)
    )


def write(report: Report, output_dir: str | Path) -> list[Path]:
    from l2l import plots

    data = jsonable(report)

    def figures(out: Path) -> list[Path]:
        return [plots.save_png(trace_figure(data), out / "step_sizes.png")]

    texts = {"summary.md": summary_table(data)}
    for label in report.summaries:
        texts[f"tasks-{slug(label)}.md"] = task_table(data, label)
    paths = write_report(report, output_dir, texts=texts, figures=figures)
    _atomic.write_text(paths[0], benchmark._dump(data))  # float32's precision, a line per task
    return paths


def trace_figure(data: dict) -> Any:
    """The trace contender's learned step size from every start on the trace tasks, beside tuned
    Adam's constant step size and tuned warmup + cosine Adam's schedule."""
    from l2l import plots
    from l2l.specs import ScheduleSpec

    cfg = data["config"]
    panels = []
    for t in data["tasks"]:
        if t["name"] not in cfg["trace_tasks"]:
            continue
        steps = t["steps"]
        at = trace_steps(steps)
        traces = {  # no trace kept: the step size stayed where it started
            f"m = {s['multiplier']:g}": (at.tolist(), s.get("step_size", [s["value"]] * at.size))
            for s in t["contenders"][cfg["trace_contender"]]["starts"]
        }
        references = {"tuned Adam α*": ([0, steps - 1], [t["tuned"]["adam"]] * 2)}
        if "adam_cosine" in t["tuned"]:
            shape = ScheduleSpec(base=OptaxSpec(name="adam"), horizon=steps).shape()
            every = np.arange(steps)
            rates = t["tuned"]["adam_cosine"] * np.asarray([float(shape(i)) for i in every])
            references["tuned Adam, warmup + cosine"] = (every.tolist(), rates.tolist())
        panels.append((t["name"], traces, references))
    return plots.step_size_traces(panels, title=f"{cfg['trace_contender']}: learned step sizes")
