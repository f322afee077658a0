"""The scheduled-task experiment (the paper's Exp 3): one isotropic network, inputs in blocks [task 0 | task 1 | ...],
10 outputs per task, tasks switched on and off by their loss weight (0 or 1) over phases.

Every step takes one batch from each task's training set in lockstep (each set truncated to `train_size`, shuffled
on its own), concatenates the inputs into one vector and sums the cross-entropies of the active tasks' output
blocks: an inactive task's inputs still flow through the network, only its loss is off. After every epoch the
topology rule runs (`author`: `neuroadapt` with the absolute threshold, deepest layer first; `demand`: the same
rule with a threshold relative to each layer's spectrum, plus GradMax neurons for a task as it is switched on;
`static`: nothing, the control from the identical start; `equal`: nothing, from a network of the widths `demand`
ends with on the same seed, the control with equal parameters), then every task's test accuracy and the widths are
recorded. The initial widths are drawn per seed from `hidden_range`; every policy of a seed but `equal` starts from
the identical network.
"""

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from isocl import topology
from isocl.cl.ewc import gradient_factors
from isocl.cl.policy import adapt, demand_directions, grow_by_demand
from isocl.harness import store
from isocl.harness.blocks import (
    CLASSES_PER_TASK,
    Blocks,
    accuracies,
    finished_or_run,
    load_blocks,
    task_losses,
    train_epoch,
)
from isocl.harness.optimizers import OPTIMIZERS
from isocl.harness.scheduled_config import FIXED, ScheduledScenario
from isocl.nn import create_backbone


def initial_network(scenario: ScheduledScenario, seed: int, n_inputs: int, widths: list[int] | None = None):
    """The seed's network: widths drawn from `hidden_range` (the same for every policy of a seed), or given."""
    generator = torch.Generator().manual_seed(seed)
    low, high = scenario.hidden_range
    drawn = torch.randint(low, high + 1, (scenario.n_hidden,), generator=generator).tolist()
    widths = drawn if widths is None else list(widths)
    torch.manual_seed(seed)
    return create_backbone("iso_mlp", (n_inputs,), CLASSES_PER_TASK * len(scenario.blocks), widths)


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


def run_schedule(
    scenario: ScheduledScenario, policy: str, seed: int, blocks: Blocks, widths: list[int] | None = None
) -> list[EpochRecord]:
    """One policy's run; `equal` is a fixed network of the given `widths` (demand's final ones) from the start."""
    net = initial_network(scenario, seed, blocks.train_x[0].numel(), widths if policy == "equal" else None)
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
            if policy not in FIXED:
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
    # what a run depends on: not the other seeds, so runs split by --seeds are read back by a run of all of them
    shared = {k: v for k, v in store.plain(dataclasses.asdict(scenario)).items() if k != "seeds"}
    summaries = []
    for seed in scenario.seeds:
        blocks = load_blocks(scenario.blocks, scenario.train_size, scenario.test_size, seed, data_root, cache_dir)
        finished = {}
        for policy in scenario.policies:
            config = {**shared, "policy": policy, "seed": seed}
            widths = finished["demand"]["epochs"][-1]["widths"] if policy == "equal" else None
            if widths is not None:
                config["widths"] = widths  # the equal control's network depends on demand's run of this seed

            def run(policy=policy, seed=seed, blocks=blocks, widths=widths):
                epochs = run_schedule(scenario, policy, seed, blocks, widths)
                epochs = [dataclasses.asdict(e) for e in epochs]
                return {"scenario": scenario.name, "policy": policy, "seed": seed, "epochs": epochs}

            directory = run_dir(out, scenario, policy, seed)
            finished[policy] = finished_or_run(directory, config, blocks.digest, run, restart)
            summaries.append(finished[policy])
    return summaries
