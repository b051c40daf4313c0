"""The IDX file format (LeCun et al., 1998): a tiny header, then a dense big-endian array.

Layout of a file (optionally gzip-compressed as a whole)::

    bytes 0-1   0x00 0x00                      magic
    byte  2     dtype code (see ``IDX_DTYPES``)
    byte  3     ndim
    4 * ndim    dimensions, big-endian unsigned 32-bit ints
    rest        prod(dims) items of the dtype, big-endian, C order

``read_idx`` checks every part of that layout and refuses a file that does not match it exactly:
a wrong magic, an unknown dtype code, a payload shorter *or* longer than the header promises, or a
damaged gzip stream is an ``IdxError`` naming the file, never a silently wrong array.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

from l2l._errors import L2LError

__all__ = ["IDX_DTYPES", "IdxError", "read_idx"]

# dtype code -> big-endian numpy dtype of one item.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),  # unsigned byte
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short
    0x0C: np.dtype(">i4"),  # int
    0x0D: np.dtype(">f4"),  # float
    0x0E: np.dtype(">f8"),  # double
}

_GZIP_MAGIC = b"\x1f\x8b"


class IdxError(L2LError, ValueError):
    """A file is not a well-formed IDX file (or its gzip stream is damaged)."""


def _read_bytes(path: str) -> bytes:
    """The file's bytes, gunzipped when the file starts with the gzip magic number."""
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise IdxError(
            f"{path}: the gzip stream is damaged ({type(e).__name__}: {e}); the file is corrupt or "
            "was cut short. Delete it and download or copy it again."
        ) from e


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, plain or gzip-compressed (detected from its first bytes, not its name).

    Args:
      path: the file.

    Returns:
      A new, writable array in native byte order with the header's shape and dtype
      (``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or ``float64``).

    Raises:
      FileNotFoundError: the file does not exist.
      IdxError: bad magic, unknown dtype code, a header or payload of the wrong length, or a
        damaged gzip stream. The message names the file and what is wrong.
    """
    path = os.fspath(path)
    data = _read_bytes(path)

    if len(data) < 4:
        raise IdxError(f"{path}: only {len(data)} bytes; an IDX file starts with a 4-byte header.")
    if data[0] != 0 or data[1] != 0:
        raise IdxError(
            f"{path}: bad magic number {data[:4].hex()}; an IDX file starts with two zero bytes. "
            "This is not an IDX file (or it is corrupt)."
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IdxError(f"{path}: unknown IDX dtype code 0x{code:02X} (known codes: {known}).")
    dtype = IDX_DTYPES[code]

    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IdxError(
            f"{path}: truncated header: {ndim} dimensions need {header_len} header bytes, "
            f"the file has {len(data)}."
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise IdxError(
            f"{path}: payload {what}: the header says shape {shape} of {dtype.newbyteorder('=')} "
            f"({expected} bytes), the file holds {actual} bytes after the header."
        )
    items = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return items.astype(dtype.newbyteorder("="))
