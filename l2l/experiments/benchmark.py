r"""``l2l benchmark``: does an optimizer beat tuned Adam on tasks it never saw?

The field's question since VeLO (Metz et al., 2022) and Celo (Moudgil et al., 2025), asked the same
way for any optimizer spec on a suite of held-out tasks (``configs/benchmark.yaml``;
:data:`l2l.experiments.benchmark_suite.DEFAULT_SUITE`: quadratics, logistic regression, MLPs,
a conv net, autoencoders, recurrent nets; a long horizon and reparameterized weights among them):

* **Baselines, tuned fairly.** Per task, Adam, SGD, Nesterov momentum, RMSProp and Adam with
  warmup and cosine decay (``baselines``) are each tuned over a half-decade grid of step sizes,
  extended by 1.5 decades at a time until the best value is interior, on ``tuning_seeds``
  instances of the tuning stream, by the mean final training loss; the chosen step size then runs
  on the ``seeds`` reported instances. This is done once (``tune_baselines=true``, or
  ``--tune-baselines``) and committed as ``baselines_file``; evaluating an optimizer costs only
  its own runs. A crash loses at most the task being tuned (the file is rewritten after each).
* **Reported runs.** Every optimizer (``optimizers``: any specs, a trained optimizer's untrained
  control included) runs from its defaults on the same reported instances: a stream of keys no
  tuning and no meta-training touches (:func:`l2l.experiments.benchmark_suite.run_keys`). Each
  optimizer's runs on a task are saved under ``output_dir/runs/`` as they finish, so a run that
  stops resumes where it stopped (and adding an optimizer runs only its own).
* **Numbers** (:mod:`l2l.experiments.benchmark_metrics`): per task, the final training loss (mean
  of the last 5 % of steps) normalized by tuned Adam's, the speedup over tuned Adam, test loss and
  accuracy on the official test split where the task has data, and whether it beat tuned Adam;
  over the suite, the IQMs of normalized loss and of speedup and the win rate with 95 %
  stratified-bootstrap intervals, and a performance profile.

``quick=true`` (``--quick``) runs the suite's quick subset; ``only=[...]`` any named tasks.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from l2l import _atomic, sweep
from l2l._errors import L2LError
from l2l.config import field, to_dict
from l2l.experiments import benchmark_metrics as metrics
from l2l.experiments.benchmark_suite import (
    DEFAULT_SUITE,
    SuiteTask,
    TaskRuns,
    final_losses,
    held_out_split,
    run_keys,
    run_reported,
    with_data_dir,
)
from l2l.experiments.report import jsonable, number, write_report
from l2l.specs import LearnedSpec, LevelSpec, OptaxSpec, OptimizerSpec, StackSpec, spec

__all__ = ["BaselinesFileError", "Config", "Report", "run", "summary", "write"]


class BaselinesFileError(L2LError, ValueError):
    """The tuned baselines file is missing, or was made for another suite."""


@dataclasses.dataclass(frozen=True)
class TunedBaseline:
    """A baseline tuned per task: its spec and the first grid of its ``learning_rate``, from
    ``lr_min`` to ``lr_max`` in half decades (each rounded to the nearest power of 10^(1/2);
    extended while the best value is at an edge)."""

    label: str
    optimizer: OptimizerSpec
    lr_min: float = field(1e-4, gt=0)
    lr_max: float = field(3.16e-2, gt=0)


def _baseline(label: str, optimizer: Any, lr_min: float, lr_max: float) -> TunedBaseline:
    return TunedBaseline(label, spec(optimizer), lr_min, lr_max)


#: The reference every number is normalized by.
ADAM = "Adam"
#: Tuned Adam with warmup and cosine decay: what people train with.
ADAM_COSINE = "Adam, warmup + cosine"

DEFAULT_BASELINES = (
    _baseline(ADAM, {"kind": "optax", "name": "adam"}, 1e-4, 3.16e-2),
    _baseline("SGD", {"kind": "optax", "name": "sgd"}, 1e-3, 3.16e-1),
    _baseline(
        "Nesterov",
        {"kind": "optax", "name": "sgd", "hyperparams": {"momentum": 0.9, "nesterov": True}},
        1e-3,
        3.16e-1,
    ),
    _baseline(
        "RMSProp",
        {"kind": "optax", "name": "rmsprop", "hyperparams": {"decay": 0.9}},
        1e-4,
        3.16e-2,
    ),
    _baseline(
        ADAM_COSINE,
        {"kind": "schedule", "base": {"kind": "optax", "name": "adam"}},
        1e-4,
        3.16e-2,
    ),
)


def _zoo(name: str, untrained: bool = False) -> LearnedSpec:
    return LearnedSpec(path=name, untrained=untrained)


#: What ``l2l benchmark`` evaluates by default: every optimizer of the zoo and its untrained
#: control, l2l's default hyperoptimizer stacks, and optax.contrib's parameter-free optimizers.
ZOO = (
    "quadratic-lstm",
    "zero-machine",
    "mnist-lstm",
    "mnist-moments-lstm",
    "mnist-mix-lstm",
    "mnist-mlp-lopt",
    "fashion-mix-mlp-lopt",
    "general-mlp-lopt",
)
DEFAULT_OPTIMIZERS: tuple[OptimizerSpec, ...] = (
    *(spec for name in ZOO for spec in (_zoo(name), _zoo(name, untrained=True))),
    StackSpec(levels=(LevelSpec(optimizer="adam"), LevelSpec(optimizer="sgd"))),
    StackSpec(levels=(LevelSpec(optimizer="sgd"), LevelSpec(optimizer="sgd"))),
    OptaxSpec(name="prodigy"),
    OptaxSpec(name="dadapt_adamw"),
    OptaxSpec(name="dog"),
    OptaxSpec(name="cocob"),
)


@dataclasses.dataclass(frozen=True)
class Config:
    """``configs/benchmark.yaml``; the defaults are the shipped suite."""

    optimizers: tuple[OptimizerSpec, ...] = DEFAULT_OPTIMIZERS
    suite: tuple[SuiteTask, ...] = DEFAULT_SUITE
    only: tuple[str, ...] = ()  # run these tasks of the suite (default: all)
    quick: bool = False  # run the suite's quick subset
    seed: int = 0
    seeds: int = field(5, ge=1, help="reported runs per task and optimizer")
    tuning_seeds: int = field(2, ge=1, help="runs per grid value when tuning a baseline")
    baselines: tuple[TunedBaseline, ...] = DEFAULT_BASELINES
    tune_baselines: bool = False  # tune the baselines and write baselines_file
    baselines_file: str = "docs/results/benchmark_baselines.json"
    data_dir: str | None = None  # a root holding mnist/ and fashion-mnist/
    bootstrap_reps: int = field(2000, ge=100)
    output_dir: str = "runs/benchmark"

    def __post_init__(self) -> None:
        names = [t.name for t in self.suite]
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            raise ValueError(f"suite: task names must be unique, {doubles} repeat")
        unknown = [n for n in self.only if n not in names]
        if unknown:
            raise ValueError(f"only: {unknown} are not tasks of the suite ({', '.join(names)})")
        labels = [b.label for b in self.baselines]
        if ADAM not in labels:
            raise ValueError(f"baselines: every number is normalized by tuned {ADAM!r}; keep it")
        if not self.tasks():
            raise ValueError("quick: no task of the suite is marked quick")
        labels = [o.display_label for o in self.optimizers]
        doubles = sorted({n for n in labels if labels.count(n) > 1})
        if doubles:
            raise ValueError(f"optimizers: two are labelled {doubles}; give each a 'label'")

    def tasks(self) -> tuple[SuiteTask, ...]:
        """The tasks this run covers (``only``, else the quick subset with ``quick``, else all)."""
        if self.only:
            return tuple(t for t in self.suite if t.name in self.only)
        return tuple(t for t in self.suite if t.quick or not self.quick)


# --------------------------------------------------------------------------- the baselines file


def identity(cfg: Config, task: SuiteTask) -> dict:
    """What fixes a task's tuned baselines: its section (the data directory aside), horizon, and
    the seeds; a results file made for another identity is refused."""
    section = to_dict(task.task)
    section.pop("data_dir", None)
    if isinstance(section.get("task"), dict):
        section["task"].pop("data_dir", None)
    return {
        "task": section,
        "steps": task.steps,
        "seed": cfg.seed,
        "seeds": cfg.seeds,
        "tuning_seeds": cfg.tuning_seeds,
        "baselines": [
            {
                "label": b.label,
                "optimizer": to_dict(b.optimizer),
                "first_grid": [_exponent(b.lr_min) / 2, _exponent(b.lr_max) / 2],
            }
            for b in cfg.baselines
        ],
    }


def _exponent(x: float) -> int:
    """A step size as its power of 10 in half decades (rounded)."""
    return round(2 * math.log10(x))


#: Tuning stops extending a grid at these half-decade powers of 10: 1e-8 and 1e3.
LOWEST, HIGHEST = -16, 6
#: Values per compiled call when tuning (a grid extends by this many half decades at a time).
CHUNK = 3


def tune_one(
    runner: sweep.Runner, baseline: TunedBaseline, task: Any, keys: Any, steps: int
) -> dict:
    """``baseline``'s step size on ``task``: the half-decade grid from ``lr_min`` to ``lr_max``,
    extended by :data:`CHUNK` half decades past an edge holding the best mean final loss (over
    the tuning instances ``keys``), until the best is interior or the grid reaches 1e-8 or 1e3."""
    low, high = _exponent(baseline.lr_min), _exponent(baseline.lr_max)
    scores: dict[int, float] = {}
    while True:
        new = [k for k in range(low, high + 1) if k not in scores]
        for begin in range(0, len(new), CHUNK):
            part = new[begin : begin + CHUNK]
            padded = part + [part[-1]] * (CHUNK - len(part))
            values = {"learning_rate": np.asarray([10 ** (k / 2) for k in padded], np.float32)}
            out = runner.run(baseline.optimizer, task, keys, steps, values)
            finals = final_losses(out["curve"], steps)  # (CHUNK, seeds)
            for k, row in zip(part, finals):
                score = float(np.mean(row))
                scores[k] = score if math.isfinite(score) else math.inf
        grid = sorted(scores)
        index, edge = sweep.pick([scores[k] for k in grid], baseline.label)
        best = grid[index]
        if index == 0 and edge and best > LOWEST:
            low = max(LOWEST, best - CHUNK)
        elif edge and best < HIGHEST and index == len(grid) - 1:
            high = min(HIGHEST, best + CHUNK)
        else:
            break
    return {
        "grid": [10 ** (k / 2) for k in grid],
        "scores": [scores[k] for k in grid],
        "learning_rate": 10 ** (best / 2),
        "at_edge": edge,
    }


def _runs_json(runs: TaskRuns) -> dict:
    out: dict[str, Any] = {"final_loss": runs.final_loss}
    if runs.test_loss is not None:
        out["test_loss"] = runs.test_loss
    if runs.test_accuracy is not None:
        out["test_accuracy"] = runs.test_accuracy
    return out


def tune_task(cfg: Config, task_cfg: SuiteTask, runner: sweep.Runner) -> dict:
    """Every baseline tuned on one task and run on its reported instances, and tuned Adam's
    reference curve over twice the horizon (for speedups)."""
    started = time.perf_counter()
    task_section = with_data_dir(task_cfg.task, cfg.data_dir)
    task = task_section.build()
    split = held_out_split(task_section)
    tuning = run_keys(cfg.seed, "benchmark_tuning", task_cfg.name, cfg.tuning_seeds)
    reported = run_keys(cfg.seed, "benchmark_reported", task_cfg.name, cfg.seeds)
    baselines = {}
    for baseline in cfg.baselines:
        tuned = tune_one(runner, baseline, task, tuning, task_cfg.steps)
        runs = run_reported(
            runner,
            baseline.optimizer,
            task,
            reported,
            task_cfg.steps,
            split,
            {"learning_rate": tuned["learning_rate"]},
        )
        baselines[baseline.label] = {**tuned, **_runs_json(runs)}
        if baseline.label == ADAM:
            long = runner.run(
                baseline.optimizer,
                task,
                reported,
                2 * task_cfg.steps,
                {"learning_rate": np.asarray([tuned["learning_rate"]], np.float32)},
                chunk=1,
            )
            ref_steps, ref_losses = metrics.reference_curve(long["curve"][0], task_cfg.window)
    return {
        "name": task_cfg.name,
        "family": task_cfg.family,
        "identity": identity(cfg, task_cfg),
        "baselines": baselines,
        "reference": {"steps": ref_steps.tolist(), "loss": ref_losses.tolist()},
        "seconds": time.perf_counter() - started,
    }


def _read(path: Path) -> dict:
    if not path.exists():
        return {"tasks": {}}
    return json.loads(path.read_text())


def tune_baselines(cfg: Config, tasks: tuple[SuiteTask, ...], show_progress: bool) -> dict:
    """Tunes the baselines on every task of ``tasks`` not already in ``baselines_file`` with the
    same identity, rewriting the file (atomically) after each task; returns its contents."""
    path = Path(cfg.baselines_file)
    data = _read(path)
    for task_cfg in tasks:
        done = data["tasks"].get(task_cfg.name)
        if done is not None and done["identity"] == _jsonable(identity(cfg, task_cfg)):
            continue
        entry = tune_task(cfg, task_cfg, sweep.Runner())
        _release_programs()
        data["tasks"][task_cfg.name] = entry
        # The suite's order, then tasks of the file that the suite no longer has.
        suite = {t.name: data["tasks"][t.name] for t in cfg.suite if t.name in data["tasks"]}
        data["tasks"] = suite | {n: e for n, e in data["tasks"].items() if n not in suite}
        _atomic.write_text(path, _dump(data))
        if show_progress:
            chosen = ", ".join(
                f"{label} {b['learning_rate']:.3g}" for label, b in entry["baselines"].items()
            )
            print(f"tuned {task_cfg.name} in {entry['seconds']:.0f} s: {chosen}", flush=True)
    return data


def _dump(data: dict) -> str:
    """A results file: floats at seven significant digits, one line per task (a diff shows which
    tasks changed), the rest on the lines before."""
    data = _rounded(data)
    tasks = data["tasks"]
    items = tasks.items() if isinstance(tasks, dict) else enumerate(tasks)
    lines = [
        (f"  {json.dumps(k)}: " if isinstance(tasks, dict) else "  ")
        + json.dumps(v, separators=(",", ":"), ensure_ascii=False)
        for k, v in items
    ]
    open_, close = ("{", "}") if isinstance(tasks, dict) else ("[", "]")
    rest = [
        f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'), ensure_ascii=False)},"
        for k, v in data.items()
        if k != "tasks"
    ]
    return (
        "{\n"
        + "\n".join([*rest, f'  "tasks": {open_}'])
        + "\n"
        + ",\n".join(lines)
        + f"\n  {close}\n}}\n"
    )


def _rounded(value: Any) -> Any:
    """Every float of ``value`` at seven significant digits (float32's precision): the committed
    file stays small and its numbers are those the runs computed."""
    if isinstance(value, float):
        return float(f"{value:.7g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _release_programs() -> None:
    """Drops every compiled program (a task's programs serve no other task): a process that
    keeps a whole suite's executables ran out of memory mappings for the next compilation."""
    import jax

    jax.clear_caches()


def slug(label: str) -> str:
    """A label as a file name (and a table name)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def run_path(output_dir: str, label: str, task: str) -> Path:
    """Where one optimizer's runs on one task are saved as they finish."""
    return Path(output_dir) / "runs" / f"{slug(label)}--{task}.json"


def read_run(path: Path, made_by: dict) -> tuple[Any, float] | None:
    """The runs saved at ``path`` and the seconds they took, if they were made by ``made_by``
    (what fixes them: task, seeds, optimizer, ...); None when there are none (run them)."""
    if not path.exists():
        return None
    done = json.loads(path.read_text())
    if done["made_by"] != _jsonable(made_by):
        return None
    return done["runs"], done["seconds"]


def save_run(path: Path, made_by: dict, runs: Any, seconds: float) -> None:
    """``runs`` saved at ``path`` (atomically) for :func:`read_run`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"made_by": _jsonable(made_by), "runs": runs, "seconds": seconds}
    _atomic.write_text(path, json.dumps(record))


def load_baselines(cfg: Config, tasks: tuple[SuiteTask, ...]) -> dict:
    """The tuned baselines of ``tasks`` from ``baselines_file``; a one-line error naming the first
    task that is missing or was tuned for another identity."""
    path = Path(cfg.baselines_file)
    if not path.exists():
        raise BaselinesFileError(
            f"baselines_file {path} does not exist: run `l2l benchmark --tune-baselines` first"
        )
    data = _read(path)
    for task_cfg in tasks:
        entry = data["tasks"].get(task_cfg.name)
        if entry is None:
            raise BaselinesFileError(
                f"{path} has no tuned baselines for task {task_cfg.name!r}: run "
                "`l2l benchmark --tune-baselines` (it tunes only what is missing)"
            )
        if entry["identity"] != _jsonable(identity(cfg, task_cfg)):
            raise BaselinesFileError(
                f"{path}: task {task_cfg.name!r} was tuned for another setup (task, steps, seeds "
                "or baselines differ): re-run `l2l benchmark --tune-baselines`"
            )
    return data


# --------------------------------------------------------------------------- the report


@dataclasses.dataclass
class Cell:
    """One optimizer on one task (``seeds`` runs)."""

    final_loss: list[float]
    normalized_loss: list[float]
    speedup: list[float]
    test_loss: list[float] | None = None
    test_accuracy: list[float] | None = None
    error: str | None = None  # why it could not run here (then no numbers)


@dataclasses.dataclass
class TaskResult:
    name: str
    family: str
    steps: int
    adam_final_loss: float  # tuned Adam's mean final loss (the normalizer)
    adam_learning_rate: float
    cells: dict[str, Cell]  # optimizer label -> its runs


@dataclasses.dataclass
class Report:
    config: Config
    tasks: list[TaskResult]
    aggregates: dict[str, metrics.Aggregate]
    kinds: dict[str, str]  # optimizer label -> "tuned baseline" | "evaluated"
    seconds: dict[str, float]  # optimizer label -> wall time of its runs (evaluated ones)
    profiles: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    profile_intervals: dict[str, list[list[float]]] = dataclasses.field(default_factory=dict)


def _cell(runs_json: dict, adam_mean: float, reference: dict, steps: int) -> Cell:
    final = runs_json["final_loss"]
    return Cell(
        final_loss=final,
        normalized_loss=metrics.normalized(final, adam_mean).tolist(),
        speedup=metrics.speedups(final, reference["steps"], reference["loss"], steps).tolist(),
        test_loss=runs_json.get("test_loss"),
        test_accuracy=runs_json.get("test_accuracy"),
    )


def run(cfg: Config, *, show_progress: bool = True) -> Report:
    tasks = cfg.tasks()
    if cfg.tune_baselines:
        data = tune_baselines(cfg, tasks, show_progress)
    else:
        data = load_baselines(cfg, tasks)
    labels = [o.display_label for o in cfg.optimizers]
    results = []
    seconds = dict.fromkeys(labels, 0.0)
    for task_cfg in tasks:
        runner = sweep.Runner()
        entry = data["tasks"][task_cfg.name]
        adam = entry["baselines"][ADAM]
        adam_mean = float(np.mean(adam["final_loss"]))
        cells = {
            b.label: _cell(
                entry["baselines"][b.label], adam_mean, entry["reference"], task_cfg.steps
            )
            for b in cfg.baselines
        }
        if cfg.optimizers:
            task_section = with_data_dir(task_cfg.task, cfg.data_dir)
            task = task_section.build()
            split = held_out_split(task_section)
            keys = run_keys(cfg.seed, "benchmark_reported", task_cfg.name, cfg.seeds)
            task_identity = identity(cfg, task_cfg)
        for optimizer, label in zip(cfg.optimizers, labels):
            saved = run_path(cfg.output_dir, label, task_cfg.name)
            made_by = {**task_identity, "optimizer": to_dict(optimizer)}
            done = read_run(saved, made_by)
            if done is not None:
                runs_json, spent = done
            else:
                started = time.perf_counter()
                try:
                    runs = run_reported(runner, optimizer, task, keys, task_cfg.steps, split)
                except (ValueError, TypeError, KeyError) as err:
                    cells[label] = Cell([], [], [], error=str(err).splitlines()[0])
                    continue
                runs_json, spent = _runs_json(runs), time.perf_counter() - started
                save_run(saved, made_by, runs_json, spent)
            seconds[label] += spent
            cells[label] = _cell(runs_json, adam_mean, entry["reference"], task_cfg.steps)
        results.append(
            TaskResult(
                task_cfg.name,
                task_cfg.family,
                task_cfg.steps,
                adam_mean,
                adam["learning_rate"],
                cells,
            )
        )
        if cfg.optimizers:
            _release_programs()
        if show_progress:
            print(f"{task_cfg.name}: done", flush=True)
    kinds = {b.label: "tuned baseline" for b in cfg.baselines} | dict.fromkeys(labels, "evaluated")
    scores = {}
    for label in kinds:
        ran = [t.cells[label] for t in results if t.cells[label].error is None]
        if ran:
            scores[label] = (
                np.asarray([c.normalized_loss for c in ran]).T,
                np.asarray([c.speedup for c in ran]).T,
            )
    aggregates = metrics.aggregates(scores, reps=cfg.bootstrap_reps, seed=cfg.seed)
    report = Report(cfg, results, aggregates, kinds, seconds)
    profiles, intervals = metrics.profiles({k: v[0] for k, v in scores.items()}, seed=cfg.seed)
    report.profiles = {k: np.asarray(v).tolist() for k, v in profiles.items()}
    report.profile_intervals = {k: np.asarray(v).tolist() for k, v in intervals.items()}
    return report


def merge_reports(base: dict, extra: dict, seed: int = 0, *, profiles: bool = True) -> dict:
    """``base``'s report (as its JSON holds it) with the optimizers ``extra`` evaluated added:
    one report as if one run had evaluated them all. Both must come from the same suite and
    tuned baselines (their tuned rows are compared); an optimizer of ``extra`` that ``base``
    has replaces it. Every aggregate is a function of its optimizer's runs and ``seed`` alone
    (:func:`l2l.experiments.benchmark_metrics.aggregates`), so each is kept as computed; the
    performance profiles draw from one generator for all, so they are recomputed (``profiles``;
    False: left out, for tables that do not show them)."""
    if [t["name"] for t in base["tasks"]] != [t["name"] for t in extra["tasks"]]:
        raise ValueError("merge_reports: the two reports ran different tasks")
    tuned = [k for k, v in base["kinds"].items() if v == "tuned baseline"]
    for a, b in zip(base["tasks"], extra["tasks"]):
        if any(a["cells"][k] != b["cells"].get(k) for k in tuned):
            raise ValueError(f"merge_reports: task {a['name']}: the tuned baselines differ")
    added = [k for k, v in extra["kinds"].items() if v != "tuned baseline"]
    out = json.loads(json.dumps(base))
    out["kinds"] = {k: v for k, v in base["kinds"].items() if k not in added} | {
        k: extra["kinds"][k] for k in added
    }
    out["seconds"] = {k: v for k, v in base["seconds"].items() if k not in added} | {
        k: extra["seconds"][k] for k in added
    }
    for label in added:
        if label in extra["aggregates"]:
            out["aggregates"][label] = extra["aggregates"][label]
    for task, more in zip(out["tasks"], extra["tasks"]):
        task["cells"] = {k: v for k, v in task["cells"].items() if k not in added} | {
            k: more["cells"][k] for k in added
        }
    out["config"]["optimizers"] = [
        o for o in base["config"]["optimizers"] if o not in extra["config"]["optimizers"]
    ] + list(extra["config"]["optimizers"])
    if not profiles:
        out.pop("profiles", None)
        out.pop("profile_intervals", None)
        return out
    losses = {}
    for label in out["kinds"]:
        ran = [t["cells"][label] for t in out["tasks"] if not t["cells"][label].get("error")]
        if ran:
            losses[label] = np.asarray([c["normalized_loss"] for c in ran]).T
    shares, intervals = metrics.profiles(losses, seed=seed)
    out["profiles"] = {k: np.asarray(v).tolist() for k, v in shares.items()}
    out["profile_intervals"] = {k: np.asarray(v).tolist() for k, v in intervals.items()}
    return json.loads(_dump(out))


# --------------------------------------------------------------------------- tables


def _interval(x: dict, digits: int = 2) -> str:
    return f"{x['value']:.{digits}f} [{x['low']:.{digits}f}, {x['high']:.{digits}f}]"


def aggregate_table(data: dict) -> str:
    """The aggregates, one row per optimizer (tuned baselines first, then by IQM); ``data``: the
    report as its JSON holds it (so a page can be checked against its results file)."""
    tasks = len(data["tasks"])
    kinds, aggregates = data["kinds"], data["aggregates"]
    lines = [
        "| optimizer | kind | IQM loss / tuned Adam [95% CI] | IQM speedup [95% CI] | "
        "beats tuned Adam on [95% CI] |",
        "|---|---|---|---|---|",
    ]
    order = sorted(
        aggregates,
        key=lambda k: (
            kinds[k] != "tuned baseline",
            aggregates[k]["iqm_normalized_loss"]["value"],
        ),
    )
    for label in [k for k in kinds if k not in aggregates]:  # ran nowhere: say why
        errors = {t["cells"][label].get("error") for t in data["tasks"]} - {None}
        why = f": {sorted(errors)[0]}" if errors else ""
        lines.append(f"| {label} (ran on 0 of {tasks} tasks{why}) | {kinds[label]} | — | — | — |")
    for label in order:
        a = aggregates[label]
        on = "" if a["tasks"] == tasks else f" (ran on {a['tasks']} of {tasks} tasks)"
        # The reference's own win rate is 0 by definition (its bootstrap interval is not).
        wins = "— (the reference)" if label == ADAM else _interval(a["win_rate"])
        lines.append(
            f"| {label}{on} | {kinds[label]} | {_interval(a['iqm_normalized_loss'])} | "
            f"{_interval(a['iqm_speedup'])} | {wins} |"
        )
    return "\n".join(lines)


def task_table(data: dict) -> str:
    """Per task: tuned Adam's final loss (and step size) and every optimizer's mean normalized
    loss over the seeds ("n/a": it could not run there); ``data`` as for :func:`aggregate_table`."""
    labels = list(data["kinds"])
    lines = [
        "| task | family | steps | tuned Adam (lr) | " + " | ".join(labels) + " |",
        "|---|---|---|---|" + "---|" * len(labels),
    ]
    for t in data["tasks"]:
        row = []
        for label in labels:
            cell = t["cells"][label]
            mean = float(np.mean(cell["normalized_loss"])) if cell["normalized_loss"] else None
            row.append("n/a" if cell.get("error") else number(mean))
        lines.append(
            f"| {t['name']} | {t['family']} | {t['steps']} | {number(t['adam_final_loss'])} "
            f"({t['adam_learning_rate']:.2g}) | " + " | ".join(row) + " |"
        )
    return "\n".join(lines)


#: What makes two task sections of a kind the same family (horizon, batch and data split aside).
_FAMILY_KEYS = {
    "quadratic": ("dim", "distribution", "condition_number"),
    "mlp": ("dataset", "hidden_sizes", "activation", "image_size"),
    "conv": ("dataset", "channels", "dense_sizes"),
}
_FAMILY_DEFAULTS = {"dataset": "mnist", "image_size": 28, "condition_number": None}


def _family(section: dict) -> list[tuple]:
    """The task families a task section (a dict, as results files and zoo files hold them) draws
    from: a mix's members, a distribution's members' tasks, an MLP mix's architectures, else the
    section itself."""
    kind = section.get("kind")
    if kind == "mix":
        return [f for member in section["members"] for f in _family(member)]
    if kind == "distribution":
        return [f for member in section["members"] for f in _family(member["task"])]
    if kind == "mlp_mix":
        mlps = ({**section, **arch, "kind": "mlp"} for arch in section["architectures"])
        return [f for mlp in mlps for f in _family(mlp)]
    if kind not in _FAMILY_KEYS:
        return [(kind, json.dumps(section, sort_keys=True))]
    values = []
    for key in _FAMILY_KEYS[kind]:
        value = section.get(key)
        value = _FAMILY_DEFAULTS.get(key) if value is None else value
        values.append(tuple(value) if isinstance(value, list) else value)
    return [(kind, *values)]


def trained_on(path: str) -> set[tuple]:
    """The task families a trained optimizer was meta-trained on (its file's ``trained_on``)."""
    from l2l import learned

    section = learned.resolve(path).info.get("trained_on")
    return set(_family(section)) if section else set()


def generalization_table(data: dict) -> str:
    """The generalization matrix as a view of the suite: each trained optimizer's mean normalized
    loss per task, ``(in)`` where the task is of a family it was meta-trained on (its file's
    ``trained_on``; the horizon may differ); ``data`` as for :func:`aggregate_table`."""
    learned_specs = [
        o for o in data["config"]["optimizers"] if o["kind"] == "learned" and not o["untrained"]
    ]
    labels = [o["label"] or o["path"] for o in learned_specs]
    families = [trained_on(o["path"]) for o in learned_specs]
    sections = {t["name"]: t["task"] for t in data["config"]["suite"]}
    lines = [
        "| task | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for t in data["tasks"]:
        task_families = set(_family(sections[t["name"]]))
        row = []
        for label, family in zip(labels, families):
            cell = t["cells"][label]
            mean = float(np.mean(cell["normalized_loss"])) if cell["normalized_loss"] else None
            text = "n/a" if cell.get("error") else number(mean)
            row.append(text + (" (in)" if task_families & family else ""))
        lines.append(f"| {t['name']} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def suite_table(cfg: Config) -> str:
    """The suite: each task's family, kind, horizon and whether it is in the quick subset."""
    lines = ["| task | family | task section | steps | quick |", "|---|---|---|---|---|"]
    for t in cfg.suite:
        text = json.dumps(_own_settings(t.task), separators=(", ", ": ")).replace('"', "")
        lines.append(
            f"| {t.name} | {t.family} | `{text}` | {t.steps} | {'yes' if t.quick else ''} |"
        )
    return "\n".join(lines)


def _own_settings(section: Any) -> dict:
    """A task section's kind and the settings it changes from its kind's defaults."""
    mine, defaults = to_dict(section), to_dict(type(section)())
    out = {"kind": mine["kind"]}
    for key, value in mine.items():
        if key == "data_dir" or value == defaults.get(key):
            continue
        out[key] = _own_settings(getattr(section, key)) if key == "task" else value
    return out


def baselines_table(data: dict) -> str:
    """The tuned baselines file as a table: each baseline's chosen step size per task (``*``: at
    the edge of the 1e-8 .. 1e3 range) and the minutes the tuning took."""
    tasks = data["tasks"]
    labels = list(next(iter(tasks.values()))["baselines"])
    lines = [
        "| task | " + " | ".join(labels) + " | seconds |",
        "|---|" + "---|" * (len(labels) + 1),
    ]
    for name, entry in tasks.items():
        cells = []
        for label in labels:
            b = entry["baselines"][label]
            cells.append(f"{b['learning_rate']:.3g}" + ("*" if b["at_edge"] else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {entry['seconds']:.0f} |")
    total = sum(e["seconds"] for e in tasks.values())
    lines.append(f"| all {len(tasks)} tasks | " + " | " * len(labels) + f"{total:.0f} |")
    return "\n".join(lines)


def cost_table(data: dict, header: str = "| optimizer | minutes |") -> str:
    """Each evaluated optimizer's wall time over the tasks it ran (its own runs, compilation
    included; read back from saved runs count as when they ran)."""
    lines = [header, "|---|---|"]
    for label, seconds in data["seconds"].items():
        lines.append(f"| {label} | {seconds / 60:.1f} |")
    return "\n".join(lines)


#: The committed results the documentation's tables are made from (paths from the repository).
BASELINES_RESULTS = "docs/results/benchmark_baselines.json"
REPORT_RESULTS = "docs/results/benchmark.json"


def documented_tables(root: Path) -> dict[str, str]:
    """Every table the pages show, by name, made from the committed results under ``root``."""
    baselines = json.loads((root / BASELINES_RESULTS).read_text())
    report = json.loads((root / REPORT_RESULTS).read_text())
    cfg = Config()
    return {
        "suite": suite_table(cfg),
        "baselines": baselines_table(baselines),
        "aggregates": aggregate_table(report),
        "tasks": task_table(report),
        "generalization": generalization_table(report),
        "cost": cost_table(report),
    }


def write_docs(root: Path) -> list[Path]:
    """Rewrites the benchmark's tables in ``root``'s docs/benchmark.md and README.md from the
    committed results (after a new run's results.json is copied to ``REPORT_RESULTS``); returns
    the pages that changed (``benchmark.write_docs(Path("."))`` from the repository's root).
    ``tests/test_docs.py`` fails while a page differs from its results.
    """
    return fill_pages([root / "docs" / "benchmark.md", root / "README.md"], documented_tables(root))


def fill_pages(pages: list[Path], tables: dict[str, str]) -> list[Path]:
    """Each page's tables rewritten from ``tables`` (:func:`fill_tables`); returns the pages
    that changed."""
    changed = []
    for page in pages:
        text = page.read_text()
        filled = fill_tables(text, tables)
        if filled != text:
            page.write_text(filled)
            changed.append(page)
    return changed


def fill_tables(page: str, tables: dict[str, str]) -> str:
    """``page`` with the text between each ``<!-- table: NAME ... -->`` line and the next
    ``<!-- end table -->`` replaced by ``tables[NAME]`` (a table of a name not in ``tables`` is
    another results file's: left as it is)."""
    out, lines, inside = [], page.splitlines(), False
    for line in lines:
        if inside and line.strip() == "<!-- end table -->":
            inside = False
        elif inside:
            continue
        out.append(line)
        if line.startswith("<!-- table: "):
            name = line.removeprefix("<!-- table: ").split()[0]
            if name in tables:
                out.extend(tables[name].splitlines())
                inside = True
    return "\n".join(out) + ("\n" if page.endswith("\n") else "")


def summary(report: Report) -> str:
    data = jsonable(report)
    return (
        "Final training loss / tuned Adam's, per task (mean over seeds; < 1 beats tuned Adam):\n\n"
        + task_table(data)
        + "\n\nOver the suite (IQM over tasks x seeds; win rate: tasks beaten):\n\n"
        + aggregate_table(data)
    )


def write(report: Report, output_dir: str | Path) -> list[Path]:
    from l2l import plots

    data = jsonable(report)

    def figures(out: Path) -> list[Path]:
        if not report.profiles:
            return []
        fig = plots.performance_profile(
            metrics.PROFILE_TAUS, report.profiles, report.profile_intervals
        )
        return [plots.save_png(fig, out / "performance_profile.png")]

    paths = write_report(
        report,
        output_dir,
        texts={"tasks.md": task_table(data), "aggregates.md": aggregate_table(data)},
        figures=figures,
    )
    _atomic.write_text(paths[0], _dump(data))  # the same numbers, at float32's precision
    return paths
