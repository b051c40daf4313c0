"""MNIST (LeCun et al., 1998): handwritten digits, 28x28 grey levels, ten classes.

``load_mnist`` finds the four official IDX files in a data directory, checks their md5 sums
against the official ones, parses them and returns three splits:

- **full** (all four files present): train 55,000 / validation 5,000 carved from the official
  60,000-image training split by a seeded permutation; test = the official 10,000-image test split.
- **test-split-only** (only the two ``t10k-*`` files present): train 8,000 / validation 1,000 /
  test 1,000 carved from the official test split by a seeded permutation. Numbers measured on this
  test set are *not* comparable to published MNIST test accuracies; the loader warns and says so in
  ``Mnist.description``.

The data directory is, in order: the ``data_dir`` argument, the ``L2L_DATA_DIR`` environment
variable, ``$XDG_CACHE_HOME/l2l/mnist`` or ``~/.cache/l2l/mnist``. It holds the ``*.gz`` files
themselves (no subdirectory). When files are missing and ``download=True``, the loader fetches
them from the canonical mirrors, checks their md5 and writes them atomically.

Permutations use numpy's legacy ``RandomState``, whose stream numpy keeps fixed across versions
and platforms, so a seed names the same partition everywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.client
import os
import warnings
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.request import urlopen

import numpy as np

from l2l import _atomic
from l2l._errors import L2LError
from l2l.data.idx import IdxError, read_idx

__all__ = [
    "CHECKSUMS",
    "DATA_DIR_ENV",
    "MIRRORS",
    "Mnist",
    "MnistError",
    "MnistSplit",
    "load_mnist",
    "resolve_data_dir",
]

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
TRAIN_FILES = (TRAIN_IMAGES, TRAIN_LABELS)
TEST_FILES = (TEST_IMAGES, TEST_LABELS)
ALL_FILES = TRAIN_FILES + TEST_FILES

# The official md5 sums of the gzip files as distributed.
CHECKSUMS: dict[str, str] = {
    TRAIN_IMAGES: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    TRAIN_LABELS: "d53e105ee54ea40749a09fcbcd1e9432",
    TEST_IMAGES: "9fb629c4189551a2d022fa330f9573f3",
    TEST_LABELS: "ec29112dd5afa0611ce80d1b7f02629c",
}

# Tried in order; each serves the four files under these base URLs.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
DOWNLOAD_TIMEOUT_S = 15.0
DATA_DIR_ENV = "L2L_DATA_DIR"

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
# Full dataset: validation carved from the official training split; train is the rest (55,000).
FULL_VALIDATION_SIZE = 5_000
# Test split only: (train, validation, test) carved from the official 10,000 test images.
TEST_SPLIT_ONLY_SIZES = (8_000, 1_000, 1_000)


class MnistError(L2LError, ValueError):
    """MNIST files are missing, corrupt, inconsistent, or could not be downloaded."""


class MnistSplit(NamedTuple):
    """One split. A NamedTuple of arrays, so it is a JAX pytree (``jax.device_put(split)``)."""

    images: np.ndarray  # float32, (N, 784), grey level / 255 in [0, 1]
    labels: np.ndarray  # int32, (N,), digit 0..9
    indices: np.ndarray  # int64, (N,), row of each example in the official file it came from


@dataclasses.dataclass(frozen=True, eq=False)
class Mnist:
    """The three splits and where they came from. Arrays are read-only (they are cached)."""

    train: MnistSplit
    validation: MnistSplit
    test: MnistSplit
    source: Literal["full", "test-split-only"]
    description: str


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The MNIST directory: ``data_dir``, else ``$L2L_DATA_DIR``, else the user cache directory.

    The cache directory is ``$XDG_CACHE_HOME/l2l/mnist`` when ``XDG_CACHE_HOME`` is an absolute
    path, else ``~/.cache/l2l/mnist``. The result is absolute; it need not exist.
    """
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or None
    if data_dir is None:
        cache_home = os.environ.get("XDG_CACHE_HOME", "")
        base = Path(cache_home) if os.path.isabs(cache_home) else Path.home() / ".cache"
        data_dir = base / "l2l" / "mnist"
    return Path(data_dir).expanduser().resolve()


