"""l2l: a JAX toolkit for optimizers that learn.

Every optimizer here is an ``optax.GradientTransformationExtraArgs``, so it drops into
``optax.chain(...)``; hyperparameters take optax's names (``learning_rate``, a number or any optax
schedule; ``momentum``, ``decay``, ``b1``, ``b2``, ``eps``).

Three families:

- the classic hand-designed ones, at the top level: ``l2l.sgd``, ``l2l.momentum``,
  ``l2l.nesterov``, ``l2l.smoothed_nesterov``, ``l2l.adagrad``, ``l2l.rmsprop``, ``l2l.adadelta``,
  ``l2l.adam``, ``l2l.adamax`` (:mod:`l2l.optimizers`; ``l2l.optimizers.make(name, ...)`` by name);
- learned optimizers (:mod:`l2l.learned`): registered architectures (the coordinatewise LSTM of
  Andrychowicz et al., 2016), their files, and a zoo of trained ones: ``l2l.pretrained(name)``,
  ``l2l.load_learned(path)``; meta-trained by :mod:`l2l.meta` (``l2l.meta.train``);
- hyperoptimizers (:mod:`l2l.hyper`): ``l2l.hyper.stack(l2l.hyper.adam(1e-3), l2l.hyper.sgd())``
  learns its own hyperparameters (Chandra et al., 2022).

Around them: optimizees (:mod:`l2l.tasks`, registered kinds), data sets (:mod:`l2l.data`), the one
unroll loop (:mod:`l2l.unroll`), the baseline tuning protocol (:mod:`l2l.evaluate`), figures
(:mod:`l2l.plots`), and the reproduced experiments behind the ``l2l`` command
(:mod:`l2l.experiments`).
"""

import warnings as _warnings
from pathlib import Path as _Path
from typing import Any as _Any

import optax as _optax

from l2l import data, evaluate, hyper, learned, meta, optimizers, tasks, unroll
from l2l.learned import load as load_learned
from l2l.learned import pretrained
from l2l.optimizers import (
    adadelta,
    adagrad,
    adam,
    adamax,
    momentum,
    nesterov,
    rmsprop,
    sgd,
    smoothed_nesterov,
)

__version__ = "0.2.0"


def load(path: str | _Path) -> _optax.GradientTransformationExtraArgs:
    """Deprecated: use :func:`l2l.load_learned` (a trained learned optimizer from its file)."""
    _warnings.warn(
        "l2l.load is deprecated; use l2l.load_learned (a learned optimizer from its .l2l file)",
        DeprecationWarning,
        stacklevel=2,
    )
    return load_learned(path)


def lstm_optimizer(
    meta_params: _Any, config: learned.LSTMOptimizerConfig
) -> _optax.GradientTransformationExtraArgs:
    """Deprecated: use :func:`l2l.learned.lstm_optimizer` (or ``config.optimizer(meta_params)``)."""
    _warnings.warn(
        "l2l.lstm_optimizer is deprecated; use l2l.learned.lstm_optimizer",
        DeprecationWarning,
        stacklevel=2,
    )
    return learned.lstm_optimizer(meta_params, config)


__all__ = [
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "data",
    "evaluate",
    "hyper",
    "learned",
    "load_learned",
    "meta",
    "momentum",
    "nesterov",
    "optimizers",
    "pretrained",
    "rmsprop",
    "sgd",
    "smoothed_nesterov",
    "tasks",
    "unroll",
]
