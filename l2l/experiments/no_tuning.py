r"""``l2l no-tuning``: which optimizer needs no tuning? Hyperoptimizer stacks against the
parameter-free family, on Fashion-MNIST, ``configs/no_tuning.yaml``.

The promise of Chandra et al. (2022) is that a short stack with a fixed step at the top makes
training insensitive to the initial hyperparameters; the parameter-free optimizers of
``optax.contrib`` (Prodigy, D-Adaptation, DoG, Mechanic, COCOB, schedule-free AdamW) make the same
promise another way. This experiment puts both families side by side on one problem:

* **Problem.** Chandra et al.'s MLP 784-128 (tanh)-10 (or any ``task`` of kind ``mlp`` or
  ``conv``), minibatches of 256 drawn with replacement from the 55,000 training images of
  Fashion-MNIST (the official 60,000-image training split less a seeded 5,000-image validation
  carve, :func:`l2l.data.load_dataset`); every run is scored on the official 10,000-image test
  split. The final training loss is the cross-entropy over all 55,000 training images.
* **Tuning (the reference).** Plain ``optax.sgd`` and ``optax.adam`` run on a log grid of step
  sizes (``tuning``) with their own seeds; the step size :math:`\alpha^*` with the lowest final
  *validation* loss (mean over the tuning seeds; ``tuning.metric``) is each one's tuned step size.
  Nothing of the test split is seen before the runs are scored.
* **Contenders** (``contenders``), each run from its **defaults** (what a user gets without tuning:
  the factory's own default of the swept argument, e.g. Adam's 1e-3, the bottom rule's default
  for a stack, ``optax.contrib``'s defaults) and from **bad starts**: the swept argument set to
  :math:`m \times` its reference for every ``multipliers`` :math:`m` (default
  :math:`10^{-3} \dots 10`), the reference being the tuned step size of plain SGD or Adam, or the
  argument's default. Plain SGD and Adam at :math:`m \alpha^*` are the failure hyperoptimizers are
  meant to fix; their :math:`m = 1` runs are the tuned references. A stack starts its bottom step
  size at :math:`m \alpha^*` and learns it (``hyper.stack`` with its defaults: :math:`\log\alpha`
  learned by SGD(0.2) on the normalized hypergradient, the divergence guard on), one-step
  (``mode: forward``) or through the whole run (``mode: run``, discount :math:`\mu`).
* **Numbers.** For every run cell (contender x start): test error and final training loss (mean and
  sample sd over ``seeds``), the gap to tuned Adam (paired seed by seed), the step size of the last
  update where the optimizer has one (a stack's bottom step size; Prodigy's and D-Adaptation's
  ``learning_rate`` x d; DoG's; Mechanic's inner step size x its scale), and for a stack how often
  the divergence guard cut the step size and how many hyper-steps were skipped (a non-finite
  hypergradient leaves the step size where it is).
  Per contender: the worst test error over the starts, the spread of the final training loss over
  the starts (:math:`\log_{10}` max / min of the per-start medians over seeds; a start whose median
  diverged is counted apart), and the wall time per step relative to plain Adam (a jitted run of
  each, timed right after plain Adam at its tuned step size, ``timing.repeats`` times; the median
  of the paired ratios, robust to a shared CPU's drifting load).
* **Most robust** is the contender with the lowest worst-case test error over its defaults and all
  its starts (each start's mean over seeds), among those swept over the starts.

Seed :math:`k` of every contender is the same: its first key draws the initial weights, its second
the minibatch stream (step :math:`t`'s minibatch from ``fold_in(stream key, t)``), so every
difference between contenders is paired. Every run of a contender (all starts, all seeds) is one
program of the sweep runner (:class:`l2l.sweep.Runner`), a ``lax.scan`` over the steps
``vmap`` ped over starts and seeds. A contender names its optimizer as every config does, by an
optimizer spec (:mod:`l2l.specs`: ``optax`` and ``optax.contrib`` factories, stacks, classic
rules, trained optimizers), and the argument its bad starts set (``sweep``). The shipped
config (17 contenders, 5 starts, 5 seeds, 430 steps) takes 6.5-13 minutes on a 2-core CPU; the
``conv`` task runs about 250 times slower per step there (0.4 s), so it is a config override for
an accelerator, not the default.

References:
  Chandra, Xie, Ragan-Kelley & Meijer, *Gradient Descent: The Ultimate Optimizer*, NeurIPS 2022;
  Mishchenko & Defazio, *Prodigy: An Expeditiously Adaptive Parameter-Free Learner*, ICML 2024;
  Defazio & Mishchenko, *Learning-Rate-Free Learning by D-Adaptation*, ICML 2023;
  Ivgi, Hinder & Carmon, *DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size Schedule*,
  ICML 2023; Cutkosky, Defazio & Mehta, *Mechanic: A Learning Rate Tuner*, NeurIPS 2023;
  Orabona & Tommasi, *Training Deep Networks without Learning Rates Through Coin Betting*,
  NeurIPS 2017; Defazio et al., *The Road Less Scheduled*, NeurIPS 2024; Xiao, Rasul & Vollgraf,
  *Fashion-MNIST*, 2017.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l import hyper, sweep
from l2l.config import field, from_dict
from l2l.experiments.no_tuning_report import (
    Cell,
    Report,
    Result,
    Tuning,
    add_gaps,
    cell_of,
    conclusion,
    format_starts,
    format_table,
    most_robust,
    print_progress,
    summary,
    write,
)
from l2l.experiments.report import Stats, stats_of, steps_for
from l2l.experiments.starts import TUNED, ContenderConfig, tuned_adam
from l2l.specs import LevelSpec, OptaxSpec, StackSpec
from l2l.tasks import ConvConfig, MLPConfig, TaskConfig
from l2l.tasks.splits import Split, split_scores

__all__ = [
    "Cell",
    "Config",
    "ContenderConfig",
    "Report",
    "Result",
    "Tuning",
    "conclusion",
    "format_starts",
    "format_table",
    "run",
    "summary",
    "write",
]

# --------------------------------------------------------------------------- contenders


def _plain(name, optimizer, reference):
    return ContenderConfig(name, OptaxSpec(name=optimizer), reference=reference)


def _stack(name, rules, mode):
    discount = {"discount": 0.99} if mode == "run" else {}
    levels = tuple(LevelSpec(optimizer=rule) for rule in rules)
    return ContenderConfig(
        name, StackSpec(levels=levels, mode=mode, **discount), reference=rules[0]
    )


def _free(name, optimizer, sweep, reference):
    spec = OptaxSpec(**optimizer) if isinstance(optimizer, dict) else OptaxSpec(name=optimizer)
    return ContenderConfig(name, spec, sweep=sweep, reference=reference)


_MECHANIC_ADAM = {
    "name": "mechanize",
    "base": OptaxSpec(name="adam", hyperparams={"learning_rate": 1.0}),
}

DEFAULT_CONTENDERS = (
    _plain("SGD", "sgd", "sgd"),
    _plain("Adam", "adam", "adam"),
    _stack("SGD / SGD, one-step", ("sgd", "sgd"), "forward"),
    _stack("SGD / SGD, whole run", ("sgd", "sgd"), "run"),
    _stack("Adam / SGD, one-step", ("adam", "sgd"), "forward"),
    _stack("Adam / SGD, whole run", ("adam", "sgd"), "run"),
    _stack("Adam / Adam / SGD, one-step", ("adam", "adam", "sgd"), "forward"),
    _stack("Adam / Adam / SGD, whole run", ("adam", "adam", "sgd"), "run"),
    _free("Prodigy, d0 = m α*", "prodigy", "estim_lr0", "adam"),
    _free("Prodigy, lr = m", "prodigy", "learning_rate", "default"),
    _free("D-Adapt Adam, d0 = m α*", "dadapt_adamw", "estim_lr0", "adam"),
    _free("D-Adapt Adam, lr = m", "dadapt_adamw", "learning_rate", "default"),
    _free("DoG, η0 = m α*(SGD)", "dog", "init_learning_rate", "sgd"),
    _free("DoG, reps_rel = m 1e-6", "dog", "reps_rel", "default"),
    _free("Mechanic(Adam), inner α = m α*", _MECHANIC_ADAM, "learning_rate", "adam"),
    _free("COCOB", "cocob", None, "default"),
    _free("Schedule-free AdamW, α = m α*", "schedule_free_adamw", "learning_rate", "adam"),
)


# --------------------------------------------------------------------------- configs


@dataclasses.dataclass(frozen=True)
class TuningConfig(sweep.LogGrid):
    """The log grid on which plain SGD and Adam are tuned, and what picks the best step size."""

    lr_min: float = field(1e-4, gt=0)
    lr_max: float = field(10.0, gt=0)
    num_lrs: int = field(11, ge=2)
    seeds: int = field(2, ge=1, help="tuning seeds, apart from the reported ones")
    metric: Literal["validation_loss", "train_loss"] = "validation_loss"


@dataclasses.dataclass(frozen=True)
class TimingConfig:
    """Time per step: a jitted run of ``steps`` steps of each contender, right after plain Adam's,
    ``repeats`` times."""

    enabled: bool = True
    steps: int = field(200, ge=1)
    repeats: int = field(5, ge=1)


def _default_task() -> MLPConfig:
    return MLPConfig(
        hidden_sizes=(128,),
        activation="tanh",
        batch_size=256,
        dataset="fashion-mnist",
    )


@dataclasses.dataclass(frozen=True)
class Config:
    """``l2l no-tuning``: every contender from its defaults and from bad starts; see the module
    docstring. ``steps`` (None: ``epochs`` epochs of the training split) overrides ``epochs``."""

    task: TaskConfig = field(_default_task())
    seeds: int = field(5, ge=1)
    seed: int = field(0, ge=0)
    epochs: int = field(2, ge=1)
    steps: int | None = field(None, ge=1, help="None: epochs x ceil(N / batch_size)")
    multipliers: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
    tuning: TuningConfig = field(TuningConfig())
    timing: TimingConfig = field(TimingConfig())
    contenders: tuple[ContenderConfig, ...] = field(DEFAULT_CONTENDERS)
    output_dir: str = "runs/no_tuning"

    def __post_init__(self):
        if not isinstance(self.task, (MLPConfig, ConvConfig)):
            raise TypeError(f"task.kind must be 'mlp' or 'conv', got {self.task.kind!r}")
        if self.task.split != "train":
            raise ValueError(
                f"task.split is {self.task.split!r}: train on 'train' (validation tunes the "
                "baselines, the test split scores every run)"
            )
        if not self.multipliers or any(m <= 0 for m in self.multipliers):
            raise ValueError(f"multipliers must be positive, got {list(self.multipliers)}")
        if 1.0 not in self.multipliers:
            raise ValueError(
                f"multipliers must include 1 (the tuned step size itself), got "
                f"{list(self.multipliers)}"
            )
        names = [c.name for c in self.contenders]
        if len(set(names)) != len(names):
            raise ValueError(f"contender names must be unique, got {names}")
        if tuned_adam(self.contenders) is None:
            raise ValueError(
                "contenders must include plain Adam swept from the tuned step size (`optimizer: "
                "{kind: optax, name: adam}, sweep: learning_rate, reference: adam`): the "
                "reference of every gap"
            )


# --------------------------------------------------------------------------- running


class Data(NamedTuple):
    """The training task (its data set on device) and the splits every run is scored on."""

    task: Any
    train: Split
    validation: Split
    test: Split


@jax.jit
def _score(data: Data, params) -> jax.Array:
    """(training loss, validation loss, test error %) of one run's ``params``."""
    train_loss, _ = split_scores(data.task, params, data.train)
    validation_loss, _ = split_scores(data.task, params, data.validation)
    _, test_error = split_scores(data.task, params, data.test)
    return jnp.stack([train_loss, validation_loss, 100 * test_error])


