"""The registry of data sets: what each one is, where it may be found, and how to know its files.

Every data set here is a 28x28 grey-level, ten-class image set in the IDX format, stored as the
same four gzip files (``FILES``), so one reader (:func:`l2l.data.load_dataset`) serves them all;
a :class:`DatasetSpec` says what differs: the accepted md5 sums, the download mirrors, the
directory a system package installs it in, and the class names.

- ``mnist``: handwritten digits (LeCun, Bottou, Bengio & Haffner, 1998).
- ``fashion-mnist``: Zalando's clothing images (Xiao, Rasul & Vollgraf, 2017, "Fashion-MNIST: a
  Novel Image Dataset for Benchmarking Machine Learning Algorithms"), a harder drop-in replacement
  for MNIST. Debian's package ``dataset-fashion-mnist`` recompressed the archives, so a file is
  accepted with either the original repository's ``.gz`` md5 or Debian's, or when its decompressed
  bytes have the documented md5 (any other recompression of the same contents).

Imports nothing of l2l but the private base pieces.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import zlib
from collections.abc import Mapping

from l2l._errors import L2LError
from l2l._suggest import did_you_mean

__all__ = [
    "ALL_FILES",
    "DATASETS",
    "TEST_FILES",
    "TRAIN_FILES",
    "DatasetError",
    "DatasetSpec",
    "dataset_spec",
]

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
TRAIN_FILES = (TRAIN_IMAGES, TRAIN_LABELS)
TEST_FILES = (TEST_IMAGES, TEST_LABELS)
#: Every data set's four files, in the order they are fetched.
ALL_FILES = TRAIN_FILES + TEST_FILES


class DatasetError(L2LError, ValueError):
    """A data set is unknown, or its files are missing, corrupt, inconsistent or not fetchable."""


@dataclasses.dataclass(frozen=True, eq=False)
class DatasetSpec:
    """One registered data set. ``checksums`` maps each of ``ALL_FILES`` to its md5 sum, or a
    tuple of accepted sums, of the ``.gz`` file; ``decompressed_md5`` (optional, per file) accepts
    any gzip of the same contents. ``mirrors`` are base URLs, tried in order, that serve the four
    files by name."""

    name: str  # the registry key, also the subdirectory looked for in a data root
    title: str  # how messages and descriptions name it
    reference: str
    class_names: tuple[str, ...]
    checksums: Mapping[str, str | tuple[str, ...]]
    mirrors: tuple[str, ...]
    decompressed_md5: Mapping[str, str] = dataclasses.field(default_factory=dict)
    debian_package: str | None = None
    debian_dir: str | None = None  # where that package installs the four files

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def accepted_md5(self, name: str) -> tuple[str, ...]:
        """The accepted md5 sums of file ``name`` as distributed (gzip)."""
        sums = self.checksums[name]
        return (sums,) if isinstance(sums, str) else tuple(sums)

    def accepts(self, name: str, payload: bytes) -> bool:
        """Whether ``payload`` is file ``name`` of this data set: its md5 is an accepted one, or it
        decompresses to bytes with the documented md5."""
        if hashlib.md5(payload).hexdigest() in self.accepted_md5(name):
            return True
        expected = self.decompressed_md5.get(name)
        if expected is None:
            return False
        try:
            contents = gzip.decompress(payload)
        except (gzip.BadGzipFile, EOFError, zlib.error):
            return False
        return hashlib.md5(contents).hexdigest() == expected

    def expected_md5_text(self, name: str) -> str:
        """The accepted sums of ``name`` in words, for a checksum error."""
        sums = self.accepted_md5(name)
        text = f"{sums[0]} (the official sum)" if len(sums) == 1 else "one of " + ", ".join(sums)
        if name in self.decompressed_md5:
            text += f", or decompressed contents with md5 {self.decompressed_md5[name]}"
        return text


MNIST = DatasetSpec(
    name="mnist",
    title="MNIST",
    reference="LeCun, Bottou, Bengio & Haffner, 1998",
    class_names=tuple(str(d) for d in range(10)),
    checksums={  # the official sums of the files as distributed
        TRAIN_IMAGES: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        TRAIN_LABELS: "d53e105ee54ea40749a09fcbcd1e9432",
        TEST_IMAGES: "9fb629c4189551a2d022fa330f9573f3",
        TEST_LABELS: "ec29112dd5afa0611ce80d1b7f02629c",
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST",
    reference="Xiao, Rasul & Vollgraf, 2017",
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    checksums={  # (the original repository's .gz, Debian's recompressed .gz)
        TRAIN_IMAGES: ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "cf8536b0aa1a6ac5fa3f23001093305c"),
        TRAIN_LABELS: ("25c81989df183df01b3e8a0aad5dffbe", "10bea18fdb374794d4bb42e356e600c9"),
        TEST_IMAGES: ("bef4ecab320f06d8554ea6380940ec79", "f78720b4224f21cce2f2ccf2d7a94c9a"),
        TEST_LABELS: ("bb300cfdad3c16e7a12a480ee83cd310", "0d30e22e447f3c33dab9ed536400ac01"),
    },
    decompressed_md5={
        TRAIN_IMAGES: "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        TRAIN_LABELS: "9018921c3c673c538a1fc5bad174d6f9",
        TEST_IMAGES: "8181f5470baa50b63fa0f6fddb340f0a",
        TEST_LABELS: "15d484375f8d13e6eb1aabb0c3f46965",
    },
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
    debian_package="dataset-fashion-mnist",
    debian_dir="/usr/share/datasets/fashion-mnist",
)

#: Every data set the reader serves, by name.
DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}


def dataset_spec(name: str) -> DatasetSpec:
    """The registered data set ``name``; a :class:`DatasetError` with a suggestion otherwise."""
    if name not in DATASETS:
        raise DatasetError(
            f"dataset: unknown data set {name!r}.{did_you_mean(name, DATASETS)} "
            f"Known: {', '.join(sorted(DATASETS))}."
        )
    return DATASETS[name]


def owner_of(name: str, md5: str) -> DatasetSpec | None:
    """The registered data set whose file ``name`` has this ``.gz`` md5, if any."""
    return next((s for s in DATASETS.values() if md5 in s.accepted_md5(name)), None)
