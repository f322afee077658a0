"""The scheduled-task experiment (the paper's Exp 3): one isotropic network, inputs in blocks [task 0 | task 1 | ...],
10 outputs per task, tasks switched on and off by their loss weight (0 or 1) over phases.

Every step takes one batch from each task's training set in lockstep (each set truncated to `train_size`, shuffled
on its own), concatenates the inputs into one vector and sums the cross-entropies of the active tasks' output
blocks: an inactive task's inputs still flow through the network, only its loss is off. After every epoch the
topology rule runs (`author`: `neuroadapt` with the absolute threshold, deepest layer first; `demand`: the same
rule with a threshold relative to each layer's spectrum, plus GradMax neurons for a task as it is switched on;
`static`: nothing, the control), then every task's test accuracy and the widths are recorded. The initial widths
are drawn per seed from `hidden_range`; every policy of a seed starts from the identical network.
"""

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from isocl import topology
from isocl.cl.ewc import gradient_factors
from isocl.cl.policy import adapt, demand_directions, grow_by_demand
from isocl.data import load_dataset
from isocl.data.domain import experience_permutation, permute_pixels
from isocl.data.streams import standardise
from isocl.harness import provenance, store
from isocl.harness.optimizers import OPTIMIZERS
from isocl.harness.scheduled_config import ScheduledScenario
from isocl.nn import create_backbone

CLASSES_PER_TASK = 10


@dataclass
class Blocks:
    """The tasks' inputs side by side: train/test inputs (N, n_tasks, 784) standardised per task, labels (N, n)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    digest: str


def load_blocks(scenario: ScheduledScenario, seed: int, data_root, cache_dir) -> Blocks:
    xs, ys, txs, tys, digests = [], [], [], [], []
    for index, block in enumerate(scenario.blocks):
        data = load_dataset(block["dataset"], data_root, cache_dir)
        train_x, test_x = standardise(
            data.train_x[: scenario.train_size].float(), data.test_x[: scenario.test_size].float()
        )
        if block.get("permuted"):
            permutation = experience_permutation(train_x[0].numel(), seed, index + 1, identity_first=False)
            train_x, test_x = permute_pixels(train_x, permutation), permute_pixels(test_x, permutation)
        xs.append(train_x.flatten(1)), txs.append(test_x.flatten(1))
        ys.append(data.train_y[: scenario.train_size]), tys.append(data.test_y[: scenario.test_size])
        digests.append(data.digest())
    n, m = min(map(len, xs)), min(map(len, txs))  # truncated to equal size: the loaders run in lockstep
    stack = lambda ts, k: torch.stack([t[:k] for t in ts], 1)  # noqa: E731
    return Blocks(
        stack(xs, n), stack(ys, n), stack(txs, m), stack(tys, m), hashlib.sha256("".join(digests).encode()).hexdigest()
    )


def initial_network(scenario: ScheduledScenario, seed: int, n_inputs: int):
    generator = torch.Generator().manual_seed(seed)
    low, high = scenario.hidden_range
    widths = torch.randint(low, high + 1, (scenario.n_hidden,), generator=generator).tolist()
    torch.manual_seed(seed)
    return create_backbone("iso_mlp", (n_inputs,), CLASSES_PER_TASK * len(scenario.blocks), widths)


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


def switched_on_demand(net, blocks: Blocks, task: int, earlier: list[int], policy, n_probe, generator):
    """GradMax neurons for `task` as it is switched on: its loss gradient outside what the active tasks' inputs
    already occupy (the same rule as iso-X's `demand` at an append)."""
    rows = torch.randperm(len(blocks.train_y), generator=generator)[:n_probe]
    x, y = blocks.train_x[rows].flatten(1), blocks.train_y[rows]
    factors = gradient_factors(net, lambda trace: task_losses(net(x, trace=trace), y, reduction="sum")[task]).maps
    earlier_x = x if earlier else None  # the inputs are the same vectors: what the earlier tasks' weights read
    return grow_by_demand(net, demand_directions(net, factors, earlier_x, policy))


@dataclass
class EpochRecord:
    epoch: int
    phase: int
    active: list[int]
    accuracy: list[float]
    widths: list[int]
    params: int
    seconds: float


def run_schedule(scenario: ScheduledScenario, policy: str, seed: int, blocks: Blocks) -> list[EpochRecord]:
    net = initial_network(scenario, seed, blocks.train_x[0].numel())
    cfg = scenario.optimizer
    optimizer = OPTIMIZERS.get(cfg.name)(net.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum)
    rule, generator = scenario.topology_policy(policy), torch.Generator().manual_seed(seed)
    records, epoch, previous = [], 0, []
    for phase, active in enumerate(scenario.phases):
        start = time.perf_counter()
        for task in [t for t in active if t not in previous] if policy == "demand" else []:
            change = switched_on_demand(net, blocks, task, previous, rule, scenario.n_probe, generator)
            topology.remap_optimizer(optimizer, net, change)
        for _ in range(scenario.epochs_per_phase):
            train_epoch(net, optimizer, blocks, list(active), scenario.batch_size, generator)
            if policy != "static":
                topology.remap_optimizer(optimizer, net, adapt(net, rule))
            seconds, start = time.perf_counter() - start, time.perf_counter()
            params = sum(p.numel() for p in net.parameters())
            records.append(
                EpochRecord(epoch, phase, list(active), accuracies(net, blocks), net.sizes[1:-1], params, seconds)
            )
            epoch += 1
        previous = list(active)
    return records


def run_dir(out: Path, scenario: ScheduledScenario, policy: str, seed: int) -> Path:
    return Path(out) / scenario.name / policy / f"seed{seed}"


def run_all(
    scenario: ScheduledScenario, out: Path, data_root=None, cache_dir=None, restart: bool = False
) -> list[dict]:
    """Every (policy, seed): a finished run with the same fingerprint is read back, one with another stops here."""
    summaries = []
    for seed in scenario.seeds:
        blocks = load_blocks(scenario, seed, data_root, cache_dir)
        for policy in scenario.policies:
            directory = run_dir(out, scenario, policy, seed)
            config = {**store.plain(dataclasses.asdict(scenario)), "policy": policy, "seed": seed}
            record = provenance.provenance(config, blocks.digest, "cpu")
            summary_file = directory / "summary.json"
            if summary_file.exists() and not restart:
                summary = store.read_json(summary_file)
                provenance.check_same(
                    directory, summary.get("fingerprint") or {}, provenance.fingerprint(record), finished=True
                )
                summaries.append(summary)
                continue
            epochs = run_schedule(scenario, policy, seed, blocks)
            summary = store.plain(
                {
                    "scenario": scenario.name,
                    "policy": policy,
                    "seed": seed,
                    **record,
                    "fingerprint": provenance.fingerprint(record),
                    "epochs": [dataclasses.asdict(e) for e in epochs],
                }
            )
            store.write_json_atomic(summary_file, summary)
            summaries.append(summary)
    return summaries