def _scores(data: Data, params_batch) -> dict[str, np.ndarray]:
    """Training loss, validation loss and test error (%) of every run of a (V, S, ...) batch of
    params (NumPy arrays), one run at a time (the memory of one forward pass per chunk)."""
    leading = jax.tree.leaves(params_batch)[0].shape[:2]
    scores = np.asarray(
        [
            np.asarray(_score(data, jax.tree.map(lambda x, i=i, j=j: x[i, j], params_batch)))
            for i in range(leading[0])
            for j in range(leading[1])
        ]
    ).reshape(*leading, 3)
    names = ("train_loss", "validation_loss", "test_error")
    return {name: scores[..., k] for k, name in enumerate(names)}


@dataclasses.dataclass(frozen=True)
class ScoredRun:
    """The sweep runner's recorder of this study: the params a run is scored at, its loss in
    tenths, its step size (each tenth's end and the last) where the optimizer has one, and a
    stack's guard cuts and skipped hyper-steps."""

    steps: int

    def observe(self, run: sweep.RunContext, state) -> Any:
        reader = run.spec.step_size(run.values)
        return () if reader is None else reader(state.opt_state)

    def record(self, run: sweep.RunContext, state, losses, trace) -> dict:
        out = {
            "params": run.spec.eval_params(state.opt_state, state.params),
            "loss_curve": sweep.tenths(losses, self.steps),
        }
        if run.spec.step_size(run.values) is not None:
            out["step_size_trace"] = trace[sweep.tenth_ends(self.steps)]
            out["step_size"] = trace[-1]
        if isinstance(run.spec, StackSpec):
            bottom = hyper.find_state(state.opt_state).levels[0]
            out["guard_cuts"] = bottom.guarded
            out["skipped"] = bottom.skipped
        return out


