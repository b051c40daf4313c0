"""``load_dataset``: a registered IDX image data set as train / validation / test splits.

The files are found by :mod:`l2l.data.locate` (the ``data_dir`` argument, ``$L2L_DATA_DIR``, a
system package's directory, the user cache, then a download), checked against the registry's md5
sums (:mod:`l2l.data.datasets`), parsed (:func:`l2l.data.read_idx`) and carved:

- **full** (all four files present): train 55,000 / validation 5,000 carved from the official
  60,000-image training split by a seeded permutation; test = the official 10,000-image test split,
  in file order. Held-out comparisons score on that test split.
- **test-split-only** (only the two ``t10k-*`` files present): train 8,000 / validation 1,000 /
  test 1,000 carved from the official test split by a seeded permutation. Numbers measured on this
  test set are *not* comparable to published test accuracies; the loader warns and says so in
  ``Dataset.description``.

Permutations use numpy's legacy ``RandomState``, whose stream numpy keeps fixed across versions
and platforms, so a seed names the same partition everywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from l2l.data.datasets import (
    ALL_FILES,
    TEST_FILES,
    TRAIN_FILES,
    DatasetError,
    DatasetSpec,
    dataset_spec,
    owner_of,
)
from l2l.data.idx import IdxError, read_idx
from l2l.data.locate import locate

__all__ = ["DataSplit", "Dataset", "load_dataset"]

IMAGE_SHAPE = (28, 28)
# Full data set: validation carved from the official training split; train is the rest (55,000).
FULL_VALIDATION_SIZE = 5_000
# Test split only: (train, validation, test) carved from the official 10,000 test images.
TEST_SPLIT_ONLY_SIZES = (8_000, 1_000, 1_000)


class DataSplit(NamedTuple):
    """One split. A NamedTuple of arrays, so it is a JAX pytree (``jax.device_put(split)``)."""

    images: np.ndarray  # float32, (N, 784), grey level / 255 in [0, 1]
    labels: np.ndarray  # int32, (N,), class 0..9
    indices: np.ndarray  # int64, (N,), row of each example in the official file it came from


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """The three splits and where they came from. Arrays are read-only (they are cached)."""

    train: DataSplit
    validation: DataSplit
    test: DataSplit
    source: Literal["full", "test-split-only"]
    description: str
    name: str  # the registry name
    class_names: tuple[str, ...]  # label i is class_names[i]


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    seed: int = 0,
) -> Dataset:
    """Load the registered data set ``name`` (``"mnist"``, ``"fashion-mnist"``) as train /
    validation / test splits of float32 images (N, 784) in [0, 1] and int32 labels.

    Args:
      name: a key of :data:`l2l.data.DATASETS`.
      data_dir: the directory holding the four ``*-ubyte.gz`` files, or a root holding a
        subdirectory named ``name``; when given it is the only place looked. ``None`` searches
        ``$L2L_DATA_DIR``, a system package's directory and the user cache
        (:func:`l2l.data.search_path`).
      download: when no place holds the files, fetch them from the registry's mirrors (into
        ``data_dir``, else ``$L2L_DATA_DIR``, else the user cache).
      seed: the permutation that carves the splits. In test-split-only mode it also picks the
        test set, so compare results only across runs with the same seed.

    Returns:
      A :class:`Dataset` (see the module docstring for the two layouts). Loads are cached
      in-process by data set, directory, file identity (size, mtime) and seed; the arrays are
      read-only.

    Raises:
      DatasetError: an unknown name; files missing (:class:`l2l.data.DatasetNotFoundError`,
        naming every place looked), an md5 mismatch (naming the file), a file that does not
        parse, or contents that are not a 28x28, ten-class image set.
    """
    return _load(dataset_spec(name), data_dir, download=download, seed=seed, opener=None)


def _load(
    spec: DatasetSpec,
    data_dir: str | os.PathLike | None,
    *,
    download: bool,
    seed: int,
    opener: Callable | None,
) -> Dataset:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"load_dataset: seed must be an int in [0, 2**32), got {seed!r}.")
    directory = locate(spec, data_dir, download=download, opener=opener)
    signature = tuple(_file_signature(directory / name) for name in ALL_FILES)
    return _load_cached(spec.name, directory, signature, int(seed))


def _file_signature(path: Path) -> tuple[str, int, int, int] | None:
    """Identity of a file for the cache key: a changed or replaced file is a cache miss."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (path.name, st.st_size, st.st_mtime_ns, st.st_ino)


# --- checking, reading and carving ----------------------------------------------------------------


