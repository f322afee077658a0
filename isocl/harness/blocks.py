"""Training on input blocks, shared by the experiments outside the stream harness (the scheduled-task experiment,
harness/scheduled.py, and neuro-abundance, harness/abundance.py): every task's inputs side by side in one vector,
10 outputs per task, one loss per task weighted 0 or 1; and a run folder that is read back when it is finished
with the same fingerprint, refused when it was made with another.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from isocl.data import load_dataset
from isocl.data.domain import experience_permutation, permute_pixels
from isocl.data.streams import standardise
from isocl.harness import provenance, store

CLASSES_PER_TASK = 10


@dataclass
class Blocks:
    """The tasks' inputs side by side: train/test inputs (N, n_tasks, d) standardised per task, labels (N, n)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    digest: str


def load_blocks(blocks, train_size: int | None, test_size: int | None, seed: int, data_root, cache_dir) -> Blocks:
    """`blocks`: per task {dataset, permuted}; each set truncated to `train_size`/`test_size` (None: all of it)."""
    xs, ys, txs, tys, digests = [], [], [], [], []
    for index, block in enumerate(blocks):
        data = load_dataset(block["dataset"], data_root, cache_dir)
        train_x, test_x = standardise(data.train_x[:train_size].float(), data.test_x[:test_size].float())
        if block.get("permuted"):
            permutation = experience_permutation(train_x[0].numel(), seed, index + 1, identity_first=False)
            train_x, test_x = permute_pixels(train_x, permutation), permute_pixels(test_x, permutation)
        xs.append(train_x.flatten(1)), txs.append(test_x.flatten(1))
        ys.append(data.train_y[:train_size]), tys.append(data.test_y[:test_size])
        digests.append(data.digest())
    n, m = min(map(len, xs)), min(map(len, txs))  # truncated to equal size: the loaders run in lockstep
    stack = lambda ts, k: torch.stack([t[:k] for t in ts], 1)  # noqa: E731
    return Blocks(
        stack(xs, n), stack(ys, n), stack(txs, m), stack(tys, m), hashlib.sha256("".join(digests).encode()).hexdigest()
    )


def task_losses(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Each task's cross-entropy on its own block of outputs: (n_tasks,)."""
    blocks = logits.view(len(logits), -1, CLASSES_PER_TASK)
    return torch.stack([F.cross_entropy(blocks[:, t], y[:, t], reduction=reduction) for t in range(y.shape[1])])


def weighted_loss(logits: torch.Tensor, y: torch.Tensor, active: list[int]) -> torch.Tensor:
    weights = torch.zeros(y.shape[1], device=logits.device)
    weights[active] = 1.0  # an inactive task's loss weight is 0: it takes no part in the gradient
    return (weights * task_losses(logits, y)).sum()


def train_epoch(net, optimizer, blocks: Blocks, active: list[int], batch_size: int, generator) -> None:
    net.train()
    n_tasks, n = blocks.train_y.shape[1], len(blocks.train_y)
    orders = torch.stack([torch.randperm(n, generator=generator) for _ in range(n_tasks)], 1)  # each set its own
    tasks = torch.arange(n_tasks)
    for rows in orders.split(batch_size):
        x = blocks.train_x[rows, tasks].flatten(1)  # sample rows[:, t] of task t in block t
        loss = weighted_loss(net(x), blocks.train_y[rows, tasks], active) + net.penalty()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


@torch.no_grad()
def accuracies(net, blocks: Blocks, batch: int = 2000) -> list[float]:
    net.eval()
    correct = torch.zeros(blocks.test_y.shape[1])
    for start in range(0, len(blocks.test_y), batch):
        logits = net(blocks.test_x[start : start + batch].flatten(1))
        predicted = logits.view(len(logits), -1, CLASSES_PER_TASK).argmax(2)
        correct += (predicted == blocks.test_y[start : start + batch]).sum(0)
    return (correct / len(blocks.test_y)).tolist()


def finished_or_run(directory: Path, config: dict, digest: str, run: Callable[[], dict], restart: bool) -> dict:
    """The summary in `directory` if it is finished under this fingerprint; else `run()`'s, written atomically.

    A finished folder made with another fingerprint stops here (StaleRunError), unless `restart`."""
    record = provenance.provenance(config, digest, "cpu")
    summary_file = Path(directory) / "summary.json"
    if summary_file.exists() and not restart:
        summary = store.read_json(summary_file)
        provenance.check_same(directory, summary.get("fingerprint") or {}, provenance.fingerprint(record), True)
        return summary
    summary = store.plain({**run(), **record, "fingerprint": provenance.fingerprint(record)})
    store.write_json_atomic(summary_file, summary)
    return summary
