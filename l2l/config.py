"""Typed experiment configs: YAML file -> frozen dataclasses, dotted overrides, strict validation.

Every config class is a frozen dataclass whose fields carry their type (``int``, ``float``,
``str``, ``bool``, ``Literal[...]``, ``tuple[T, ...]``, ``dict[str, float]``, ``T | None`` or a
nested config dataclass) and, through :func:`field`, their valid range. :func:`load` reads a YAML
file, applies ``a.b.c=value`` overrides (values parsed as YAML), and builds the dataclass; an unknown
key, a wrong type or an out-of-range value raises :class:`ConfigError` naming the file, the dotted
key and what was expected. :func:`to_dict` / :func:`save` write a config back, so the exact config
travels beside every checkpoint and trained optimizer.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml


class ConfigError(ValueError):
    """A config file or override that does not describe a valid experiment."""


def field(default=dataclasses.MISSING, *, ge=None, gt=None, le=None, lt=None, help: str = ""):
    """A dataclass field with an inclusive (``ge``/``le``) or strict (``gt``/``lt``) range."""
    metadata = {"ge": ge, "gt": gt, "le": le, "lt": lt, "help": help}
    if isinstance(default, (list, dict, tuple)) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# --------------------------------------------------------------------------- reading


def load(cls, path: str | Path | None = None, overrides: typing.Sequence[str] = ()):
    """Build config class ``cls`` from a YAML file (or its defaults when ``path`` is None)."""
    source = str(path) if path is not None else f"<default {cls.__name__}>"
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{source}: no such config file")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{source}: not valid YAML: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the top level must be a mapping of keys to values")
    if overrides:
        # Overrides address the full config, so a key the file leaves at its default (say a list
        # entry, ``baselines.1.lr_max=0.1``) is filled in from the defaults first.
        data = _merge(_defaults(cls), data)
    data = apply_overrides(data, overrides, source=source)
    return from_dict(cls, data, source=source)


def _defaults(cls) -> dict:
    try:
        return to_dict(cls())
    except TypeError:  # a class with required fields has no full default
        return {}


def _merge(base: dict, top: dict) -> dict:
    """``top`` over ``base``: mappings merge key by key; any other value of ``top`` replaces."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_overrides(data: dict, overrides: typing.Sequence[str], *, source: str = "") -> dict:
    """Return a copy of ``data`` with each ``dotted.key=value`` override set (value parsed as YAML).

    A numeric path component indexes a list (``baselines.0.lr_min=1e-3``).
    """
    data = _deep_copy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"{source}: override {item!r} is not of the form key=value (e.g. steps=200)"
            )
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        parts = key.strip().split(".")
        node = data
        for depth, part in enumerate(parts[:-1]):
            node = _child(node, part, ".".join(parts[: depth + 1]), source)
        last = parts[-1]
        if isinstance(node, list):
            node[_index(node, last, key, source)] = value
        else:
            node[last] = value
    return data


def _child(node, part, where, source):
    if isinstance(node, list):
        return node[_index(node, part, where, source)]
    if not isinstance(node, dict):
        raise ConfigError(
            f"{source}: override key '{where}' goes inside a value that is not a mapping"
        )
    return node.setdefault(part, {})


