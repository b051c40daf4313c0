"""Typed experiment configs: YAML file -> frozen dataclasses, dotted overrides, strict validation.

Every config class is a frozen dataclass whose fields carry their type (``int``, ``float``,
``str``, ``bool``, ``Literal[...]``, ``tuple[T, ...]``, ``dict[str, float]``, ``T | None`` or a
nested config dataclass) and, through :func:`field`, their valid range. :func:`load` reads a YAML
file, applies ``a.b.c=value`` overrides (values parsed as YAML), and builds the dataclass; an
unknown key, a wrong type or an out-of-range value raises :class:`ConfigError` naming the file,
the dotted key and what was expected. :func:`to_dict` / :func:`save` write a config back, so the
exact config travels beside every checkpoint and trained optimizer.

Kinds: a config section whose class has a :class:`Kinds` registry (``__kinds__``) is built as the
class registered under its ``kind:`` key (e.g. ``task: {kind: mlp, ...}`` builds the ``mlp`` task's
own config class). The engine knows no kind by name: each module registers its own. A class may
rename a key (``__renamed__ = {"lr": "learning_rate"}``): the old spelling is still read, with a
``DeprecationWarning``. Two more hooks let a class read what users write: ``__from_string__``, a
classmethod turning a plain string into the section's mapping (an optimizer written as ``adam``),
and ``__normalize__``, a classmethod rewriting the mapping before it is built (an older layout of
the section, read with a ``DeprecationWarning``). Either runs before validation, so the built
config holds only what its fields say.
This module imports nothing of l2l but the private base pieces, so every layer may use it.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
import warnings
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from l2l._errors import L2LError
from l2l._suggest import did_you_mean

C = TypeVar("C")  # a config class
K = TypeVar("K", bound=type)  # a config class, registered as a kind


class ConfigError(L2LError, ValueError):
    """A config file or override that does not describe a valid experiment."""


def field(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    help: str = "",
) -> Any:
    """A dataclass field with an inclusive (``ge``/``le``) or strict (``gt``/``lt``) range.

    A mutable default (a list, a dict, a dataclass) is copied for every instance.
    """
    metadata = {"ge": ge, "gt": gt, "le": le, "lt": lt, "help": help}
    if isinstance(default, (list, dict, tuple)) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class Kinds:
    """A registry of the kinds of one thing (task kinds, learned-optimizer architectures): each
    kind's name -> its config class (a frozen dataclass with a ``kind`` field).

    A base config class names its registry in ``__kinds__``; a section typed with the base class is
    then built as the class registered under the section's ``kind:``.
    """

    def __init__(self, what: str):
        self.what = what
        self._classes: dict[str, type] = {}

    def register(self, kind: str, config_class: K) -> K:
        """Register ``config_class`` under ``kind``; returns it (usable as a decorator's body)."""
        if kind in self._classes and self._classes[kind] is not config_class:
            raise ValueError(f"{self.what} kind {kind!r} is registered twice")
        self._classes[kind] = config_class
        return config_class

    def names(self) -> list[str]:
        return sorted(self._classes)

    def __contains__(self, kind: object) -> bool:
        return kind in self._classes

    def get(self, kind: str, *, where: str = "kind") -> type:
        """The config class of ``kind``; a :class:`ConfigError` naming the known kinds else."""
        if kind not in self._classes:
            raise ConfigError(
                f"{where}: unknown {self.what} kind {kind!r}.{did_you_mean(kind, self._classes)} "
                f"Known: {', '.join(self.names())}."
            )
        return self._classes[kind]


# --------------------------------------------------------------------------- reading


def load(cls: type[C], path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> C:
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
        # entry, ``baselines.1.lr_max=0.1``) is filled in first: from the config the file makes
        # (a section the file gives in part keeps its class's defaults for the rest, as without
        # overrides), else (a file that is only valid with its overrides) from the defaults.
        try:
            data = to_dict(from_dict(cls, data, source=source))
        except ConfigError:
            data = _merge(_defaults(cls), data)
    data = apply_overrides(data, overrides, source=source)
    return from_dict(cls, data, source=source)


def _defaults(cls: type) -> dict:
    try:
        return to_dict(cls())
    except TypeError:  # a class with required fields has no full default
        return {}


def _merge(base: dict, top: dict) -> dict:
    """``top`` over ``base``: mappings merge key by key; any other value of ``top`` replaces."""
    merged = dict(base)
    for key, value in top.items():
        if (
            isinstance(value, dict)
            and isinstance(merged.get(key), dict)
            and value.get("kind", merged[key].get("kind")) == merged[key].get("kind")
        ):  # a section of another kind replaces the default's section whole
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_overrides(data: dict, overrides: typing.Sequence[str], *, source: str = "") -> dict:
    """Return a copy of ``data`` with each ``dotted.key=value`` override set (value parsed as YAML).

    A numeric path component indexes a list (``baselines.0.lr_min=1e-3``). Setting a section's
    ``kind`` to another kind empties the section first (``task.kind=mlp task.data_dir=...``).
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
            if last == "kind" and node.get("kind", value) != value:
                node.clear()  # another kind: the default kind's keys do not apply to it
            node[last] = value
    return data


def _child(node: Any, part: str, where: str, source: str) -> Any:
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


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def from_dict(
    cls: type[C],
    data: Any,
    *,
    source: str = "<dict>",
    prefix: str = "",
    default_kind: str | None = None,
) -> C:
    """Build dataclass ``cls`` from a mapping, validating every key, type and range.

    For a base class with ``__kinds__``, the section's ``kind`` (else ``default_kind``) picks the
    registered class to build.
    """
    where = prefix or "(top level)"
    if isinstance(data, cls):
        return data
    from_string = getattr(cls, "__from_string__", None)
    if isinstance(data, str) and from_string is not None:
        try:
            data = from_string(data)
        except (ValueError, TypeError, KeyError) as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            raise ConfigError(f"{source}: key '{where}': {message}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: key '{where}': expected a mapping for {cls.__name__}, got {data!r}"
        )
    kinds = cls.__dict__.get("__kinds__")
    if kinds is not None:  # a base class: build the class registered under the section's kind
        kind = data.get("kind", default_kind or getattr(cls, "kind", None))
        cls = kinds.get(kind, where=f"{source}: key '{_join(prefix, 'kind')}'")
        data = {**data, "kind": kind}
    normalize = getattr(cls, "__normalize__", None)
    if normalize is not None:
        try:
            data = normalize(data, where=f"{source}: key '{where}'")
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{source}: key '{where}': {err}") from None
    data = _renamed_keys(cls, data, source, prefix)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(typing.cast(Any, cls)) if f.init}
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
        value = _convert(hints[name], data[name], source, key, _default_kind(f, hints[name]))
        _check_range(f, value, source, key)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{source}: key '{where}': {err}") from None


def _renamed_keys(cls: type, data: dict, source: str, prefix: str) -> dict:
    """Keys a config class renamed (its ``__renamed__``: old -> new) still read, with a
    ``DeprecationWarning`` naming the new spelling; both spellings at once are an error."""
    renamed = getattr(cls, "__renamed__", {})
    if not renamed or not set(renamed) & set(data):
        return data
    data = dict(data)
    for old, new in renamed.items():
        if old not in data:
            continue
        if new in data:
            raise ConfigError(
                f"{source}: key '{_join(prefix, old)}' and its new spelling "
                f"'{_join(prefix, new)}' are both given; keep '{_join(prefix, new)}'"
            )
        warnings.warn(
            f"{source}: key '{_join(prefix, old)}' is deprecated; use '{_join(prefix, new)}'",
            DeprecationWarning,
            stacklevel=4,
        )
        data[new] = data.pop(old)
    return data


def _default_kind(f: dataclasses.Field, tp: Any) -> str | None:
    """The kind of a field's default value (a section without ``kind:`` keeps the default's); only
    a field typed with a base class of kinds has one (its default is not built otherwise)."""
    if not (dataclasses.is_dataclass(tp) and "__kinds__" in tp.__dict__):
        return None
    default = f.default
    if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    return getattr(default, "kind", None)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


def _convert(tp: Any, value: Any, source: str, key: str, default_kind: str | None = None) -> Any:
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
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value, source=source, prefix=key, default_kind=default_kind)
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


def _check_range(f: dataclasses.Field, value: Any, source: str, key: str) -> None:
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


def to_dict(cfg: Any) -> dict:
    """A plain (YAML/JSON-ready) mapping of a config; tuples become lists."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(cfg)


def save(cfg: Any, path: str | Path) -> Path:
    """Write ``cfg`` as YAML (loadable again by :func:`load` with the same class)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return path
