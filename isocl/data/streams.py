"""Split a data set into a class-, task- or domain-incremental stream of experiences.

Classes are relabelled in stream order (the class_order), so in the class and task settings experience i holds
labels [i*c, (i+1)*c) with c = n_classes / n_experiences, and in the task setting its task label is i. In the domain
setting every experience holds the same labels (`Stream.shared_labels`) and task label 0; its inputs differ
(isocl/data/domain.py: split with folded labels, permuted or rotated). The same relabelled tensors feed the
Avalanche benchmark (training) and isocl's own evaluation, so both agree on every label.

Samples keep their shape (images (C, H, W), feature vectors (D,)) as float32; a backbone flattens what it needs.
`pad_to` zero-pads images to pad_to x pad_to first (MNIST 28 -> 32, as Hsu et al. 2018).

Standardisation is per feature (one channel of one pixel) by training statistics, chosen so that it never tells
experiences apart by anything but their own inputs: class, task and split-domain streams use the whole training
set's statistics; a permuted experience is standardised by the original training set's statistics before its
permutation, which equals standardising it by its own (standardisation and permutation commute); a rotated
experience by its own training set's statistics (the rotated original's: per-pixel statistics do not commute with
a rotation, and the original's would put pixels that are always blank, std 0, where rotated strokes fall).
`normalise="global"` instead subtracts one mean and divides by one std, both of the unpadded training images
(torchvision's Normalize((0.1307,), (0.3081,)) on MNIST, applied after padding, as Hsu et al. did): a global affine
map, the same for every experience whatever its permutation or rotation.

Memory: a domain stream stores every experience's inputs as float32, in one tensor per split (`Stream.train`,
`Stream.test`) of which the experiences' tensors are views: permuted or rotated MNIST padded to 32 x 32 with 10
experiences holds 10 x 70,000 x 1,024 x 4 bytes = 2.9 GB (2.2 GB unpadded); split streams hold the data set once.
"""

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from isocl.data import domain as domains
from isocl.data.sources import TensorData

SETTINGS = ("class", "task", "domain")
NORMALISATIONS = ("per_feature", "global")  # per feature (the paper's); one mean and std for all (Hsu et al.'s)


@dataclass
class Experience:
    index: int
    classes: list[int]  # relabelled ids, contiguous (domain setting: the shared labels, the same in every experience)
    task_label: int
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor


@dataclass
class Stream:
    setting: str
    experiences: list[Experience]
    n_classes: int
    class_order: list[int]  # original label of each relabelled id (split domain: of label k in experience i at i*c+k)
    class_names: list[str]
    train: TensorDataset = field(repr=False)
    test: TensorDataset = field(repr=False)
    domain: str | None = None  # the domain setting's kind (isocl/data/domain.py); None in the other settings

    @property
    def shared_labels(self) -> bool:
        """Whether every experience holds the same labels (domain setting): withdrawing an experience then removes
        no output units, and a class no longer identifies an experience."""
        return self.setting == "domain"

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one sample, e.g. (3, 32, 32) or (64,)."""
        return tuple(self.train.tensors[0].shape[1:])

    @property
    def input_size(self) -> int:
        """The number of values in one sample (the input width of an MLP)."""
        return math.prod(self.input_shape)

    @property
    def n_tasks(self) -> int:
        return len(self.experiences) if self.setting == "task" else 1

    @cached_property
    def benchmark(self):
        """The same stream as an Avalanche benchmark (train_stream, test_stream)."""
        from avalanche.benchmarks import nc_benchmark

        if self.shared_labels:  # experience i is the i-th block of train and test (see _domain_stream)
            sizes = [[len(getattr(e, f"{split}_y")) for e in self.experiences] for split in ("train", "test")]
            return domains.domain_benchmark(self.train, self.test, *sizes, self.n_classes)
        return nc_benchmark(
            self.train,
            self.test,
            n_experiences=len(self.experiences),
            task_labels=self.setting == "task",
            shuffle=False,
            fixed_class_order=list(range(self.n_classes)),  # already relabelled: identity
        )


class LabelledTensors(TensorDataset):
    """A TensorDataset with the `targets` attribute Avalanche's generators read."""

    def __init__(self, x: Tensor, y: Tensor):
        super().__init__(x, y)
        self.targets = y