@dataclasses.dataclass(frozen=True)
class FinalLoss:
    """A recorder of the last minibatch loss alone (the timed runs)."""

    def observe(self, run, state) -> tuple:
        return ()

    def record(self, run, state, losses, observed) -> dict:
        return {"loss": losses[-1]}


def _keys(cfg: Config, which: int, num: int) -> jax.Array:
    """Instance keys of the seeds: ``which`` 0 for the reported runs, 1 for tuning."""
    seeds = jax.random.split(jax.random.fold_in(jax.random.key(cfg.seed), which), num)
    return sweep.seed_instance_keys(seeds)


def run_tuning(
    cfg: Config, data: Data, steps: int, runner: sweep.Runner, progress=None
) -> dict[str, Tuning]:
    """Plain SGD and Adam on the tuning grid; the best step size of each by ``tuning.metric``.
    SGD is tuned only when a contender's starts refer to it."""
    grid = cfg.tuning.values
    keys = _keys(cfg, 1, cfg.tuning.seeds)
    tuned = {}
    referenced = {c.source for c in cfg.contenders if c.sweep is not None} | {"adam"}
    for name in [name for name in TUNED if name in referenced]:
        out = runner.run(
            OptaxSpec(name=name),
            data.task,
            keys,
            steps,
            {"learning_rate": grid},
            recorder=ScoredRun(steps),
        )
        scores = _scores(data, out["params"])
        finite = {k: np.where(np.isfinite(v), v, np.inf) for k, v in scores.items()}
        val = np.mean(finite["validation_loss"], axis=1)
        train = np.mean(finite["train_loss"], axis=1)
        best, at_edge = sweep.pick(val if cfg.tuning.metric == "validation_loss" else train, name)
        tuned[name] = Tuning(
            optimizer=name,
            grid=grid.tolist(),
            validation_loss=val.tolist(),
            train_loss=train.tolist(),
            metric=cfg.tuning.metric,
            best=float(grid[best]),
            at_edge=at_edge,
        )
        if progress is not None:
            progress(tuned[name])
    return tuned