def load_mnist(
    data_dir: str | os.PathLike | None = None, *, download: bool = True, seed: int = 0
) -> Mnist:
    """Load MNIST as train / validation / test splits of float32 images and int32 labels.

    Args:
      data_dir: the directory holding the ``*-ubyte.gz`` files; ``None`` resolves it with
        ``resolve_data_dir`` (``$L2L_DATA_DIR``, then the user cache directory).
      download: when files are missing, fetch all four from ``MIRRORS`` into ``data_dir``.
        A directory holding exactly the two official test files is complete as it is
        (test-split-only) and is never topped up from the network.
      seed: the permutation that carves the splits. In test-split-only mode it also picks the
        test set, so compare results only across runs with the same seed.

    Returns:
      An ``Mnist`` (see the module docstring for the two layouts). Loads are cached in-process by
      directory, file identity (size, mtime) and seed; the arrays are read-only.

    Raises:
      MnistError: files missing (and not downloadable), an md5 mismatch, an inconsistent set of
        files, a file that does not parse, or contents that are not MNIST-shaped.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"load_mnist: seed must be an int in [0, 2**32), got {seed!r}.")
    directory = resolve_data_dir(data_dir)
    present = {name for name in ALL_FILES if (directory / name).is_file()}

    if present not in (set(ALL_FILES), set(TEST_FILES)):
        missing = [name for name in ALL_FILES if name not in present]
        if not download:
            raise MnistError(_missing_message(directory, present, missing, failures=None))
        failures = _download(directory, missing)
        if failures:
            still_missing = [name for name in missing if name in failures]
            present = {name for name in ALL_FILES if (directory / name).is_file()}
            raise MnistError(_missing_message(directory, present, still_missing, failures))

    signature = tuple(_file_signature(directory / name) for name in ALL_FILES)
    return _load_cached(directory, signature, int(seed))


# --- locating and fetching files ------------------------------------------------------------------


def _file_signature(path: Path) -> tuple[str, int, int, int] | None:
    """Identity of a file for the cache key: a changed or replaced file is a cache miss."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (path.name, st.st_size, st.st_mtime_ns, st.st_ino)


def _missing_message(
    directory: Path,
    present: set[str],
    missing: list[str],
    failures: dict[str, list[str]] | None,
) -> str:
    lines = [f"MNIST files missing in {directory}: {', '.join(missing)}."]
    if present:
        lines.append(f"Present: {', '.join(n for n in ALL_FILES if n in present)}.")
    if failures is None:
        lines.append("Downloading is off (download=False).")
    else:
        lines.append("Downloading failed:")
        for name in missing:
            for failure in failures.get(name, []):
                lines.append(f"  {name}: {failure}")
    lines.append(
        "Put the files in that directory (all four for the full dataset, or just "
        f"{' and '.join(TEST_FILES)} for a split carved from the official test set), "
        f"or point the loader at a directory that has them: load_mnist(data_dir=...) or the "
        f"{DATA_DIR_ENV} environment variable. With network access, load_mnist(download=True) "
        f"fetches them from {MIRRORS[0]}."
    )
    return "\n".join(lines)


