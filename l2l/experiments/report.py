"""What every experiment's report shares: its JSON, the opening of ``write()``, number formats.

A report is a dataclass holding every number an experiment shows; :func:`jsonable` turns it (and
everything in it: nested dataclasses, configs, NumPy arrays and scalars, tuples, mappings) into
JSON-ready values, with no ``to_json`` written per type. A report class steers it with three
declarations:

- ``__json_extra__``: names of properties written after the fields (derived numbers a reader wants,
  e.g. a median of paired ratios);
- ``__json_omit_none__``: leave out fields whose value is None;
- a field's ``metadata={"json": convert}``: a conversion of that field's value (e.g.
  :func:`compact`: float32 curves at seven significant digits, non-finite values as null).

:func:`write_report` is the one opening of every ``write()``: the output directory, the JSON of
every number (``results.json`` by default), text files (tables), figures, and the config beside
them (``config.yaml``), returned as the list of paths the command prints.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from l2l.config import save

# --------------------------------------------------------------------------- JSON


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready Python values (see the module docstring). Non-finite floats stay
    floats (``json.dumps`` writes them as ``NaN``/``Infinity``) unless a field converts them."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        omit_none = getattr(value, "__json_omit_none__", False)
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if omit_none and item is None:
                continue
            convert = f.metadata.get("json")
            out[f.name] = jsonable(item if convert is None else convert(item))
        for name in getattr(value, "__json_extra__", ()):
            out[name] = jsonable(getattr(value, name))
        return out
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def compact(array: Any) -> Any:
    """Numbers at seven significant digits (float32's precision), non-finite ones as None; keeps
    the nesting of ``array`` (a curve, a trajectory, a single number)."""
    out = np.asarray(array, np.float64)
    if out.ndim == 0:
        x = float(out)
        return float(f"{x:.7g}") if math.isfinite(x) else None
    return [compact(row) for row in out]


def json_field(convert: Callable[[Any], Any], **kwargs) -> Any:
    """A report dataclass field whose value is converted by ``convert`` when written."""
    return dataclasses.field(metadata={"json": convert}, **kwargs)


# --------------------------------------------------------------------------- numbers per seed


@dataclasses.dataclass
class Stats:
    """A number measured once per seed: its mean and sample standard deviation over the seeds."""

    mean: float
    sd: float  # 0 for one seed
    per_seed: list[float]

    @classmethod
    def of(cls, values) -> Stats:
        values = np.asarray(values, np.float64)
        sd = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
        return cls(float(np.mean(values)), sd, values.tolist())


def stats_of(data: dict | None) -> Stats | None:
    """A per-seed number read back from its JSON (None stays None)."""
    return None if data is None else Stats(data["mean"], data["sd"], list(data["per_seed"]))


# --------------------------------------------------------------------------- writing


def write_report(
    report: Any,
    output_dir: str | Path,
    *,
    json_name: str = "results.json",
    texts: Mapping[str, str] | None = None,
    figures: Callable[[Path], list[Path]] | None = None,
    config: Any = None,
) -> list[Path]:
    """Writes ``output_dir/json_name`` (every number of ``report``), each ``texts`` file (name ->
    content), the ``figures`` (a function of the directory returning their paths) and
    ``config.yaml`` (``config``, by default ``report.config``); returns the paths in that order."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / json_name
    json_path.write_text(json.dumps(jsonable(report), indent=1, allow_nan=True, ensure_ascii=False))
    paths = [json_path]
    for name, text in (texts or {}).items():
        (out / name).write_text(text if text.endswith("\n") else text + "\n")
        paths.append(out / name)
    if figures is not None:
        paths += figures(out)
    paths.append(save(report.config if config is None else config, out / "config.yaml"))
    return paths


# --------------------------------------------------------------------------- numbers in tables


def number(x: float | None) -> str:
    """Three significant digits, scientific outside [1e-3, 1e3); "—" for None; ``inf``/``nan``
    as Python writes them."""
    if x is None:
        return "—"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e3 or x == 0 else f"{x:.2e}"


def mean_sd(stats: Any, digits: int = 2) -> str:
    """A per-seed number (``mean``, ``sd``) as ``mean ± sd``."""
    return f"{stats.mean:.{digits}f} ± {stats.sd:.{digits}f}"


def steps_for(epochs: int, num_examples: int, batch_size: int) -> int:
    """Optimizee steps of ``epochs`` epochs, an epoch being ``ceil(num_examples / batch_size)``."""
    return epochs * math.ceil(num_examples / batch_size)


# --------------------------------------------------------------------------- names in legends

_FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")

# How a hyperparameter is written in legends and titles (the symbols of l2l.optimizers' docs).
SYMBOLS = {
    "learning_rate": "η",
    "momentum": "γ",
    "decay": "γ",
    "rho": "ρ",
    "initial_delta": "D₀",
    "eps": "ε",
    "eps_root": "ε_root",
    "b1": "β₁",
    "b2": "β₂",
    "points": "K",
}


def format_hyperparams(hyperparams: Mapping[str, Any]) -> str:
    """``{'learning_rate': 0.25, 'momentum': 0.9}`` -> ``'η=0.25, γ=0.9'``."""
    return ", ".join(f"{SYMBOLS.get(k, k)}={v:g}" for k, v in hyperparams.items())


def check_file_name(what: str, name: str) -> None:
    """Refuses a name that would not make a plain file name (it names an output file)."""
    if not _FILE_NAME.match(name):
        raise ValueError(
            f'{what} {name!r} names an output file: use letters, digits, "_", "-" and "." only'
        )