def check_split(n_classes: int, n_experiences: int, dataset: str = "the data set") -> None:
    if not isinstance(n_experiences, int) or n_experiences < 1 or n_classes % n_experiences:
        divisors = [d for d in range(1, n_classes + 1) if n_classes % d == 0]
        raise ValueError(
            f"n_experiences={n_experiences!r} does not split the {n_classes} classes of {dataset} evenly; "
            f"choose one of {divisors}"
        )


def resolve_class_order(order, n_classes: int, seed: int) -> list[int]:
    """'fixed' (0..C-1), 'seeded' (a permutation drawn from the run's seed) or an explicit permutation."""
    if order == "fixed":
        return list(range(n_classes))
    if order == "seeded":
        return [int(c) for c in np.random.RandomState(seed).permutation(n_classes)]
    if isinstance(order, list | tuple) and sorted(order) == list(range(n_classes)):
        return [int(c) for c in order]
    raise ValueError(
        f"class_order={order!r} is not valid; use 'fixed', 'seeded' or a permutation of 0..{n_classes - 1}"
    )


def standardise(train: Tensor, test: Tensor) -> tuple[Tensor, Tensor]:
    """Per-feature standardisation by training-set statistics, as in the paper: a feature is one position of a
    sample (one channel of one pixel for images). Computed on the flattened view, returned in the input shapes."""
    flat_train, flat_test = train.flatten(1), test.flatten(1)
    mean, std = flat_train.mean(0), flat_train.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))  # constant features (digits' border) stay 0
    return ((flat_train - mean) / std).view_as(train), ((flat_test - mean) / std).view_as(test)


def pad_images(x: Tensor, size: int) -> Tensor:
    """Images (N, C, H, W) zero-padded to (N, C, size, size), centred (the odd pixel, if any, right and below)."""
    if x.dim() != 4:
        shape = tuple(x.shape[1:])
        raise ValueError(f"pad_to={size} needs images (N, C, H, W); this data set's samples have shape {shape}")
    h, w = x.shape[-2:]
    if isinstance(size, bool) or not isinstance(size, int) or size < max(h, w):
        raise ValueError(f"pad_to={size!r} must be an integer of at least the image size {h}x{w}")
    top, left = (size - h) // 2, (size - w) // 2
    return torch.nn.functional.pad(x, (left, size - w - left, top, size - h - top))


def _relabel(order: list[int], labels: Tensor) -> Tensor:
    relabel = torch.empty(len(order), dtype=torch.long)
    relabel[torch.tensor(order)] = torch.arange(len(order))
    return relabel[labels]