def _index(node: list, part: str, where: str, source: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(
            f"{source}: override key '{where}': expected a list index below {len(node)}"
        )
    return int(part)


def _deep_copy(value):
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def from_dict(cls, data: Any, *, source: str = "<dict>", prefix: str = ""):
    """Build dataclass ``cls`` from a mapping, validating every key, type and range."""
    where = prefix or "(top level)"
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: key '{where}': expected a mapping for {cls.__name__}, got {data!r}"
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else str(unknown[0])
        raise ConfigError(
            f"{source}: unknown key '{key}' (expected one of: {', '.join(sorted(fields))})"
        )
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{source}: missing required key '{_join(prefix, name)}'")
            continue
        key = _join(prefix, name)
        value = _convert(hints[name], data[name], source, key)
        _check_range(f, value, source, key)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{source}: key '{where}': {err}") from None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


def _convert(tp, value, source: str, key: str):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    fail = ConfigError(f"{source}: key '{key}': expected {_type_name(tp)}, got {value!r}")
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for a in inner:
            try:
                return _convert(a, value, source, key)
            except ConfigError as err:
                errors.append(err)
        if len(inner) == 1:
            raise errors[0]
        raise ConfigError(
            f"{source}: key '{key}': expected "
            + " or ".join(_type_name(a) for a in inner)
            + (" or null" if type(None) in args else "")
            + f", got {value!r}"
        )
    if origin is Literal:
        if value not in args:
            raise fail
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, source=source, prefix=key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: key '{key}': expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, source, f"{key}.{i}") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(
                f"{source}: key '{key}': expected a list of {len(args)}, got {value!r}"
            )
        return tuple(
            _convert(a, v, source, f"{key}.{i}") for i, (a, v) in enumerate(zip(args, value))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: key '{key}': expected a mapping, got {value!r}")
        k_tp, v_tp = args
        return {
            _convert(k_tp, k, source, f"{key}.{k}"): _convert(v_tp, v, source, f"{key}.{k}")
            for k, v in value.items()
        }
    if tp is bool:
        if not isinstance(value, bool):
            raise fail
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise fail from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail
        if not math.isfinite(value):
            raise ConfigError(f"{source}: key '{key}': expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail
        return value
    if tp is Any:
        return value
    raise TypeError(f"config type {tp!r} of key '{key}' is not supported")  # a bug in l2l


def _check_range(f: dataclasses.Field, value, source: str, key: str) -> None:
    meta = f.metadata
    if not meta or not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    checks = [
        ("ge", lambda b: value >= b, ">="),
        ("gt", lambda b: value > b, ">"),
        ("le", lambda b: value <= b, "<="),
        ("lt", lambda b: value < b, "<"),
    ]
    for name, ok, symbol in checks:
        bound = meta.get(name)
        if bound is not None and not ok(bound):
            raise ConfigError(
                f"{source}: key '{key}': expected a value {symbol} {bound}, got {value!r}"
            )


# --------------------------------------------------------------------------- writing


def to_dict(cfg) -> dict:
    """A plain (YAML/JSON-ready) mapping of a config; tuples become lists."""

    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(cfg)


def save(cfg, path: str | Path) -> None:
    """Write ``cfg`` as YAML (loadable again by :func:`load` with the same class)."""
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


# --------------------------------------------------------------------------- shared sections


@dataclasses.dataclass(frozen=True)
class ArchitectureConfig:
    """One member of an ``mlp_mix`` task: an MLP's hidden layer sizes and activation."""

    hidden_sizes: tuple[int, ...] = (20,)
    activation: Literal["sigmoid", "tanh", "relu"] = "sigmoid"

    def __post_init__(self):
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive, got {list(self.hidden_sizes)}")


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """Which optimizee family to train on (``kind``) and its settings.

    ``init_scale`` defaults to each family's own (1.0 for quadratics, 0.1 for MLPs); MLP tasks read
    MNIST from ``data_dir`` (else ``L2L_DATA_DIR``, else the cache directory) and train on ``split``.
    ``separable_quadratic`` is f(x) = sum_i (s_i x_i)^2 with s_i ~ U[``scale_low``, ``scale_high``]
    and x_0 ~ U[-init_scale, init_scale]^dim (the zero-machine problem with dim 2).
    ``mlp_mix`` trains one MLP of each of ``architectures`` side by side (loss: the sum of theirs,
    see :class:`l2l.tasks.MLPMixture`); ``hidden_sizes`` and ``activation`` are then unused.
    """

    kind: Literal["quadratic", "mlp", "separable_quadratic", "mlp_mix"] = "quadratic"
    dim: int = field(10, ge=1)
    distribution: Literal["normal", "uniform"] = "normal"
    init_scale: float | None = field(None, gt=0)
    hidden_sizes: tuple[int, ...] = (20,)
    activation: Literal["sigmoid", "tanh", "relu"] = "sigmoid"
    batch_size: int = field(128, ge=1)
    data_dir: str | None = None
    split: Literal["train", "validation", "test"] = "train"
    scale_low: float = field(0.5, gt=0)
    scale_high: float = field(1.5, gt=0)
    architectures: tuple[ArchitectureConfig, ...] = ()

    def __post_init__(self):
        if self.kind == "mlp_mix" and not self.architectures:
            raise ValueError(
                "architectures: kind mlp_mix needs at least one {hidden_sizes, activation}"
            )
        if self.kind != "mlp_mix" and self.architectures:
            raise ValueError(f"architectures: only kind mlp_mix reads them (kind is {self.kind})")
        if any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive, got {list(self.hidden_sizes)}")
        if self.scale_high < self.scale_low:
            raise ValueError(
                f"scale_high ({self.scale_high}) is below scale_low ({self.scale_low})"
            )


def build_task(cfg: TaskConfig):
    """The task object a :class:`TaskConfig` describes (MLP tasks load MNIST onto the device)."""
    from l2l import tasks

    if cfg.kind == "quadratic":
        return tasks.Quadratic(
            dim=cfg.dim,
            distribution=cfg.distribution,
            init_scale=1.0 if cfg.init_scale is None else cfg.init_scale,
        )
    if cfg.kind == "separable_quadratic":
        return tasks.SeparableQuadratic(
            dim=cfg.dim,
            scale_low=cfg.scale_low,
            scale_high=cfg.scale_high,
            init_scale=1.0 if cfg.init_scale is None else cfg.init_scale,
        )
    import jax.numpy as jnp

    from l2l.data import load_mnist

    split = getattr(load_mnist(cfg.data_dir), cfg.split)
    common = {
        "images": jnp.asarray(split.images),
        "labels": jnp.asarray(split.labels),
        "batch_size": cfg.batch_size,
        "init_scale": 0.1 if cfg.init_scale is None else cfg.init_scale,
    }
    if cfg.kind == "mlp_mix":
        architectures = tuple((tuple(a.hidden_sizes), a.activation) for a in cfg.architectures)
        return tasks.MLPMixture(architectures=architectures, **common)
    return tasks.MLPClassifier(
        hidden_sizes=tuple(cfg.hidden_sizes), activation=cfg.activation, **common
    )
