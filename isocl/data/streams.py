"""Split a data set into a class- or task-incremental stream of experiences.

Classes are relabelled in stream order (the class_order), so experience i holds labels [i*c, (i+1)*c) with
c = n_classes / n_experiences, and in the task setting its task label is i. The same relabelled tensors feed
the Avalanche benchmark (training) and isocl's own evaluation, so both agree on every label.

Samples keep their shape (images (C, H, W), feature vectors (D,)) as float32; a backbone flattens what it needs.
"""

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from isocl.data.sources import TensorData

SETTINGS = ("class", "task")


@dataclass
class Experience:
    index: int
    classes: list[int]  # relabelled ids, contiguous
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
    class_order: list[int]  # original label of each relabelled id
    class_names: list[str]
    train: TensorDataset = field(repr=False)
    test: TensorDataset = field(repr=False)

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


def build_stream(
    data: TensorData,
    setting: str,
    n_experiences: int,
    *,
    class_order="fixed",
    seed: int = 0,
    standardised: bool = True,
    dataset: str = "the data set",
) -> Stream:
    if setting not in SETTINGS:
        raise ValueError(f"setting={setting!r} is not valid; choose one of {list(SETTINGS)}")
    check_split(data.n_classes, n_experiences, dataset)
    order = resolve_class_order(class_order, data.n_classes, seed)
    relabel = torch.empty(data.n_classes, dtype=torch.long)
    relabel[torch.tensor(order)] = torch.arange(data.n_classes)
    train_x, test_x = data.train_x.float(), data.test_x.float()
    if standardised:
        train_x, test_x = standardise(train_x, test_x)
    train_y, test_y = relabel[data.train_y], relabel[data.test_y]
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