def normalise_globally(train: Tensor, test: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
    """(x - mean) / std with one mean and one std (scalars) for every value."""
    return (train - mean) / std, (test - mean) / std


def build_stream(
    data: TensorData,
    setting: str,
    n_experiences: int,
    *,
    class_order="fixed",
    seed: int = 0,
    standardised: bool = True,
    normalise: str = "per_feature",
    dataset: str = "the data set",
    pad_to: int | None = None,
    domain: str | None = None,
    identity_first: bool | None = None,
    angles=None,
) -> Stream:
    """The stream of `setting` over `data`. pad_to: zero-pad images to pad_to x pad_to first. domain (domain setting
    only; default 'split'), identity_first (permuted) and angles (rotated): see isocl/data/domain.py.
    standardised=False: the raw inputs; else normalised per feature or globally (`normalise`, module docstring)."""
    if setting not in SETTINGS:
        raise ValueError(f"setting={setting!r} is not valid; choose one of {list(SETTINGS)}")
    if normalise not in NORMALISATIONS:
        raise ValueError(f"normalise={normalise!r} is not valid; choose one of {list(NORMALISATIONS)}")
    if domain is not None and setting != "domain":
        raise ValueError(f"domain={domain!r} applies to setting 'domain' only, not {setting!r}")
    kind = (domain or domains.DEFAULT_DOMAIN) if setting == "domain" else None
    if kind in (None, "split"):  # the experiences split the classes
        check_split(data.n_classes, n_experiences, dataset)
    elif not isinstance(n_experiences, int) or isinstance(n_experiences, bool) or n_experiences < 1:
        raise ValueError(f"n_experiences={n_experiences!r} must be a positive integer")
    order = resolve_class_order(class_order, data.n_classes, seed)
    train_x, test_x = data.train_x.float(), data.test_x.float()
    global_norm = standardised and normalise == "global"
    statistics = (train_x.mean(), train_x.std()) if global_norm else None  # of the images, not the padded frames
    if pad_to is not None:
        train_x, test_x = pad_images(train_x, pad_to), pad_images(test_x, pad_to)
    if global_norm:  # the padding is then normalised like a black pixel
        (train_x, test_x), standardised = normalise_globally(train_x, test_x, *statistics), False
    inputs = TensorData(train_x, _relabel(order, data.train_y), test_x, _relabel(order, data.test_y), data.classes)
    if setting == "domain":
        options = dict(seed=seed, standardised=standardised, identity_first=identity_first, angles=angles)
        return _domain_stream(inputs, n_experiences, order, kind, **options)
    if standardised:
        inputs.train_x, inputs.test_x = standardise(train_x, test_x)
    return _class_stream(inputs, setting, n_experiences, order)


def _class_stream(data: TensorData, setting: str, n_experiences: int, order: list[int]) -> Stream:
    """Class or task setting over relabelled, standardised data: experience i holds labels [i*c, (i+1)*c)."""
    train_x, train_y, test_x, test_y = data.train_x, data.train_y, data.test_x, data.test_y
    per = data.n_classes // n_experiences
    experiences = []
    for i in range(n_experiences):
        tr, te = train_y // per == i, test_y // per == i
        experiences.append(
            Experience(
                i, list(range(i * per, (i + 1) * per)), i if setting == "task" else 0,
                train_x[tr], train_y[tr], test_x[te], test_y[te],
            )
        )  # fmt: skip
    names = [data.classes[c] for c in order]
    train = LabelledTensors(train_x, train_y)
    test = LabelledTensors(test_x, test_y)
    return Stream(setting, experiences, data.n_classes, order, names, train, test)


def _domain_stream(data: TensorData, n_experiences: int, order: list[int], kind: str, **options) -> Stream:
    """Domain setting over relabelled (not yet standardised) data: the experiences are contiguous blocks of one
    train and one test tensor (their own tensors are views), each with the shared labels and task label 0."""
    standardised = options.pop("standardised")
    domains.check_kind(kind, options["identity_first"], options["angles"])
    names = [data.classes[c] for c in order]
    if kind == "split":
        train_x, test_x = standardise(data.train_x, data.test_x) if standardised else (data.train_x, data.test_x)
        n_labels, names = data.n_classes // n_experiences, domains.folded_names(names, n_experiences)
        train_x, train_y, train_sizes = domains.split_blocks(train_x, data.train_y, n_experiences, n_labels)
        test_x, test_y, test_sizes = domains.split_blocks(test_x, data.test_y, n_experiences, n_labels)
    else:
        norm = standardise if standardised else None
        train_x, test_x = domains.transformed_blocks(kind, data.train_x, data.test_x, n_experiences, **options,
                                                     standardise=norm)  # fmt: skip
        train_y, test_y = data.train_y.repeat(n_experiences), data.test_y.repeat(n_experiences)
        train_sizes, test_sizes = [len(data.train_y)] * n_experiences, [len(data.test_y)] * n_experiences
        n_labels = data.n_classes
    bounds = np.cumsum([0, *train_sizes]).tolist(), np.cumsum([0, *test_sizes]).tolist()
    experiences = [
        Experience(
            i, list(range(n_labels)), 0, *_block(train_x, train_y, bounds[0], i), *_block(test_x, test_y, bounds[1], i)
        )
        for i in range(n_experiences)
    ]
    train, test = LabelledTensors(train_x, train_y), LabelledTensors(test_x, test_y)
    return Stream("domain", experiences, n_labels, order, names, train, test, domain=kind)


def _block(x: Tensor, y: Tensor, bounds: list[int], i: int) -> tuple[Tensor, Tensor]:
    return x[bounds[i] : bounds[i + 1]], y[bounds[i] : bounds[i + 1]]
