"""Dataset readers: MNIST from the official IDX files, with checksums and a cache directory.

Imports nothing else of ``l2l`` (DESIGN.md).
"""

from l2l.data.idx import IdxError, read_idx
from l2l.data.mnist import Mnist, MnistError, MnistSplit, load_mnist, resolve_data_dir

__all__ = [
    "IdxError",
    "Mnist",
    "MnistError",
    "MnistSplit",
    "load_mnist",
    "read_idx",
    "resolve_data_dir",
]