def _check_md5(spec: DatasetSpec, path: Path) -> None:
    payload = path.read_bytes()
    if spec.accepts(path.name, payload):
        return
    actual = hashlib.md5(payload).hexdigest()
    other = owner_of(path.name, actual)
    whose = (
        f"; it is {other.title}'s {path.name}, so this directory holds {other.title}, not "
        f"{spec.title}"
        if other is not None and other is not spec
        else ""
    )
    raise DatasetError(
        f"{spec.title} file {path} failed its checksum: md5 {actual}, expected "
        f"{spec.expected_md5_text(path.name)}. The file is corrupt or not the original{whose}. "
        f"Delete it and download it again (load_dataset({spec.name!r}, ..., download=True)) or "
        "copy it again from a good source."
    )


def _read_pair(
    spec: DatasetSpec, directory: Path, images_name: str, labels_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Parsed (uint8 images (N, 28, 28), uint8 labels (N,)) after checksums and sanity checks."""
    images_path, labels_path = directory / images_name, directory / labels_name
    for path in (images_path, labels_path):
        _check_md5(spec, path)
    try:
        images, labels = read_idx(images_path), read_idx(labels_path)
    except IdxError as e:
        raise DatasetError(f"{e} Delete the file and download or copy it again.") from e
    where = f"{spec.title} files {images_path} and {labels_path}"
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DatasetError(
            f"{where}: images must be uint8 of shape (N, 28, 28), "
            f"got {images.dtype} {images.shape}."
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DatasetError(
            f"{where}: labels must be uint8 of shape (N,), got {labels.dtype} {labels.shape}."
        )
    if len(images) != len(labels):
        raise DatasetError(f"{where}: {len(images)} images but {len(labels)} labels.")
    if len(labels) and labels.max() >= spec.num_classes:
        raise DatasetError(f"{where}: label {labels.max()} is outside 0..{spec.num_classes - 1}.")
    return images, labels


def _split(images: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> DataSplit:
    x = images[indices].reshape(len(indices), -1).astype(np.float32) / np.float32(255.0)
    y = labels[indices].astype(np.int32)
    i = np.asarray(indices, dtype=np.int64)
    for a in (x, y, i):
        a.flags.writeable = False
    return DataSplit(images=x, labels=y, indices=i)


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, directory: Path, signature: tuple, seed: int) -> Dataset:
    del signature  # part of the cache key only
    spec = dataset_spec(name)
    test_images, test_labels = _read_pair(spec, directory, *TEST_FILES)
    if (directory / TRAIN_FILES[0]).is_file():
        train_images, train_labels = _read_pair(spec, directory, *TRAIN_FILES)
        n = len(train_labels)
        if n <= FULL_VALIDATION_SIZE:
            raise DatasetError(
                f"{spec.title} training files in {directory} hold {n} examples, too few to carve "
                f"a {FULL_VALIDATION_SIZE}-example validation split."
            )
        order = np.random.RandomState(seed).permutation(n)
        n_train = n - FULL_VALIDATION_SIZE
        return Dataset(
            train=_split(train_images, train_labels, order[:n_train]),
            validation=_split(train_images, train_labels, order[n_train:]),
            test=_split(test_images, test_labels, np.arange(len(test_labels))),
            source="full",
            description=(
                f"{spec.title}, full dataset from {directory}: train {n_train:,} / validation "
                f"{FULL_VALIDATION_SIZE:,} carved from the official {n:,}-image training split "
                f"(seeded permutation, seed {seed}); test = the official "
                f"{len(test_labels):,}-image test split."
            ),
            name=spec.name,
            class_names=spec.class_names,
        )

    n = len(test_labels)
    n_train, n_validation, n_test = TEST_SPLIT_ONLY_SIZES
    if n != sum(TEST_SPLIT_ONLY_SIZES):
        raise DatasetError(
            f"{spec.title} test files in {directory} hold {n} examples; the official test split "
            f"has {sum(TEST_SPLIT_ONLY_SIZES):,}."
        )
    order = np.random.RandomState(seed).permutation(n)
    cuts = np.cumsum(TEST_SPLIT_ONLY_SIZES)[:-1]
    train_idx, validation_idx, test_idx = np.split(order, cuts)
    description = (
        f"{spec.title}, test split only: the official training split ({', '.join(TRAIN_FILES)}) "
        f"is not in {directory}, so train {n_train:,} / validation {n_validation:,} / test "
        f"{n_test:,} were carved from the official {n:,}-image test split (seeded permutation, "
        f"seed {seed}). Accuracies on this test set are not comparable to published "
        f"{spec.title} results; for the full dataset put all four files in the data directory."
    )
    warnings.warn(description, stacklevel=4)  # the caller of load_dataset / load_mnist
    return Dataset(
        train=_split(test_images, test_labels, train_idx),
        validation=_split(test_images, test_labels, validation_idx),
        test=_split(test_images, test_labels, test_idx),
        source="test-split-only",
        description=description,
        name=spec.name,
        class_names=spec.class_names,
    )