def _cell(start, multiplier, value, scores, out, v) -> Cell:
    train = np.where(np.isfinite(scores["train_loss"][v]), scores["train_loss"][v], np.inf)
    step = out.get("step_size")
    return Cell(
        start=start,
        multiplier=multiplier,
        value=value,
        test_error=Stats.of(scores["test_error"][v]),
        train_loss=Stats.of(train),
        validation_loss=Stats.of(scores["validation_loss"][v]),
        gap=None,  # Set once tuned Adam has run (add_gaps).
        diverged=int(np.sum(~np.isfinite(train))),
        step_size=None if step is None else Stats.of(step[v]),
        step_size_trace=(
            None if step is None else np.median(out["step_size_trace"][v], axis=0).tolist()
        ),
        guard_cuts=Stats.of(out["guard_cuts"][v]) if "guard_cuts" in out else None,
        skipped=Stats.of(out["skipped"][v]) if "skipped" in out else None,
        loss_curve=np.mean(out["loss_curve"][v], axis=0).tolist(),
    )


def run_contender(
    cfg: Config,
    contender: ContenderConfig,
    data: Data,
    steps: int,
    tuned: dict[str, float],
    runner: sweep.Runner,
) -> Result:
    """Every run of one contender: its default start and ``multiplier x reference`` starts."""
    start_time = time.perf_counter()
    keys = _keys(cfg, 0, cfg.seeds)
    reference = contender.reference_value(tuned)
    default = contender.default_value()
    swept = [] if reference is None else [m * reference for m in cfg.multipliers]
    values = list(swept)
    if default is not None and default not in values:
        values.append(default)
    recorder = ScoredRun(steps)
    cells: dict[Any, tuple] = {}
    if values:
        out = runner.run(
            contender.optimizer,
            data.task,
            keys,
            steps,
            {contender.sweep: values},
            recorder=recorder,
        )
        scores = _scores(data, out["params"])
        for v, value in enumerate(values):
            cells[value] = (scores, out, v)
    if default is None:  # the optimizer's own default: the argument is not passed at all
        out = runner.run(contender.optimizer, data.task, keys, steps, recorder=recorder)
        cells[None] = (_scores(data, out["params"]), out, 0)

    def made(start, multiplier, value, at):
        scores, out, v = cells[at]
        return _cell(start, multiplier, value, scores, out, v)

    default_cell = made("default", None, default, default)
    starts = [made(f"{m:g}", m, value, value) for m, value in zip(cfg.multipliers, swept)]
    every = [default_cell, *starts]
    worst = max(every, key=lambda c: c.test_error.mean)
    medians = np.asarray([c.median_train_loss for c in starts])
    finite = medians[np.isfinite(medians)]
    means = [c.test_error.mean for c in starts]
    return Result(
        name=contender.name,
        contender=contender,
        family=contender.family,
        reference_value=reference,
        default=default_cell,
        starts=starts,
        worst_test_error=worst.test_error.mean,
        worst_start=worst.start,
        test_error_range=float(max(means) - min(means)) if starts else None,
        spread_decades=(float(np.log10(finite.max() / finite.min())) if finite.size else None),
        diverged_starts=int(np.sum(~np.isfinite(medians))),
        seconds=time.perf_counter() - start_time,
    )


