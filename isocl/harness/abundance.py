"""The neuro-abundance experiment (the paper's Exp 4): is it better to start with more (or fewer) neurons than one
ends with? One task (CIFAR-10 by default), an isotropic MLP whose hidden layers all have one width.

An arm `A-to-B` trains `epochs.start` epochs at width A, then moves linearly to width B over `epochs.schedule`
epochs (before each of them every hidden layer is resized, deepest first: `topology.resize` prunes the smallest
singular values or grows scaffolds), then trains `epochs.end` epochs at B. Its control `static-B` trains the same
number of epochs at width B throughout: the same data, optimiser and epochs, only the width history differs. Test
accuracy is recorded after every epoch, and just after every resize (what the surgery itself cost).
"""

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from isocl import topology
from isocl.harness import store
from isocl.harness.abundance_config import AbundanceScenario
from isocl.harness.blocks import CLASSES_PER_TASK, Blocks, accuracies, finished_or_run, load_blocks, train_epoch
from isocl.harness.optimizers import OPTIMIZERS
from isocl.nn import create_backbone


@dataclass
class EpochRecord:
    epoch: int
    width: int  # every hidden layer's width during this epoch
    accuracy: float  # test accuracy after the epoch
    accuracy_after_resize: float | None  # test accuracy right after this epoch's resize, before training; None: none
    params: int
    seconds: float


def initial_network(scenario: AbundanceScenario, width: int, seed: int, n_inputs: int):
    torch.manual_seed(seed)
    return create_backbone("iso_mlp", (n_inputs,), CLASSES_PER_TASK, [width] * scenario.n_hidden)


def resize_all(net, width: int, optimizer, generator) -> None:
    """Every hidden layer to `width`, deepest first (the author's order: a shallower removal writes into the
    next layer's correction terms, which the deeper layer's own removal assumes are small)."""
    for k in reversed(range(net.n_hidden)):
        topology.remap_optimizer(optimizer, net, topology.resize(net, k, width, generator=generator))


def run_arm(scenario: AbundanceScenario, start: int, end: int, seed: int, blocks: Blocks) -> list[EpochRecord]:
    plan = scenario.width_plan(start, end)
    net = initial_network(scenario, plan[0], seed, blocks.train_x[0].numel())
    cfg = scenario.optimizer
    optimizer = OPTIMIZERS.get(cfg.name)(net.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum)
    generator = torch.Generator().manual_seed(seed)
    records = []
    for epoch, width in enumerate(plan):
        began, after_resize = time.perf_counter(), None
        if width != net.sizes[1]:
            resize_all(net, width, optimizer, generator)
            after_resize = accuracies(net, blocks)[0]
        train_epoch(net, optimizer, blocks, [0], scenario.batch_size, generator)
        seconds = time.perf_counter() - began
        params = sum(p.numel() for p in net.parameters())
        records.append(EpochRecord(epoch, width, accuracies(net, blocks)[0], after_resize, params, seconds))
    return records


def run_dir(out: Path, scenario: AbundanceScenario, arm: str, seed: int) -> Path:
    return Path(out) / scenario.name / arm / f"seed{seed}"


def run_all(scenario: AbundanceScenario, out: Path, data_root=None, cache_dir=None, restart=False) -> list[dict]:
    """Every (arm, seed): a finished run with the same fingerprint is read back, one with another stops here."""
    blocks = load_blocks(
        [{"dataset": scenario.dataset}], scenario.train_size, scenario.test_size, 0, data_root, cache_dir
    )
    # what a run depends on: not the other pairs or seeds, so adding one leaves the finished runs valid
    shared = {k: v for k, v in store.plain(dataclasses.asdict(scenario)).items() if k not in ("pairs", "seeds")}
    summaries = []
    for seed in scenario.seeds:
        for arm, (start, end) in scenario.arms().items():
            config = {**shared, "arm": arm, "start": start, "end": end, "seed": seed}

            def run(arm=arm, start=start, end=end, seed=seed):
                epochs = [dataclasses.asdict(e) for e in run_arm(scenario, start, end, seed, blocks)]
                return {
                    "scenario": scenario.name,
                    "arm": arm,
                    "start": start,
                    "end": end,
                    "seed": seed,
                    "epochs": epochs,
                }

            summaries.append(finished_or_run(run_dir(out, scenario, arm, seed), config, blocks.digest, run, restart))
    return summaries
