"""The zoo: trained optimizers shipped with l2l (``l2l/zoo/*.l2l``), loadable offline by name."""

from __future__ import annotations

import os
from pathlib import Path

import optax

from l2l._errors import L2LError
from l2l._suggest import did_you_mean
from l2l.learned.io import SUFFIX, TrainedOptimizer, read

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"


class UnknownZooNameError(L2LError, KeyError, ValueError):
    """A name that is neither a shipped optimizer of the zoo nor a ``.l2l`` file."""


def zoo_names() -> list[str]:
    """The names of the shipped trained optimizers."""
    return sorted(p.stem for p in ZOO_DIR.glob(f"*{SUFFIX}"))


def pretrained_path(name: str) -> Path:
    path = ZOO_DIR / f"{name}{SUFFIX}"
    if not path.is_file():
        known = zoo_names()
        raise UnknownZooNameError(
            f"no trained optimizer named {name!r} in the zoo.{did_you_mean(name, known)} "
            f"Known: {', '.join(known) or '(none)'}; or give the path of a {SUFFIX} file"
        )
    return path


def load(path: str | Path) -> optax.GradientTransformationExtraArgs:
    """The optax transform of the trained optimizer saved at ``path``."""
    return read(path).transform()


def pretrained(name: str) -> optax.GradientTransformationExtraArgs:
    """A trained optimizer shipped with l2l, by name (offline), as an optax transform."""
    return load(pretrained_path(name))


def is_path(name_or_path: str) -> bool:
    """Whether a learned optimizer is named by a file path (else by a zoo name)."""
    return Path(name_or_path).suffix == SUFFIX or os.sep in name_or_path


def resolve(name_or_path: str) -> TrainedOptimizer:
    """A zoo name or a file path -> the trained optimizer (weights, config, info)."""
    if is_path(name_or_path):
        return read(name_or_path)
    return read(pretrained_path(name_or_path))