def run_timing(
    cfg: Config, data: Data, tuned: dict[str, float], results: list[Result], runner: sweep.Runner
) -> None:
    """Per contender, at its defaults: ms per step (fastest repeat) and the paired ratios of its
    time to plain Adam's at the tuned step size, each timed right after the other."""
    timing = cfg.timing
    keys = sweep.seed_instance_keys(jax.random.key(cfg.seed)[None])

    def timer(contender: ContenderConfig, value: float | None) -> Callable[[], float]:
        values = {k: [v] for k, v in contender.values(value).items()}

        def seconds() -> float:
            start = time.perf_counter()
            runner.run(
                contender.optimizer, data.task, keys, timing.steps, values, recorder=FinalLoss()
            )
            return (time.perf_counter() - start) / timing.steps

        seconds()  # Compiles (once per structure).
        return seconds

    adam = timer(tuned_adam(cfg.contenders), tuned["adam"])
    for result in results:
        run_once = timer(result.contender, result.default.value)
        best, ratios = math.inf, []
        for _ in range(timing.repeats):
            t_adam, t = adam(), run_once()
            best = min(best, t)
            ratios.append(t / t_adam)
        result.ms_per_step, result.time_ratio = 1e3 * best, Stats.of(ratios)


def load(cfg: Config) -> tuple[Data, str, tuple[int, int, int]]:
    """The training task and the scored splits (training, validation, test)."""
    from l2l.data import load_dataset

    dataset = load_dataset(cfg.task.dataset, cfg.task.data_dir)
    task = cfg.task.build()
    data = Data(
        task=task,
        train=Split.of(task.images, task.labels),
        validation=Split.of(dataset.validation.images, dataset.validation.labels),
        test=Split.of(dataset.test.images, dataset.test.labels),
    )
    sizes = (len(task.labels), len(dataset.validation.labels), len(dataset.test.labels))
    return data, dataset.description, sizes


