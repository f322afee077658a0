"""A few samples of an experience, kept by the plugins that need its inputs later (probes, Fisher samples)."""

import torch
from torch import Tensor


def random_samples(dataset, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Up to n samples (inputs, labels) of an experience's dataset, drawn without replacement (from `generator`,
    else the global RNG)."""
    picked = torch.randperm(len(dataset), generator=generator)[:n].tolist()
    items = [dataset[i] for i in picked]
    return torch.stack([item[0] for item in items]), torch.tensor([int(item[1]) for item in items])