def _download(directory: Path, names: list[str]) -> dict[str, list[str]]:
    """Fetch ``names`` into ``directory``; returns {name: [why each mirror failed]} for failures."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return {name: [f"cannot create {directory}: {e}"] for name in names}
    failures: dict[str, list[str]] = {}
    for name in names:
        reasons = []
        for mirror in MIRRORS:
            url = mirror + name
            try:
                with urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                    payload = response.read()
            except (OSError, http.client.HTTPException, ValueError) as e:
                reasons.append(f"{url}: {type(e).__name__}: {e}")
                continue
            actual = hashlib.md5(payload).hexdigest()
            if actual != CHECKSUMS[name]:
                reasons.append(f"{url}: md5 {actual}, expected {CHECKSUMS[name]}")
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


# --- reading, checking and carving ----------------------------------------------------------------


def _check_md5(path: Path) -> None:
    expected = CHECKSUMS[path.name]
    md5 = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            md5.update(chunk)
    actual = md5.hexdigest()
    if actual != expected:
        raise MnistError(
            f"MNIST file {path} failed its checksum: md5 {actual}, expected {expected} (the "
            "official sum). The file is corrupt or not the original. Delete it and download it "
            "again (load_mnist(..., download=True)) or copy it again from a good source."
        )


def _read_pair(
    directory: Path, images_name: str, labels_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Parsed (uint8 images (N, 28, 28), uint8 labels (N,)) after checksums and sanity checks."""
    images_path, labels_path = directory / images_name, directory / labels_name
    for path in (images_path, labels_path):
        _check_md5(path)
    try:
        images, labels = read_idx(images_path), read_idx(labels_path)
    except IdxError as e:
        raise MnistError(f"{e} Delete the file and download or copy it again.") from e
    where = f"MNIST files {images_path} and {labels_path}"
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise MnistError(
            f"{where}: images must be uint8 of shape (N, 28, 28), "
            f"got {images.dtype} {images.shape}."
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise MnistError(
            f"{where}: labels must be uint8 of shape (N,), got {labels.dtype} {labels.shape}."
        )
    if len(images) != len(labels):
        raise MnistError(f"{where}: {len(images)} images but {len(labels)} labels.")
    if len(labels) and labels.max() >= NUM_CLASSES:
        raise MnistError(f"{where}: label {labels.max()} is outside 0..{NUM_CLASSES - 1}.")
    return images, labels


def _split(images: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> MnistSplit:
    x = images[indices].reshape(len(indices), -1).astype(np.float32) / np.float32(255.0)
    y = labels[indices].astype(np.int32)
    i = np.asarray(indices, dtype=np.int64)
    for a in (x, y, i):
        a.flags.writeable = False
    return MnistSplit(images=x, labels=y, indices=i)


@functools.lru_cache(maxsize=4)
def _load_cached(directory: Path, signature: tuple, seed: int) -> Mnist:
    del signature  # part of the cache key only
    test_images, test_labels = _read_pair(directory, *TEST_FILES)
    if (directory / TRAIN_IMAGES).is_file():
        train_images, train_labels = _read_pair(directory, *TRAIN_FILES)
        n = len(train_labels)
        if n <= FULL_VALIDATION_SIZE:
            raise MnistError(
                f"MNIST training files in {directory} hold {n} examples, too few to carve a "
                f"{FULL_VALIDATION_SIZE}-example validation split."
            )
        order = np.random.RandomState(seed).permutation(n)
        n_train = n - FULL_VALIDATION_SIZE
        return Mnist(
            train=_split(train_images, train_labels, order[:n_train]),
            validation=_split(train_images, train_labels, order[n_train:]),
            test=_split(test_images, test_labels, np.arange(len(test_labels))),
            source="full",
            description=(
                f"MNIST, full dataset from {directory}: train {n_train:,} / validation "
                f"{FULL_VALIDATION_SIZE:,} carved from the official {n:,}-image training split "
                f"(seeded permutation, seed {seed}); test = the official "
                f"{len(test_labels):,}-image test split."
            ),
        )

    n = len(test_labels)
    n_train, n_validation, n_test = TEST_SPLIT_ONLY_SIZES
    if n != sum(TEST_SPLIT_ONLY_SIZES):
        raise MnistError(
            f"MNIST test files in {directory} hold {n} examples; the official test split has "
            f"{sum(TEST_SPLIT_ONLY_SIZES):,}."
        )
    order = np.random.RandomState(seed).permutation(n)
    cuts = np.cumsum(TEST_SPLIT_ONLY_SIZES)[:-1]
    train_idx, validation_idx, test_idx = np.split(order, cuts)
    description = (
        f"MNIST, test split only: the official training split ({', '.join(TRAIN_FILES)}) is "
        f"not in {directory}, so train {n_train:,} / validation {n_validation:,} / test "
        f"{n_test:,} were carved from the official {n:,}-image test split (seeded permutation, "
        f"seed {seed}). Accuracies on this test set are not comparable to published MNIST "
        "results; for the full dataset put all four files in the data directory."
    )
    warnings.warn(description, stacklevel=3)
    return Mnist(
        train=_split(test_images, test_labels, train_idx),
        validation=_split(test_images, test_labels, validation_idx),
        test=_split(test_images, test_labels, test_idx),
        source="test-split-only",
        description=description,
    )
