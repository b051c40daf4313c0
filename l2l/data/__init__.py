"""Dataset readers: 28x28 ten-class IDX image sets (MNIST, Fashion-MNIST) from the official files,
with checksums, a search path of data directories and an optional download.

``load_dataset(name, data_dir=None, *, download=True, seed=0)`` serves every data set registered
in :data:`DATASETS`; ``load_mnist`` is ``load_dataset("mnist", ...)``. Imports nothing else of
``l2l`` (DESIGN.md).
"""

from l2l.data.datasets import DATASETS, DatasetError, DatasetSpec, dataset_spec
from l2l.data.idx import IdxError, read_idx
from l2l.data.loader import Dataset, DataSplit, load_dataset
from l2l.data.locate import DATA_DIR_ENV, DatasetNotFoundError, Place, search_path
from l2l.data.mnist import Mnist, MnistError, MnistSplit, load_mnist, resolve_data_dir

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "DataSplit",
    "Dataset",
    "DatasetError",
    "DatasetNotFoundError",
    "DatasetSpec",
    "IdxError",
    "Mnist",
    "MnistError",
    "MnistSplit",
    "Place",
    "dataset_spec",
    "load_dataset",
    "load_mnist",
    "read_idx",
    "resolve_data_dir",
    "search_path",
]
