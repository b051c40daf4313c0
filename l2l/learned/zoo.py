"""The zoo: trained optimizers shipped with l2l (``l2l/zoo/*.l2l``), loadable offline by name."""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def factory(name_or_path: str) -> Callable[..., optax.GradientTransformationExtraArgs]:
    r"""A trained optimizer as a factory of its settings, its weights fixed: ``factory(**settings)
    -> optax transform``.

    The settings are the real-valued fields of its architecture's config that scale the update
    (``SETTINGS``: the LSTM's ``output_scale`` :math:`\sigma` in :math:`\Delta\theta = \sigma
    s_t \odot \mathrm{LSTM}(\cdot)`; the MLP's ``step_mult`` and ``exp_mult``), each defaulting
    to its saved value, so ``factory()`` is ``pretrained(name)``. A settings value may be a JAX
    scalar, traced too: ``l2l.hyper.level(zoo.factory('mnist-lstm'), learn=('output_scale',))``
    learns a zoo optimizer's step scale online (Chandra et al., *Gradient Descent: The Ultimate
    Optimizer*, 2022, stack hyperoptimizers on any differentiable update rule).
    """
    trained = resolve(name_or_path)
    config = trained.config
    names = type(config).SETTINGS

    def make(**settings: Any) -> optax.GradientTransformationExtraArgs:
        unknown = [name for name in settings if name not in names]
        if unknown:
            raise TypeError(
                f"the trained optimizer {name_or_path!r} has no setting "
                f"{', '.join(map(repr, unknown))}; its settings: {', '.join(names) or '(none)'}"
            )
        return dataclasses.replace(config, **settings).optimizer(trained.meta_params)

    keyword = inspect.Parameter.KEYWORD_ONLY
    make.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, keyword, default=getattr(config, name)) for name in names]
    )
    make.__name__ = make.__qualname__ = f"zoo.factory({name_or_path!r})"
    return make
