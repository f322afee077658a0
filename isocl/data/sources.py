"""Data sets as tensors: decoded once, cached, and read from memory afterwards.

    cifar10, cifar100   an ImageFolder tree ROOT/<name>/{train,test}/<class>/*, or torchvision's files in ROOT
                        (downloaded there when `download=True` and the machine is online)
    mnist, fashion_mnist torchvision's idx files in ROOT, else an installed offline copy, else torchvision's
                        download (isocl/data/mnist.py)
    digits              scikit-learn's bundled 8x8 digits: needs nothing external (the default)
    synthetic           a tiny generated set for tests

Images are kept as uint8 (N, C, H, W); everything else as float32 (N, D). Labels are int64.
"""

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from isocl.registry import Registry

DATASETS = Registry("dataset")
CACHE_VERSION = 1


@dataclass
class TensorData:
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    classes: list[str]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def digest(self) -> str:
        """sha256 of the tensors and class names: the data's identity in a run's fingerprint."""
        h = hashlib.sha256()
        for t in (self.train_x, self.train_y, self.test_x, self.test_y):
            h.update(str((tuple(t.shape), str(t.dtype))).encode())
            h.update(t.contiguous().numpy().tobytes())
        h.update("\n".join(self.classes).encode())
        return h.hexdigest()


class DatasetNotFoundError(FileNotFoundError):
    """A data set is not where isocl looked; the message lists the places and how to provide it."""


class DataFileError(DatasetNotFoundError):
    """A data file is there but unusable (corrupt, truncated, not the expected format); the message names it.
    A DatasetNotFoundError, so that every caller that reports missing data reports this too."""


def default_data_root() -> Path:
    return Path(os.environ.get("ISOCL_DATA_ROOT", "data"))


def default_cache_dir() -> Path:
    return Path(os.environ.get("ISOCL_CACHE_DIR", Path.home() / ".cache" / "isocl"))


def load_dataset(name: str, root: Path | None = None, cache_dir: Path | None = None, download: bool = False):
    """The named data set as tensors; image sets are decoded once and cached under `cache_dir`."""
    loader = DATASETS.get(name)
    root = Path(root) if root is not None else default_data_root()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return loader(root=root, cache_dir=cache_dir, download=download)


def cached(name: str, cache_dir: Path, decode: Callable[[], TensorData]) -> TensorData:
    path = cache_dir / f"{name}-v{CACHE_VERSION}.pt"
    if path.exists():
        return TensorData(**torch.load(path, weights_only=True))
    data = decode()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(data.__dict__, tmp)
    tmp.replace(path)  # atomic: a killed decode leaves no half-written cache
    return data


def _decode_image_folder(split_dir: Path, classes: list[str]) -> tuple[Tensor, Tensor]:
    from PIL import Image  # torchvision's decoders are deprecated since 0.29; Pillow comes with torchvision

    images, labels = [], []
    for label, cls in enumerate(classes):
        for file in sorted((split_dir / cls).iterdir()):
            with Image.open(file) as image:
                images.append(np.asarray(image.convert("RGB")))
            labels.append(label)
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), torch.tensor(labels, dtype=torch.long)


def _from_image_folder(tree: Path) -> TensorData:
    classes = sorted(p.name for p in (tree / "train").iterdir() if p.is_dir())
    train_x, train_y = _decode_image_folder(tree / "train", classes)
    test_x, test_y = _decode_image_folder(tree / "test", classes)
    return TensorData(train_x, train_y, test_x, test_y, classes)


def _from_torchvision(dataset_cls, root: Path, download: bool) -> TensorData:
    splits = [dataset_cls(str(root), train=train, download=download) for train in (True, False)]
    tensors = [(torch.from_numpy(s.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(s.targets)) for s in splits]
    return TensorData(*tensors[0], *tensors[1], list(splits[0].classes))


def _cifar(name: str, dataset_cls_name: str, torchvision_dir: str, root: Path, cache_dir: Path, download: bool):
    import torchvision

    tree = root / name

    def decode() -> TensorData:
        if (tree / "train").is_dir() and (tree / "test").is_dir():
            return _from_image_folder(tree)
        dataset_cls = getattr(torchvision.datasets, dataset_cls_name)
        if (root / torchvision_dir).is_dir() or download:
            try:
                return _from_torchvision(dataset_cls, root, download)
            except Exception as error:  # torchvision's own integrity or network error
                reason = f" (torchvision said: {error})"
        else:
            reason = ""
        raise DatasetNotFoundError(
            f"{name} not found{reason}. Looked for an ImageFolder tree at {tree}/{{train,test}}/<class>/ and for "
            f"torchvision's files at {root / torchvision_dir}. Point --data-root (or ISOCL_DATA_ROOT) at the folder "
            f"that holds '{name}/', or pass --download on a machine with internet."
        )

    return cached(name, cache_dir, decode)


@DATASETS.register("cifar10")
def cifar10(root: Path, cache_dir: Path, download: bool = False) -> TensorData:
    return _cifar("cifar10", "CIFAR10", "cifar-10-batches-py", root, cache_dir, download)


@DATASETS.register("cifar100")
def cifar100(root: Path, cache_dir: Path, download: bool = False) -> TensorData:
    return _cifar("cifar100", "CIFAR100", "cifar-100-python", root, cache_dir, download)


def _split(x: np.ndarray, y: np.ndarray, classes: list[str], test_fraction: float, seed: int) -> TensorData:
    """A stratified train/test split that is the same on every machine."""
    rng = np.random.RandomState(seed)
    train, test = [], []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_test = int(round(len(idx) * test_fraction))
        test.extend(idx[:n_test])
        train.extend(idx[n_test:])
    train, test = np.sort(train), np.sort(test)

    def as_tensors(idx):
        return torch.tensor(x[idx], dtype=torch.float32), torch.tensor(y[idx], dtype=torch.long)

    return TensorData(*as_tensors(train), *as_tensors(test), classes)


@DATASETS.register("digits")
def digits(root: Path, cache_dir: Path, download: bool = False) -> TensorData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return _split(bunch.data, bunch.target, [str(c) for c in bunch.target_names], test_fraction=0.25, seed=0)


@DATASETS.register("synthetic")
def synthetic(root: Path, cache_dir: Path, download: bool = False, n_classes: int = 10, dim: int = 16) -> TensorData:
    """Gaussian blobs, one per class, 60 train + 20 test samples each: learnable in a few steps."""
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=3.0, size=(n_classes, dim))
    y = np.repeat(np.arange(n_classes), 80)
    x = centres[y] + rng.normal(size=(len(y), dim))
    return _split(x, y, [f"c{i}" for i in range(n_classes)], test_fraction=0.25, seed=0)
