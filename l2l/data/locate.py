"""Where a data set's files are: the places looked, in order, and the download that fills one.

The places, in order (:func:`search_path`):

1. the ``data_dir`` argument, when given: then it is the *only* place looked (a path the user
   names is never silently replaced by another);
2. ``$L2L_DATA_DIR``, when set and not empty;
3. the directory a system package installs the data set in (Debian's ``dataset-fashion-mnist``
   puts Fashion-MNIST in ``/usr/share/datasets/fashion-mnist``), where the spec names one;
4. the user cache, ``$XDG_CACHE_HOME/l2l/<name>`` (``XDG_CACHE_HOME`` absolute) or
   ``~/.cache/l2l/<name>``.

A data directory (the argument or ``$L2L_DATA_DIR``) is either the data set's own directory, the
four ``*.gz`` files directly in it, or a root of data sets holding one subdirectory per registered
name (``mnist/``, ``fashion-mnist/``, as ``../shared/data`` is laid out): when ``<dir>/<name>`` is
a directory, that subdirectory is the place looked. The data sets share their file names, so a
directory of MNIST files asked for Fashion-MNIST fails its checksum, and the error says whose files
they are.

The first place holding a complete set is used: all four files, or exactly the two ``t10k-*``
files (a test-split-only directory, complete as it is and never topped up). When none does and
downloading is allowed, the missing files are fetched into the first place that is not a system
directory (the argument, else ``$L2L_DATA_DIR``, else the cache), each checked before it is
written atomically. When nothing is found, a :class:`DatasetNotFoundError` names every place
looked and what to do, in one line.
"""

from __future__ import annotations

import http.client
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.request import urlopen

from l2l import _atomic
from l2l.data.datasets import ALL_FILES, TEST_FILES, DatasetError, DatasetSpec, dataset_spec

__all__ = ["DATA_DIR_ENV", "DatasetNotFoundError", "Place", "locate", "search_path"]

DATA_DIR_ENV = "L2L_DATA_DIR"
DOWNLOAD_TIMEOUT_S = 15.0


class DatasetNotFoundError(DatasetError):
    """No place looked holds a data set's files (and downloading is off or failed)."""


class Place(NamedTuple):
    """One directory looked in, and why it was looked in."""

    path: Path  # absolute; need not exist
    origin: Literal["argument", "environment", "system", "cache"]


def cache_dir(spec: DatasetSpec) -> Path:
    """``$XDG_CACHE_HOME/l2l/<name>`` when ``XDG_CACHE_HOME`` is absolute (the XDG rule), else
    ``~/.cache/l2l/<name>``."""
    cache_home = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache_home) if os.path.isabs(cache_home) else Path.home() / ".cache"
    return (base / "l2l" / spec.name).resolve()


def _own_directory(root: str | os.PathLike, spec: DatasetSpec) -> Path:
    """``root/<name>`` when that is a directory (a root of data sets), else ``root`` itself."""
    root = Path(root).expanduser().resolve()
    return root / spec.name if (root / spec.name).is_dir() else root


def search_path(
    dataset: str | DatasetSpec, data_dir: str | os.PathLike | None = None
) -> tuple[Place, ...]:
    """The places looked for ``dataset``'s files, in order (see the module docstring)."""
    spec = dataset if isinstance(dataset, DatasetSpec) else dataset_spec(dataset)
    if data_dir is not None:
        return (Place(_own_directory(data_dir, spec), "argument"),)
    places = []
    if os.environ.get(DATA_DIR_ENV):
        places.append(Place(_own_directory(os.environ[DATA_DIR_ENV], spec), "environment"))
    if spec.debian_dir:
        places.append(Place(Path(spec.debian_dir), "system"))
    places.append(Place(cache_dir(spec), "cache"))
    return tuple(places)


def _present(directory: Path) -> set[str]:
    return {name for name in ALL_FILES if (directory / name).is_file()}


def _complete(present: set[str]) -> bool:
    return present in (set(ALL_FILES), set(TEST_FILES))


