"""MNIST (LeCun et al., 1998): handwritten digits, 28x28 grey levels, ten classes.

``load_mnist`` is ``load_dataset("mnist", ...)`` (:mod:`l2l.data.loader`): the four official IDX
files, checked against their official md5 sums, carved into three splits:

- **full** (all four files present): train 55,000 / validation 5,000 carved from the official
  60,000-image training split by a seeded permutation; test = the official 10,000-image test split.
- **test-split-only** (only the two ``t10k-*`` files present): train 8,000 / validation 1,000 /
  test 1,000 carved from the official test split by a seeded permutation. Numbers measured on this
  test set are *not* comparable to published MNIST test accuracies; the loader warns and says so in
  ``Mnist.description``.

The data directory is the ``data_dir`` argument, else the first of ``$L2L_DATA_DIR`` and
``$XDG_CACHE_HOME/l2l/mnist`` (or ``~/.cache/l2l/mnist``) that holds the files; a data directory
holds the ``*.gz`` files themselves, or an ``mnist/`` subdirectory that does
(:mod:`l2l.data.locate`). When the files are missing and ``download=True``, the loader fetches them
from the canonical mirrors, checks their md5 and writes them atomically.

The names below (``Mnist``, ``MnistSplit``, ``MnistError``, ``CHECKSUMS``, ``MIRRORS``) are the
generic reader's, kept under the names MNIST code has always used.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.request import urlopen

from l2l.data.datasets import MNIST, DatasetError
from l2l.data.loader import (
    Dataset,
    DataSplit,
    _load,
    _load_cached,  # noqa: F401  (the loader's cache, shared by every data set)
)
from l2l.data.locate import DATA_DIR_ENV, search_path

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

Mnist = Dataset
MnistSplit = DataSplit
MnistError = DatasetError
#: The official md5 sums of the gzip files as distributed (the registry's own dict).
CHECKSUMS = MNIST.checksums
#: Tried in order; each serves the four files under these base URLs.
MIRRORS = MNIST.mirrors


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The MNIST directory looked in first: ``data_dir``, else ``$L2L_DATA_DIR``, else the user
    cache directory (``$XDG_CACHE_HOME/l2l/mnist`` when ``XDG_CACHE_HOME`` is an absolute path,
    else ``~/.cache/l2l/mnist``); a directory's ``mnist/`` subdirectory when it has one. The result
    is absolute; it need not exist.
    """
    return search_path(MNIST, data_dir)[0].path


def load_mnist(
    data_dir: str | os.PathLike | None = None, *, download: bool = True, seed: int = 0
) -> Mnist:
    """Load MNIST as train / validation / test splits of float32 images and int32 labels.

    Args:
      data_dir: the directory holding the ``*-ubyte.gz`` files; ``None`` searches
        ``$L2L_DATA_DIR``, then the user cache directory.
      download: when files are missing, fetch all four from ``MIRRORS`` into ``data_dir`` (else
        ``$L2L_DATA_DIR``, else the cache). A directory holding exactly the two official test
        files is complete as it is (test-split-only) and is never topped up from the network.
      seed: the permutation that carves the splits. In test-split-only mode it also picks the
        test set, so compare results only across runs with the same seed.

    Returns:
      An ``Mnist`` (see the module docstring for the two layouts). Loads are cached in-process by
      directory, file identity (size, mtime) and seed; the arrays are read-only.

    Raises:
      MnistError: files missing (and not downloadable), an md5 mismatch, an inconsistent set of
        files, a file that does not parse, or contents that are not MNIST-shaped.
    """
    # ``urlopen`` is looked up here, at call time, so a test can replace this module's opener.
    return _load(MNIST, data_dir, download=download, seed=seed, opener=urlopen)
