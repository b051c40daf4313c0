"""Fashion-MNIST through the one IDX reader: the full data set at ``<repo>/../shared/data/
fashion-mnist`` (Debian's recompressed files), its checksums, the places the reader looks in, the
errors that name a corrupt or missing file and every place looked, and the MLP task on it.

No test touches the network (downloads go through a fake opener), the machine's Debian directory
or the user's cache: those are moved into ``tmp_path``.
"""

import dataclasses
import gzip
import hashlib
import io
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from l2l import data as data_lib
from l2l.config import ConfigError
from l2l.data import (
    DATASETS,
    Dataset,
    DatasetError,
    DatasetNotFoundError,
    load_dataset,
    load_mnist,
    read_idx,
    search_path,
)
from l2l.data import locate as locate_module
from l2l.tasks import MLPConfig, MLPMixConfig, config_from_dict

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SHARED_FASHION = SHARED_DATA / "fashion-mnist"
SHARED_MNIST = SHARED_DATA / "mnist"
TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
T10K_IMAGES = "t10k-images-idx3-ubyte.gz"
T10K_LABELS = "t10k-labels-idx1-ubyte.gz"
ALL_FILES = (TRAIN_IMAGES, TRAIN_LABELS, T10K_IMAGES, T10K_LABELS)

# From the data set's documentation (Xiao et al., 2017; the shared README): 60,000 training and
# 10,000 test images, 6,000 and 1,000 of each of the ten classes; the md5 of Debian's .gz files,
# of the original repository's .gz files, and of the decompressed files.
DEBIAN_GZ_MD5 = {
    TRAIN_IMAGES: "cf8536b0aa1a6ac5fa3f23001093305c",
    TRAIN_LABELS: "10bea18fdb374794d4bb42e356e600c9",
    T10K_IMAGES: "f78720b4224f21cce2f2ccf2d7a94c9a",
    T10K_LABELS: "0d30e22e447f3c33dab9ed536400ac01",
}
ORIGINAL_GZ_MD5 = {
    TRAIN_IMAGES: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    TRAIN_LABELS: "25c81989df183df01b3e8a0aad5dffbe",
    T10K_IMAGES: "bef4ecab320f06d8554ea6380940ec79",
    T10K_LABELS: "bb300cfdad3c16e7a12a480ee83cd310",
}
DECOMPRESSED_MD5 = {
    TRAIN_IMAGES: "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    TRAIN_LABELS: "9018921c3c673c538a1fc5bad174d6f9",
    T10K_IMAGES: "8181f5470baa50b63fa0f6fddb340f0a",
    T10K_LABELS: "15d484375f8d13e6eb1aabb0c3f46965",
}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
CLASSES += ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def md5(payload: bytes) -> str:
    return hashlib.md5(payload).hexdigest()


def no_network(url, timeout=None):
    raise AssertionError(f"the test tried to open {url}")


