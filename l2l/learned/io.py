"""Trained optimizers on disk: one self-describing file (format, version, config, weights, info).

The file is msgpack (flax.serialization): ``{"format": "l2l-learned-optimizer", "version": 2,
"config": {"kind": ..., ...}, "meta_params": {...}, "info": {...}}``; the config's ``kind`` names
the registered architecture (:mod:`l2l.learned.architectures`), so loading needs nothing but the
file. Version 1 files (before the architecture registry; their config has no ``kind``) are read
as ``kind: lstm``, the only architecture there was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import optax
from flax import serialization

from l2l import _atomic
from l2l._errors import L2LError
from l2l.config import ConfigError, from_dict, to_dict
from l2l.learned.architectures import LearnedOptimizerConfig

FORMAT = "l2l-learned-optimizer"
VERSION = 2
READABLE_VERSIONS = (1, 2)
SUFFIX = ".l2l"


class LearnedOptimizerFileError(L2LError, ValueError):
    """A file that is not a (complete, compatible) saved learned optimizer."""


class TrainedOptimizer(NamedTuple):
    meta_params: Any
    config: LearnedOptimizerConfig
    info: dict  # free-form: what it was trained on, how well it did, the training config

    def transform(self) -> optax.GradientTransformationExtraArgs:
        return self.config.optimizer(self.meta_params)


def save(
    path: str | Path, meta_params: Any, config: LearnedOptimizerConfig, info: dict | None = None
) -> Path:
    """Write a trained optimizer atomically (a crash mid-write leaves any old file intact)."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": to_dict(config),
        "meta_params": serialization.to_state_dict(jax.tree.map(np.asarray, meta_params)),
        "info": info or {},
    }
    return _atomic.write_bytes(path, serialization.msgpack_serialize(payload))


def read(path: str | Path) -> TrainedOptimizer:
    """Read a saved optimizer: its weights, config and info; a clear error for a bad file."""
    path = Path(path)
    if not path.is_file():
        raise LearnedOptimizerFileError(f"{path}: no such learned-optimizer file")
    try:
        payload = serialization.msgpack_restore(path.read_bytes())
    except Exception as err:
        raise LearnedOptimizerFileError(
            f"{path}: not a readable l2l learned-optimizer file (truncated or corrupt: {err})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise LearnedOptimizerFileError(
            f"{path}: not an l2l learned-optimizer file (format tag missing)"
        )
    if payload.get("version") not in READABLE_VERSIONS:
        raise LearnedOptimizerFileError(
            f"{path}: file format version {payload.get('version')!r}; this l2l reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    try:
        config = from_dict(
            LearnedOptimizerConfig, payload["config"], source=str(path), prefix="config"
        )
    except (ConfigError, KeyError) as err:
        raise LearnedOptimizerFileError(f"{path}: invalid optimizer config: {err}") from None
    # The weights' structure, shapes and dtypes, traced only: no initializer is compiled or run.
    template = jax.eval_shape(config.init_meta_params, jax.random.key(0))
    try:
        meta_params = serialization.from_state_dict(template, payload["meta_params"])
    except (KeyError, ValueError) as err:
        raise LearnedOptimizerFileError(f"{path}: weights do not match the config: {err}") from None
    expected = jax.tree.map(lambda a: (a.shape, a.dtype), template)
    found = jax.tree.map(lambda a: (np.shape(a), np.asarray(a).dtype), meta_params)
    if expected != found:
        raise LearnedOptimizerFileError(
            f"{path}: weight shapes {found} do not match the config's {expected}"
        )
    meta_params = jax.tree.map(jax.numpy.asarray, meta_params)
    return TrainedOptimizer(meta_params, config, dict(payload.get("info") or {}))


def update_info(path: str | Path, **entries: Any) -> TrainedOptimizer:
    """Add ``entries`` to a saved optimizer's info (e.g. how it did on held-out instances)."""
    trained = read(path)
    info = {**trained.info, **entries}
    save(path, trained.meta_params, trained.config, info)
    return trained._replace(info=info)
