"""Experiments: each reproduced or new study is one module here (DESIGN.md, contract 5).

Every experiment module has the same face, which the ``l2l`` command reads through
:data:`EXPERIMENTS` (command words -> the module and one line of help):

- ``Config``: a frozen dataclass (loaded from ``configs/*.yaml``, or its defaults);
- ``run(cfg, *, show_progress=True) -> Report``: a typed dataclass holding every number shown;
- ``write(report, output_dir) -> list[Path]``: JSON of every number, the figures, and the config
  beside them (``config.yaml``);
- ``summary(report) -> str``: what the command prints (a markdown table).

Nothing in the library imports this package; a new experiment is one module plus its entry in
:data:`EXPERIMENTS`.
"""

import importlib
from types import ModuleType
from typing import NamedTuple


class Entry(NamedTuple):
    module: str  # the experiment module under ``l2l.experiments``, imported only when run
    help: str  # one line for ``l2l --help``
    flags: tuple[tuple[str, str], ...] = ()  # (``--flag``, the override it stands for)


#: The ``l2l`` subcommands: command words -> the experiment module and its one line of help.
EXPERIMENTS: dict[tuple[str, ...], Entry] = {
    ("meta-train",): Entry(
        "meta_train", "meta-train a learned optimizer, then compare it with tuned baselines"
    ),
    ("evaluate",): Entry(
        "evaluate", "tune the classic baselines and compare optimizers on held-out instances"
    ),
    ("study", "responses"): Entry(
        "responses", "plot each optimizer's update against six fixed gradient signals"
    ),
    ("study", "surfaces"): Entry(
        "surfaces", "race optimizers on 2-D test surfaces: contour PNGs, GIFs and JSON"
    ),
    ("hyper",): Entry(
        "hyper_mnist", "hyperoptimizers on MNIST: Chandra et al.'s table and robustness figure"
    ),
    ("zero-machine",): Entry(
        "zero_machine",
        "the zero-machine test: runs reaching float32's tiny (1.18e-38) in 20 steps",
    ),
    ("talk",): Entry(
        "talk_example",
        "the talk's own example: y = a x with step sizes as dual numbers (float64), vs the stack",
    ),
    ("short-horizon",): Entry(
        "short_horizon",
        "the short-horizon bias: one-step vs whole-run hypergradients vs the tuned step size",
    ),
    ("benchmark",): Entry(
        "benchmark",
        "does an optimizer beat tuned Adam on held-out tasks? the suite, tuned baselines, CIs",
        (("--quick", "quick=true"), ("--tune-baselines", "tune_baselines=true")),
    ),
    ("no-tuning",): Entry(
        "no_tuning",
        "which optimizer needs no tuning: hyperoptimizer stacks vs parameter-free, Fashion-MNIST",
    ),
    ("no-tuning-suite",): Entry(
        "no_tuning_suite",
        "the no-tuning promise on every benchmark task: stacks and parameter-free from bad starts",
        (("--quick", "quick=true"),),
    ),
}


def experiment(name: str) -> ModuleType:
    """The experiment module ``name`` (e.g. ``"evaluate"``), imported on first use."""
    return importlib.import_module(f"l2l.experiments.{name}")