@pytest.fixture(autouse=True)
def hermetic(monkeypatch, tmp_path):
    """No network, no $L2L_DATA_DIR, a cache and a 'Debian directory' of the test's own."""
    monkeypatch.setattr(locate_module, "urlopen", no_network)
    monkeypatch.delenv("L2L_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    spec = dataclasses.replace(DATASETS["fashion-mnist"], debian_dir=str(tmp_path / "debian"))
    monkeypatch.setitem(DATASETS, "fashion-mnist", spec)


@pytest.fixture
def shared() -> Path:
    if not SHARED_FASHION.is_dir():
        pytest.skip(f"the shared Fashion-MNIST is not at {SHARED_FASHION}")
    return SHARED_FASHION


def link_files(directory: Path, names, source: Path = SHARED_FASHION) -> Path:
    """``directory`` holding symbolic links to ``names`` in ``source`` (no 30 MB copies)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).symlink_to(source / name)
    return directory


# --- the data and its checksums -------------------------------------------------------------------


def test_registry_entry():
    spec = DATASETS["fashion-mnist"]
    assert list(spec.class_names) == CLASSES and spec.num_classes == 10
    assert spec.debian_package == "dataset-fashion-mnist"
    for name in ALL_FILES:
        assert set(spec.accepted_md5(name)) == {DEBIAN_GZ_MD5[name], ORIGINAL_GZ_MD5[name]}
        assert spec.decompressed_md5[name] == DECOMPRESSED_MD5[name]
    with pytest.raises(DatasetError, match="unknown data set 'fashion_mnist'.*'fashion-mnist'"):
        load_dataset("fashion_mnist")


def test_shared_files_pass_their_checksums(shared):
    spec = DATASETS["fashion-mnist"]
    for name in ALL_FILES:
        payload = (shared / name).read_bytes()
        assert md5(payload) == DEBIAN_GZ_MD5[name]
        assert md5(gzip.decompress(payload)) == DECOMPRESSED_MD5[name]
        assert spec.accepts(name, payload)
        assert not spec.accepts(name, payload[:-1])


def test_full_data_set_shapes_and_label_counts(shared):
    raw_train = read_idx(shared / TRAIN_LABELS)
    raw_test = read_idx(shared / T10K_LABELS)
    assert read_idx(shared / TRAIN_IMAGES).shape == (60_000, 28, 28)
    assert read_idx(shared / T10K_IMAGES).shape == (10_000, 28, 28)
    assert np.bincount(raw_train, minlength=10).tolist() == [6_000] * 10
    assert np.bincount(raw_test, minlength=10).tolist() == [1_000] * 10

    data = load_dataset("fashion-mnist", shared, download=False)
    assert isinstance(data, Dataset) and data.source == "full" and data.name == "fashion-mnist"
    assert data.class_names[9] == "Ankle boot"
    assert "Fashion-MNIST, full dataset" in data.description
    assert [len(s.labels) for s in (data.train, data.validation, data.test)] == [
        55_000,
        5_000,
        10_000,
    ]
    for split in (data.train, data.validation, data.test):
        assert split.images.shape == (len(split.labels), 784) and split.images.dtype == np.float32
        assert split.images.min() == 0.0 and split.images.max() == 1.0
    # Training tasks draw from the 60,000-image training split (less a seeded validation carve) ...
    carved = np.concatenate([data.train.indices, data.validation.indices])
    np.testing.assert_array_equal(np.sort(carved), np.arange(60_000))
    counts = np.bincount(data.train.labels, minlength=10)
    counts += np.bincount(data.validation.labels, minlength=10)
    assert counts.tolist() == [6_000] * 10
    np.testing.assert_array_equal(data.train.labels, raw_train[data.train.indices])
    # ... and held-out comparisons score on the official test split, in file order.
    np.testing.assert_array_equal(data.test.indices, np.arange(10_000))
    np.testing.assert_array_equal(data.test.labels, raw_test)
    assert np.bincount(data.test.labels, minlength=10).tolist() == [1_000] * 10
    assert load_dataset("fashion-mnist", str(shared), download=False) is data  # cached


def test_another_gzip_of_the_same_bytes_passes(tmp_path, shared):
    """Neither .gz sum matches a third recompression; the decompressed md5 does."""
    directory = link_files(tmp_path / "regz", [T10K_IMAGES])
    contents = gzip.decompress((shared / T10K_LABELS).read_bytes())
    (directory / T10K_LABELS).write_bytes(gzip.compress(contents, compresslevel=1, mtime=0))
    assert md5((directory / T10K_LABELS).read_bytes()) not in DATASETS[
        "fashion-mnist"
    ].accepted_md5(T10K_LABELS)
    with pytest.warns(UserWarning, match="Fashion-MNIST, test split only"):
        data = load_dataset("fashion-mnist", directory, download=False)
    assert data.source == "test-split-only"
    assert [len(s.labels) for s in (data.train, data.validation, data.test)] == [
        8_000,
        1_000,
        1_000,
    ]


# --- errors that name the file --------------------------------------------------------------------


def test_corrupted_file_is_named(tmp_path, shared):
    directory = link_files(tmp_path / "corrupt", [TRAIN_IMAGES, TRAIN_LABELS, T10K_IMAGES])
    contents = bytearray(gzip.decompress((shared / T10K_LABELS).read_bytes()))
    contents[8] = (contents[8] + 1) % 10  # one label changed: still a well-formed IDX file
    bad = directory / T10K_LABELS
    bad.write_bytes(gzip.compress(bytes(contents)))
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist", directory, download=False)
    message = str(info.value)
    assert f"Fashion-MNIST file {bad} failed its checksum: md5 {md5(bad.read_bytes())}" in message
    assert DEBIAN_GZ_MD5[T10K_LABELS] in message and ORIGINAL_GZ_MD5[T10K_LABELS] in message
    assert DECOMPRESSED_MD5[T10K_LABELS] in message
    assert "Delete it and download it again" in message and "\n" not in message


def test_files_of_the_other_data_set_are_named_as_such(tmp_path):
    if not SHARED_MNIST.is_dir():
        pytest.skip(f"the shared MNIST test split is not at {SHARED_MNIST}")
    directory = link_files(tmp_path / "m", [T10K_IMAGES, T10K_LABELS], source=SHARED_MNIST)
    with pytest.raises(DatasetError, match=r"failed its checksum.*it is MNIST's t10k-images"):
        load_dataset("fashion-mnist", directory, download=False)


def test_missing_file_is_named(tmp_path, shared):
    directory = link_files(tmp_path / "three", [TRAIN_IMAGES, TRAIN_LABELS, T10K_IMAGES])
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion-mnist", directory, download=False)
    message = str(info.value)
    assert f"Fashion-MNIST files missing in {directory}: {T10K_LABELS}." in message
    assert f"Present in {directory}: {TRAIN_IMAGES}, {TRAIN_LABELS}, {T10K_IMAGES}." in message
    assert "Looked in the data_dir argument." in message  # the argument is the only place looked
    assert "\n" not in message


def test_not_found_names_every_place_looked(tmp_path, monkeypatch):
    env = tmp_path / "env"
    env.mkdir()
    monkeypatch.setenv("L2L_DATA_DIR", str(env))
    debian = tmp_path / "debian"
    cache = tmp_path / "xdg" / "l2l" / "fashion-mnist"
    assert [p.path for p in search_path("fashion-mnist")] == [env, debian, cache]

    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion-mnist", download=False)
    message = str(info.value)
    assert "\n" not in message  # one line
    assert message.startswith(
        f"Fashion-MNIST files missing in {env}: {', '.join(ALL_FILES)}; "
        f"in {debian}: no such directory; in {cache}: no such directory. "
        "Looked in $L2L_DATA_DIR, then the Debian package dataset-fashion-mnist's directory, "
        "then the user cache. Downloading is off (download=False)."
    )
    for what in ("data_dir=", "L2L_DATA_DIR", "apt-get install dataset-fashion-mnist"):
        assert what in message

    calls = []

    def unreachable(url, timeout=None):
        calls.append(url)
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(locate_module, "urlopen", unreachable)
    with pytest.raises(DatasetNotFoundError, match=f"Downloading into {env} failed: .*no route"):
        load_dataset("fashion-mnist")
    mirrors = DATASETS["fashion-mnist"].mirrors
    assert calls == [m + n for n in ALL_FILES for m in mirrors]
    assert list(env.iterdir()) == []


# --- where the reader looks -----------------------------------------------------------------------


def test_data_dir_environment_variable(monkeypatch, tmp_path, shared):
    explicit = load_dataset("fashion-mnist", shared, download=False)
    # $L2L_DATA_DIR as the data set's own directory, or as a root with a fashion-mnist/ inside.
    for value in (shared, shared.parent):
        monkeypatch.setenv("L2L_DATA_DIR", str(value))
        assert search_path("fashion-mnist")[0].path.resolve() == shared.resolve()
        assert load_dataset("fashion-mnist", download=False) is explicit
    # The argument wins, and is then the only place looked.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert search_path("fashion-mnist", empty) == (locate_module.Place(empty, "argument"),)
    with pytest.raises(DatasetNotFoundError, match=f"missing in {empty}: "):
        load_dataset("fashion-mnist", empty, download=False)


def test_debian_directory_then_the_cache(monkeypatch, tmp_path, shared):
    spec = DATASETS["fashion-mnist"]
    monkeypatch.setitem(
        DATASETS, "fashion-mnist", dataclasses.replace(spec, debian_dir=str(shared))
    )
    assert load_dataset("fashion-mnist", download=False).description.startswith(
        f"Fashion-MNIST, full dataset from {shared}:"
    )
    monkeypatch.setitem(DATASETS, "fashion-mnist", spec)  # the Debian directory is empty again
    cache = tmp_path / "xdg" / "l2l"
    cache.mkdir(parents=True)
    (cache / "fashion-mnist").symlink_to(shared, target_is_directory=True)
    assert load_dataset("fashion-mnist", download=False).source == "full"


class Server:
    """A fake opener: serves bytes by URL; counts what was asked."""

    def __init__(self, routes: dict[str, bytes]):
        self.routes, self.urls = routes, []

    def __call__(self, url, timeout=None):
        self.urls.append(url)
        assert timeout is not None and timeout <= 60
        if url not in self.routes:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        return io.BytesIO(self.routes[url])


def test_download_into_the_cache_checks_every_file(monkeypatch, tmp_path, shared):
    """Mirror 1 serves corrupt bytes (rejected), mirror 2 Debian's files (accepted)."""
    first, second = DATASETS["fashion-mnist"].mirrors[:2]
    routes = {first + n: b"corrupt" for n in ALL_FILES}
    routes.update({second + n: (shared / n).read_bytes() for n in ALL_FILES})
    server = Server(routes)
    monkeypatch.setattr(locate_module, "urlopen", server)
    data = load_dataset("fashion-mnist")
    cache = tmp_path / "xdg" / "l2l" / "fashion-mnist"
    assert server.urls == [m + n for n in ALL_FILES for m in (first, second)]
    assert sorted(p.name for p in cache.iterdir()) == sorted(ALL_FILES)
    assert data.source == "full" and str(cache) in data.description
    server.urls.clear()
    assert load_dataset("fashion-mnist") is data and server.urls == []


def test_load_mnist_is_load_dataset_mnist():
    if not SHARED_MNIST.is_dir():
        pytest.skip(f"the shared MNIST test split is not at {SHARED_MNIST}")
    with pytest.warns(UserWarning, match="MNIST, test split only"):
        data = load_dataset("mnist", SHARED_MNIST, download=False, seed=7)
    assert load_mnist(SHARED_MNIST, download=False, seed=7) is data  # one reader, one cache
    assert data.name == "mnist" and data.class_names == tuple("0123456789")
    assert data_lib.MnistError is DatasetError


# --- the MLP task on Fashion-MNIST ----------------------------------------------------------------


def test_mlp_task_config_takes_a_dataset(shared):
    cfg = config_from_dict({"kind": "mlp", "dataset": "fashion-mnist", "data_dir": str(shared)})
    assert isinstance(cfg, MLPConfig) and cfg.dataset == "fashion-mnist"
    data = load_dataset("fashion-mnist", shared)
    train = cfg.build()
    assert train.images.shape == (55_000, 784)
    np.testing.assert_array_equal(np.asarray(train.labels), data.train.labels)
    test = dataclasses.replace(cfg, split="test").build()
    np.testing.assert_array_equal(np.asarray(test.labels), data.test.labels)
    mix = config_from_dict(
        {
            "kind": "mlp_mix",
            "architectures": [{"hidden_sizes": [20]}],
            "dataset": "fashion-mnist",
            "data_dir": str(shared),
            "split": "validation",
        }
    )
    assert isinstance(mix, MLPMixConfig)
    np.testing.assert_array_equal(np.asarray(mix.build().labels), data.validation.labels)


def test_dataset_field_defaults_to_mnist_and_suggests_on_a_typo():
    for config_class in (MLPConfig, MLPMixConfig):
        default = {f.name: f.default for f in dataclasses.fields(config_class)}["dataset"]
        assert default == "mnist"
    # A task section stored before the field existed (a zoo file's) still reads, as MNIST.
    legacy = {"kind": "mlp", "hidden_sizes": [20], "batch_norm": None, "data_dir": None}
    assert config_from_dict(legacy, legacy=True).dataset == "mnist"
    for kind in ("mlp", "mlp_mix"):
        section = {"kind": kind, "dataset": "fashion-mnst"}
        if kind == "mlp_mix":
            section["architectures"] = [{"hidden_sizes": [20]}]
        with pytest.raises(ConfigError, match=r"key 'task': .*Did you mean 'fashion-mnist'\?"):
            config_from_dict(section)


def test_copying_a_shared_file_keeps_it_valid(tmp_path, shared):
    """A plain copy (not a link) of the test pair loads: the reader checks content, not paths."""
    directory = tmp_path / "copy"
    directory.mkdir()
    for name in (T10K_IMAGES, T10K_LABELS):
        shutil.copyfile(shared / name, directory / name)
    with pytest.warns(UserWarning, match="carved from the official 10,000-image test split"):
        assert load_dataset("fashion-mnist", directory, download=False).source == "test-split-only"