def run(cfg: Config, *, show_progress: bool = True) -> Report:
    """Tuning, then every contender, then the timing; one line per step while ``show_progress``."""
    progress = print_progress if show_progress else None
    start = time.perf_counter()
    data, description, sizes = load(cfg)
    steps = cfg.steps or steps_for(cfg.epochs, sizes[0], cfg.task.batch_size)
    runner = sweep.Runner()
    tuning = run_tuning(cfg, data, steps, runner, progress)
    tuned = {name: t.best for name, t in tuning.items()}
    results = []
    for contender in cfg.contenders:
        results.append(run_contender(cfg, contender, data, steps, tuned, runner))
        if progress is not None:
            progress(results[-1])
    add_gaps(results)
    compile_minutes = runner.compile_seconds / 60
    timing_start = time.perf_counter()
    if cfg.timing.enabled:
        run_timing(cfg, data, tuned, results, sweep.Runner())
    return Report(
        config=cfg,
        data=description,
        num_train=sizes[0],
        num_validation=sizes[1],
        num_test=sizes[2],
        steps=steps,
        device=f"{jax.devices()[0].device_kind}, jax {jax.__version__}, optax {optax.__version__}",
        tuning=tuning,
        results=results,
        most_robust=most_robust(results),
        timing_minutes=(time.perf_counter() - timing_start) / 60,
        minutes=(time.perf_counter() - start) / 60,
        compile_minutes=compile_minutes,
    )


# --------------------------------------------------------------------------- the committed results


def report_of(data: dict) -> Report:
    """A report read back from its ``results.json`` (the tables are made from it as from the
    run: ``format_table(report_of(json.load(...)))``)."""

    results = []
    for r in data["results"]:
        fields = {f.name for f in dataclasses.fields(Result)}
        values = {k: v for k, v in r.items() if k in fields}
        values["contender"] = from_dict(ContenderConfig, r["contender"])
        values["default"] = cell_of(r["default"])
        values["starts"] = [cell_of(c) for c in r["starts"]]
        values["time_ratio"] = stats_of(r.get("time_ratio"))
        results.append(Result(**values))
    fields = {f.name for f in dataclasses.fields(Report)}
    values = {k: v for k, v in data.items() if k in fields}
    values["config"] = from_dict(Config, data["config"])
    values["tuning"] = {k: Tuning(**t) for k, t in data["tuning"].items()}
    values["results"] = results
    return Report(**values)


#: The committed results docs/no_tuning.md shows (a path from the repository's root).
RESULTS = "docs/results/no_tuning.json"


def documented_tables(root: Path) -> dict[str, str]:
    """The tables docs/no_tuning.md shows, made from the committed results under ``root``."""
    import json

    report = report_of(json.loads((root / RESULTS).read_text()))
    return {"no-tuning": format_table(report), "no-tuning-starts": format_starts(report)}
