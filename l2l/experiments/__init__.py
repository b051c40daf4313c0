"""Experiments: each reproduced or new study is one module here (DESIGN.md, contract 5).

Every experiment module has the same face, which the ``l2l`` command reads from
:data:`EXPERIMENTS` (subcommand -> module name):

- ``Config``: a frozen dataclass (loaded from ``configs/*.yaml``, or its defaults);
- ``run(cfg, *, show_progress=True) -> Report``: a typed dataclass holding every number shown;
- ``write(report, output_dir) -> list[Path]``: JSON of every number, the figures, and the config
  beside them (``config.yaml``);
- ``summary(report) -> str``: what the command prints (a markdown table);
- ``DESCRIPTION``: one line for ``l2l --help``.

Nothing in the library imports this package; a new experiment is one module plus its entry in
:data:`EXPERIMENTS`.
"""

import importlib
from types import ModuleType

#: The ``l2l`` subcommands: command words -> the experiment module (under ``l2l.experiments``).
EXPERIMENTS: dict[tuple[str, ...], str] = {
    ("meta-train",): "meta_train",
    ("evaluate",): "evaluate",
    ("study", "responses"): "responses",
    ("study", "surfaces"): "surfaces",
    ("hyper",): "hyper_mnist",
    ("zero-machine",): "zero_machine",
}


def experiment(name: str) -> ModuleType:
    """The experiment module ``name`` (e.g. ``"evaluate"``), imported on first use."""
    return importlib.import_module(f"l2l.experiments.{name}")
