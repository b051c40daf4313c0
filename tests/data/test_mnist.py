"""Tests for l2l.data: the IDX reader and the MNIST loader.

No test touches the network: downloads go through a fake ``urlopen`` patched into l2l.data.mnist.
The real data is the official MNIST test split at ``<repo>/../shared/data/mnist``.
"""

import collections
import gzip
import hashlib
import io
import os
import re
import shutil
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from l2l.data import IdxError, Mnist, MnistError, load_mnist, read_idx, resolve_data_dir
from l2l.data import mnist as mnist_module

# The loader's test-split warning is asserted in test_test_split_only_warns; elsewhere it is noise.
pytestmark = pytest.mark.filterwarnings("ignore:MNIST, test split only:UserWarning")

SHARED_MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
T10K_IMAGES = "t10k-images-idx3-ubyte.gz"
T10K_LABELS = "t10k-labels-idx1-ubyte.gz"
TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
ALL_FILES = (TRAIN_IMAGES, TRAIN_LABELS, T10K_IMAGES, T10K_LABELS)

# Published facts about the official 10,000-image test split (independent of this loader).
OFFICIAL_TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
OFFICIAL_TEST_FIRST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
OFFICIAL_MD5 = {
    TRAIN_IMAGES: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    TRAIN_LABELS: "d53e105ee54ea40749a09fcbcd1e9432",
    T10K_IMAGES: "9fb629c4189551a2d022fa330f9573f3",
    T10K_LABELS: "ec29112dd5afa0611ce80d1b7f02629c",
}

IDX_CODES = {
    "uint8": 0x08,
    "int8": 0x09,
    "int16": 0x0B,
    "int32": 0x0C,
    "float32": 0x0D,
    "float64": 0x0E,
}


