"""Trained optimizers on disk: one self-describing file (format, version, config, weights, info).

The file is msgpack (flax.serialization): ``{"format": "l2l-learned-optimizer", "version": 1,
"config": {...}, "meta_params": {...}, "info": {...}}``. Loading needs nothing but the file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import optax
from flax import serialization

from l2l.config import ConfigError, from_dict, to_dict
from l2l.learned.optimizer import LSTMOptimizerConfig, init_meta_params, lstm_optimizer

FORMAT = "l2l-learned-optimizer"
VERSION = 1
SUFFIX = ".l2l"


class LearnedOptimizerFileError(ValueError):
    """A file that is not a (complete, compatible) saved learned optimizer."""


class TrainedOptimizer(NamedTuple):
    meta_params: Any
    config: LSTMOptimizerConfig
    info: dict  # free-form: what it was trained on, how well it did, the training config

    def transform(self) -> optax.GradientTransformationExtraArgs:
        return lstm_optimizer(self.meta_params, self.config)


def save(
    path: str | Path, meta_params, config: LSTMOptimizerConfig, info: dict | None = None
) -> Path:
    """Write a trained optimizer atomically (a crash mid-write leaves any old file intact)."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": to_dict(config),
        "meta_params": serialization.to_state_dict(jax.tree.map(np.asarray, meta_params)),
        "info": info or {},
    }
    data = serialization.msgpack_serialize(payload)
    atomic_write_bytes(path, data)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read(path: str | Path) -> TrainedOptimizer:
    """Read a saved optimizer: its weights, config and info; a clear error for a bad file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such learned-optimizer file")
    raw = path.read_bytes()
    try:
        payload = serialization.msgpack_restore(raw)
    except Exception as err:  # msgpack raises several types for truncated/garbage data
        raise LearnedOptimizerFileError(
            f"{path}: not a readable l2l learned-optimizer file (truncated or corrupt: {err})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise LearnedOptimizerFileError(
            f"{path}: not an l2l learned-optimizer file (format tag missing)"
        )
    if payload.get("version") != VERSION:
        raise LearnedOptimizerFileError(
            f"{path}: file format version {payload.get('version')!r}; this l2l reads version {VERSION}"
        )
    try:
        config = from_dict(
            LSTMOptimizerConfig, payload["config"], source=str(path), prefix="config"
        )
    except (ConfigError, KeyError) as err:
        raise LearnedOptimizerFileError(f"{path}: invalid optimizer config: {err}") from None
    template = init_meta_params(jax.random.key(0), config)
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


def update_info(path: str | Path, **entries) -> TrainedOptimizer:
    """Add ``entries`` to a saved optimizer's info (e.g. how it did on held-out instances)."""
    trained = read(path)
    info = {**trained.info, **entries}
    save(path, trained.meta_params, trained.config, info)
    return trained._replace(info=info)


def load(path: str | Path) -> optax.GradientTransformationExtraArgs:
    """The optax transform of a saved learned optimizer."""
    return read(path).transform()


ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"


def zoo_names() -> list[str]:
    return sorted(p.stem for p in ZOO_DIR.glob(f"*{SUFFIX}"))


def pretrained_path(name: str) -> Path:
    path = ZOO_DIR / f"{name}{SUFFIX}"
    if not path.is_file():
        known = ", ".join(zoo_names()) or "(none)"
        raise KeyError(f"no pretrained optimizer named {name!r}; known: {known}")
    return path


def pretrained(name: str) -> optax.GradientTransformationExtraArgs:
    """A trained optimizer shipped with l2l, by name (offline), as an optax transform."""
    return load(pretrained_path(name))


def resolve(name_or_path: str) -> TrainedOptimizer:
    """A zoo name or a file path -> the trained optimizer."""
    if Path(name_or_path).suffix == SUFFIX or os.sep in name_or_path:
        return read(name_or_path)
    return read(pretrained_path(name_or_path))