def locate(
    spec: DatasetSpec,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    opener: Callable | None = None,
) -> Path:
    """The directory holding ``spec``'s files, downloading them when allowed and needed.

    ``opener`` fetches a URL (``urllib.request.urlopen`` by default; tests pass a fake).
    """
    places = search_path(spec, data_dir)
    for place in places:
        if _complete(_present(place.path)):
            return place.path
    if not download:
        raise DatasetNotFoundError(_not_found_message(spec, places, None, None))
    target = next(p.path for p in places if p.origin != "system")
    missing = [name for name in ALL_FILES if name not in _present(target)]
    failures = _download(spec, target, missing, opener or urlopen)
    if failures:
        raise DatasetNotFoundError(_not_found_message(spec, places, target, failures))
    return target


def _download(
    spec: DatasetSpec, directory: Path, names: list[str], opener: Callable
) -> dict[str, list[str]]:
    """Fetch ``names`` into ``directory``; returns {name: [why each mirror failed]} for failures."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return {name: [f"cannot create {directory}: {e}"] for name in names}
    failures: dict[str, list[str]] = {}
    for name in names:
        reasons = []
        for mirror in spec.mirrors:
            url = mirror + name
            try:
                with opener(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                    payload = response.read()
            except (OSError, http.client.HTTPException, ValueError) as e:
                reasons.append(f"{url}: {type(e).__name__}: {e}")
                continue
            if not spec.accepts(name, payload):
                reasons.append(f"{url}: wrong md5, expected {spec.expected_md5_text(name)}")
                continue
            try:
                _atomic.write_bytes(directory / name, payload)
            except OSError as e:
                reasons.append(f"cannot write {directory / name}: {e}")
                break  # every mirror would fail the same way
            reasons = []
            break
        if reasons:
            failures[name] = reasons
    return failures


_ORIGINS = {
    "argument": "the data_dir argument",
    "environment": f"${DATA_DIR_ENV}",
    "cache": "the user cache",
}


def _not_found_message(
    spec: DatasetSpec,
    places: tuple[Place, ...],
    target: Path | None,
    failures: dict[str, list[str]] | None,
) -> str:
    """One line: every place looked and what it lacks, the download's fate, and what to do."""
    where, present_notes = [], []
    for place in places:
        present = _present(place.path)
        if not place.path.is_dir():
            where.append(f"{place.path}: no such directory")
            continue
        where.append(f"{place.path}: {', '.join(n for n in ALL_FILES if n not in present)}")
        if present:
            listed = ", ".join(n for n in ALL_FILES if n in present)
            present_notes.append(f"Present in {place.path}: {listed}.")
    origins = [
        f"the Debian package {spec.debian_package}'s directory"
        if p.origin == "system"
        else _ORIGINS[p.origin]
        for p in places
    ]
    parts = [f"{spec.title} files missing in {'; in '.join(where)}."]
    parts.append(f"Looked in {', then '.join(origins)}.")
    parts += present_notes
    if failures is None:
        parts.append("Downloading is off (download=False).")
    else:
        reasons = "; ".join(f"{n}: {r}" for n in ALL_FILES for r in failures.get(n, []))
        parts.append(f"Downloading into {target} failed: {reasons}.")
    to_fix = [
        f"put the files in one of those directories (all four, {', '.join(ALL_FILES)}, for the "
        f"full data set, or just the two t10k files for a split carved from the official test "
        "set)",
        f"point the loader at a directory that has them (data_dir=..., task.data_dir in a "
        f"config, or the {DATA_DIR_ENV} environment variable: the data set's directory or a "
        f"directory holding a '{spec.name}' subdirectory)",
    ]
    if spec.debian_package:
        to_fix.append(f"install Debian's package (apt-get install {spec.debian_package})")
    to_fix.append(f"with network access, allow downloading (download=True) from {spec.mirrors[0]}")
    parts.append("To fix: " + "; or ".join(to_fix) + ".")
    return " ".join(parts)