# --- helpers --------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """Our own IDX writer: magic, dtype code, ndim, big-endian dims, big-endian payload."""
    header = struct.pack(">BBBB", 0, 0, IDX_CODES[array.dtype.name], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, payload: bytes, *, gz: bool) -> Path:
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def copy_test_split(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in (T10K_IMAGES, T10K_LABELS):
        shutil.copyfile(SHARED_MNIST / name, directory / name)
    return directory


def row_multiset(images: np.ndarray, labels: np.ndarray) -> collections.Counter:
    """Each example as hashable (image bytes, label); a Counter so duplicates would count."""
    images = np.asarray(images).reshape(len(labels), -1)
    return collections.Counter(zip(map(bytes, images), labels.tolist(), strict=True))


def pixels_as_uint8(images: np.ndarray) -> np.ndarray:
    """Invert the loader's x / 255 scaling exactly (every grey level is k / 255)."""
    return np.rint(images * 255.0).astype(np.uint8)


def no_network(url, timeout=None):
    raise AssertionError(f"the test tried to open {url}")


@pytest.fixture
def shared_mnist() -> Path:
    if not SHARED_MNIST.is_dir():
        pytest.skip(f"the shared MNIST test split is not at {SHARED_MNIST}")
    return SHARED_MNIST


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Any test that reaches the opener without patching it fails instead of going online."""
    monkeypatch.setattr(mnist_module, "urlopen", no_network)
    monkeypatch.delenv("L2L_DATA_DIR", raising=False)


@pytest.fixture
def raw_test_split(shared_mnist):
    return read_idx(shared_mnist / T10K_IMAGES), read_idx(shared_mnist / T10K_LABELS)


# --- read_idx -------------------------------------------------------------------------------------


def test_read_idx_decodes_a_hand_written_file(tmp_path):
    # int16 (0x0B), 2 dims (2, 1): 0x0102 = 258 and 0xFFFE = -2, big-endian.
    payload = bytes([0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0x01, 0x02, 0xFF, 0xFE])
    out = read_idx(write(tmp_path / "h.idx", payload, gz=False))
    assert out.dtype == np.int16 and out.dtype.isnative
    np.testing.assert_array_equal(out, [[258], [-2]])


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", list(IDX_CODES))
def test_read_idx_round_trip(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)
        array.flat[:2] = [info.min, info.max]
    else:
        array = (rng.standard_normal((3, 4, 5)) * 1e3).astype(dtype)
        array.flat[:2] = [np.finfo(dtype).tiny, -np.finfo(dtype).max]
    path = write(tmp_path / ("a.idx.gz" if gz else "a.idx"), idx_bytes(array), gz=gz)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)
    out[0, 0, 0] = 0  # a fresh, writable array


def test_read_idx_detects_gzip_from_content_not_name(tmp_path):
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(
        read_idx(write(tmp_path / "plain.gz", idx_bytes(array), gz=False)), array
    )
    np.testing.assert_array_equal(
        read_idx(write(tmp_path / "packed.idx", idx_bytes(array), gz=True)), array
    )


GOOD = idx_bytes(np.arange(24, dtype=np.int32).reshape(2, 3, 4))


@pytest.mark.parametrize(
    "name, payload, gz, message",
    [
        ("magic.idx", b"\x01" + GOOD[1:], False, "bad magic number"),
        ("dtype.idx.gz", GOOD[:2] + b"\x0a" + GOOD[3:], True, "unknown IDX dtype code 0x0A"),
        ("short.idx.gz", GOOD[:-1], True, "payload truncated"),
        ("long.idx", GOOD + b"\x00", False, "payload has trailing bytes"),
        ("header.idx", GOOD[:10], False, "truncated header"),
        ("tiny.idx", b"\x00\x00", False, "only 2 bytes"),
    ],
)
def test_read_idx_rejects_malformed_files(tmp_path, name, payload, gz, message):
    path = write(tmp_path / name, payload, gz=gz)
    with pytest.raises(IdxError, match=re.escape(str(path)) + ".*" + re.escape(message)):
        read_idx(path)


def test_read_idx_rejects_truncated_gzip_stream(tmp_path):
    packed = gzip.compress(GOOD)
    path = tmp_path / "cut.idx.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(IdxError, match=re.escape(str(path)) + ".*gzip stream is damaged"):
        read_idx(path)


def test_read_idx_rejects_gzip_crc_error(tmp_path):
    packed = bytearray(gzip.compress(GOOD))
    packed[-8] ^= 0xFF  # the CRC32 field of the gzip trailer
    path = tmp_path / "crc.idx.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(IdxError, match=re.escape(str(path)) + ".*gzip stream is damaged.*CRC"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.idx")


# --- the real test split --------------------------------------------------------------------------


def test_shared_files_are_the_official_ones(shared_mnist, raw_test_split):
    for name in (T10K_IMAGES, T10K_LABELS):
        assert md5(shared_mnist / name) == OFFICIAL_MD5[name]
    images, labels = raw_test_split
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.tolist()[:10] == OFFICIAL_TEST_FIRST_LABELS
    assert np.bincount(labels, minlength=10).tolist() == OFFICIAL_TEST_LABEL_COUNTS


def test_test_split_only_carve(shared_mnist, raw_test_split):
    data = load_mnist(shared_mnist, download=False)
    assert isinstance(data, Mnist)
    assert data.source == "test-split-only"
    assert "carved from the official 10,000-image test split" in data.description
    assert "not comparable" in data.description

    splits = (data.train, data.validation, data.test)
    assert [len(s.labels) for s in splits] == [8_000, 1_000, 1_000]
    for split in splits:
        assert split.images.shape == (len(split.labels), 784)
        assert split.images.dtype == np.float32 and split.labels.dtype == np.int32
        assert split.images.min() == 0.0 and split.images.max() == 1.0

    counts = sum(np.bincount(s.labels, minlength=10) for s in splits)
    assert counts.tolist() == OFFICIAL_TEST_LABEL_COUNTS

    # A partition of the 10,000 examples, checked on the content (not the loader's bookkeeping).
    images, labels = raw_test_split
    carved = sum(
        (row_multiset(pixels_as_uint8(s.images), s.labels) for s in splits), collections.Counter()
    )
    assert carved == row_multiset(images, labels)
    # ... and on the indices, which point at each example's row in the official file.
    all_indices = np.concatenate([s.indices for s in splits])
    np.testing.assert_array_equal(np.sort(all_indices), np.arange(10_000))
    for split in splits:
        np.testing.assert_array_equal(split.labels, labels[split.indices])
        np.testing.assert_array_equal(
            pixels_as_uint8(split.images), images[split.indices].reshape(-1, 784)
        )


def test_carve_is_deterministic_and_pinned(shared_mnist):
    mnist_module._load_cached.cache_clear()
    first = load_mnist(shared_mnist, download=False)
    mnist_module._load_cached.cache_clear()
    second = load_mnist(shared_mnist, download=False)
    assert first is not second
    pairs = zip(
        (first.train, first.validation, first.test),
        (second.train, second.validation, second.test),
        strict=True,
    )
    for a, b in pairs:
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.images, b.images)
    # Regression pin: numpy's legacy RandomState(0) stream is frozen across versions and platforms.
    assert first.train.indices[:8].tolist() == [9394, 898, 2398, 5906, 2343, 8225, 5506, 6451]
    assert np.bincount(first.test.labels, minlength=10).tolist() == [
        98,
        110,
        108,
        95,
        102,
        95,
        97,
        103,
        93,
        99,
    ]

    other = load_mnist(shared_mnist, download=False, seed=1)
    assert not np.array_equal(other.test.indices, first.test.indices)
    assert sorted(
        np.concatenate([other.train.indices, other.validation.indices, other.test.indices])
    ) == list(range(10_000))


def test_load_is_cached_and_read_only(shared_mnist):
    a = load_mnist(shared_mnist, download=False)
    assert load_mnist(str(shared_mnist), download=False) is a
    with pytest.raises(ValueError):
        a.train.images[0, 0] = 1.0


def test_test_split_only_warns(tmp_path, shared_mnist):
    directory = copy_test_split(tmp_path / "m")
    with pytest.warns(UserWarning, match="carved from the official 10,000-image test split"):
        load_mnist(directory, download=False)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True])
def test_bad_seed(seed, shared_mnist):
    with pytest.raises(ValueError, match="seed must be an int"):
        load_mnist(shared_mnist, download=False, seed=seed)


# --- checksums and sanity -------------------------------------------------------------------------


def test_checksum_mismatch_names_the_file(tmp_path, shared_mnist):
    directory = copy_test_split(tmp_path / "m")
    labels_path = directory / T10K_LABELS
    payload = bytearray(gzip.decompress(labels_path.read_bytes()))
    payload[8] = (payload[8] + 1) % 10  # first label 7 -> 8: still a valid IDX file
    labels_path.write_bytes(gzip.compress(bytes(payload)))
    assert read_idx(labels_path)[0] == 8

    actual = md5(labels_path)
    expected = OFFICIAL_MD5[T10K_LABELS]
    with pytest.raises(MnistError) as info:
        load_mnist(directory, download=False)
    message = str(info.value)
    assert str(labels_path) in message
    assert actual in message and expected in message
    assert "Delete it and download it again" in message


def test_cache_notices_a_replaced_file(tmp_path, shared_mnist):
    directory = copy_test_split(tmp_path / "m")
    with pytest.warns(UserWarning):
        load_mnist(directory, download=False)
    (directory / T10K_LABELS).write_bytes(b"garbage")
    with pytest.raises(MnistError, match="failed its checksum"):
        load_mnist(directory, download=False)


def _fake_pair(
    directory: Path, monkeypatch, images: np.ndarray, labels: np.ndarray
) -> tuple[Path, Path]:
    """Write t10k files with these contents and accept their md5 as official."""
    directory.mkdir()
    images_path = write(directory / T10K_IMAGES, idx_bytes(images), gz=True)
    labels_path = write(directory / T10K_LABELS, idx_bytes(labels), gz=True)
    for path in (images_path, labels_path):
        monkeypatch.setitem(mnist_module.CHECKSUMS, path.name, md5(path))
    return images_path, labels_path


@pytest.mark.parametrize(
    "images, labels, message",
    [
        (np.zeros((5, 28, 28), np.uint8), np.zeros(4, np.uint8), "5 images but 4 labels"),
        (
            np.zeros((4, 28, 28), np.uint8),
            np.array([0, 9, 10, 1], np.uint8),
            "label 10 is outside 0..9",
        ),
        (np.zeros((4, 28, 27), np.uint8), np.zeros(4, np.uint8), r"shape \(N, 28, 28\)"),
        (np.zeros((4, 28, 28), np.float32), np.zeros(4, np.uint8), "images must be uint8"),
        (np.zeros((4, 28, 28), np.uint8), np.zeros((4, 1), np.uint8), "labels must be uint8"),
    ],
)
def test_contents_that_are_not_mnist(tmp_path, monkeypatch, images, labels, message):
    images_path, labels_path = _fake_pair(tmp_path / "m", monkeypatch, images, labels)
    with pytest.raises(
        MnistError, match=re.escape(f"{images_path} and {labels_path}") + ".*" + message
    ):
        load_mnist(tmp_path / "m", download=False)


def test_unparseable_file_with_matching_checksum(tmp_path, monkeypatch):
    images_path, _ = _fake_pair(
        tmp_path / "m", monkeypatch, np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.uint8)
    )
    images_path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 5))
    monkeypatch.setitem(mnist_module.CHECKSUMS, T10K_IMAGES, md5(images_path))
    with pytest.raises(MnistError, match=re.escape(str(images_path)) + ".*truncated header"):
        load_mnist(tmp_path / "m", download=False)


def test_wrong_size_test_split(tmp_path, monkeypatch):
    _fake_pair(tmp_path / "m", monkeypatch, np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.uint8))
    with pytest.raises(MnistError, match="hold 4 examples; the official test split has 10,000"):
        load_mnist(tmp_path / "m", download=False)


# --- missing files and downloads ------------------------------------------------------------------


def test_missing_files_without_download(tmp_path):
    directory = tmp_path / "empty"
    with pytest.raises(MnistError) as info:
        load_mnist(directory, download=False)
    message = str(info.value)
    assert f"MNIST files missing in {directory}" in message
    for name in ALL_FILES:
        assert name in message
    assert "L2L_DATA_DIR" in message and "data_dir" in message and "download=False" in message
    assert not directory.exists()  # nothing created when not downloading


def test_train_without_test_split_is_an_error(tmp_path, shared_mnist):
    directory = tmp_path / "m"
    directory.mkdir()
    shutil.copyfile(shared_mnist / T10K_IMAGES, directory / TRAIN_IMAGES)
    shutil.copyfile(shared_mnist / T10K_LABELS, directory / TRAIN_LABELS)
    with pytest.raises(
        MnistError, match=re.escape(f"missing in {directory}: {T10K_IMAGES}, {T10K_LABELS}.")
    ):
        load_mnist(directory, download=False)


def test_no_network_error(tmp_path, monkeypatch):
    calls = []

    def unreachable(url, timeout=None):
        calls.append((url, timeout))
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(mnist_module, "urlopen", unreachable)
    directory = tmp_path / "cache"
    with pytest.raises(MnistError) as info:
        load_mnist(directory)
    message = str(info.value)
    assert f"MNIST files missing in {directory}" in message
    for name in ALL_FILES:
        assert name in message
    assert "no route to host" in message and "L2L_DATA_DIR" in message and "data_dir" in message
    assert [url for url, _ in calls] == [m + n for n in ALL_FILES for m in mnist_module.MIRRORS]
    assert all(0 < timeout <= 60 for _, timeout in calls)
    assert list(directory.iterdir()) == []


class Server:
    """A fake urlopen: serves file bytes by URL and checks that nothing lands before it is whole."""

    def __init__(self, directory: Path, routes: dict[str, bytes]):
        self.directory, self.routes, self.urls = directory, routes, []

    def __call__(self, url, timeout=None):
        self.urls.append(url)
        assert timeout is not None and timeout <= 60
        if url not in self.routes:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        name = url.rsplit("/", 1)[1]
        assert not (self.directory / name).exists()  # not written before the bytes are verified
        return io.BytesIO(self.routes[url])


def test_download_full_dataset(tmp_path, monkeypatch, shared_mnist, raw_test_split):
    # No network and no official training split here: serve the test split under all four names
    # and accept its md5 for the training names, which drives the full-dataset path end to end.
    monkeypatch.setitem(mnist_module.CHECKSUMS, TRAIN_IMAGES, OFFICIAL_MD5[T10K_IMAGES])
    monkeypatch.setitem(mnist_module.CHECKSUMS, TRAIN_LABELS, OFFICIAL_MD5[T10K_LABELS])
    source = {n: (shared_mnist / n.replace("train", "t10k")).read_bytes() for n in ALL_FILES}
    first, second = mnist_module.MIRRORS[:2]
    routes = {
        first + n: b"corrupt " + source[n] for n in ALL_FILES
    }  # wrong md5: try the next mirror
    routes.update({second + n: source[n] for n in ALL_FILES})
    directory = tmp_path / "new" / "mnist"
    server = Server(directory, routes)
    monkeypatch.setattr(mnist_module, "urlopen", server)

    replaced = []
    real_replace = os.replace

    def recording_replace(src, dst):
        replaced.append((Path(src), Path(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(mnist_module.os, "replace", recording_replace)

    data = load_mnist(directory)
    assert server.urls == [m + n for n in ALL_FILES for m in (first, second)]
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        ALL_FILES
    )  # no temporary files left
    for name in ALL_FILES:
        assert (directory / name).read_bytes() == source[name]
    assert [dst for _, dst in replaced] == [directory / n for n in ALL_FILES]
    for src, dst in replaced:
        assert (
            src.parent == dst.parent
            and src.name.startswith(f".{dst.name}.")
            and src.name.endswith(".tmp")
        )

    assert data.source == "full"
    assert "full dataset" in data.description
    assert [len(s.labels) for s in (data.train, data.validation, data.test)] == [
        5_000,
        5_000,
        10_000,
    ]
    images, labels = raw_test_split
    np.testing.assert_array_equal(data.test.labels, labels)  # official test split, in file order
    np.testing.assert_array_equal(pixels_as_uint8(data.test.images), images.reshape(-1, 784))
    carved = row_multiset(pixels_as_uint8(data.train.images), data.train.labels)
    carved += row_multiset(pixels_as_uint8(data.validation.images), data.validation.labels)
    assert carved == row_multiset(images, labels)

    # Files present now: a second load does not download.
    server.urls.clear()
    assert load_mnist(directory).source == "full" and server.urls == []


def test_partial_download_failure(tmp_path, monkeypatch, shared_mnist):
    mirror = mnist_module.MIRRORS[0]
    routes = {mirror + n: (shared_mnist / n).read_bytes() for n in (T10K_IMAGES, T10K_LABELS)}
    directory = tmp_path / "m"
    monkeypatch.setattr(mnist_module, "urlopen", Server(directory, routes))
    with pytest.raises(MnistError) as info:
        load_mnist(directory)
    message = str(info.value)
    assert f"missing in {directory}: {TRAIN_IMAGES}, {TRAIN_LABELS}." in message
    assert "HTTP Error 404" in message
    assert sorted(p.name for p in directory.iterdir()) == [T10K_IMAGES, T10K_LABELS]

    # What did land is whole and verified; the directory is now a test-split-only directory.
    monkeypatch.setattr(mnist_module, "urlopen", no_network)
    with pytest.warns(UserWarning):
        assert load_mnist(directory).source == "test-split-only"


def test_test_split_only_directory_never_downloads(shared_mnist):
    # The autouse ``offline`` fixture fails the test if the opener is reached.
    assert load_mnist(shared_mnist, download=True).source == "test-split-only"


# --- data directory resolution --------------------------------------------------------------------


def test_data_dir_from_environment(monkeypatch, shared_mnist, tmp_path):
    monkeypatch.setenv("L2L_DATA_DIR", str(shared_mnist))
    assert resolve_data_dir() == shared_mnist.resolve()
    assert resolve_data_dir(tmp_path) == tmp_path.resolve()  # the argument wins
    from_env = load_mnist(download=False)
    explicit = load_mnist(shared_mnist, download=False)
    np.testing.assert_array_equal(from_env.test.indices, explicit.test.indices)
    assert str(shared_mnist.resolve()) in from_env.description


def test_data_dir_defaults_to_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir() == (tmp_path / "xdg" / "l2l" / "mnist").resolve()
    monkeypatch.setenv("L2L_DATA_DIR", "")  # empty counts as unset
    assert resolve_data_dir() == (tmp_path / "xdg" / "l2l" / "mnist").resolve()
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir() == (tmp_path / "home" / ".cache" / "l2l" / "mnist").resolve()
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored (XDG spec)
    assert resolve_data_dir() == (tmp_path / "home" / ".cache" / "l2l" / "mnist").resolve()
    with pytest.raises(
        MnistError, match=re.escape(str(tmp_path / "home" / ".cache" / "l2l" / "mnist"))
    ):
        load_mnist(download=False)
