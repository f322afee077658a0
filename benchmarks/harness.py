"""Benchmark of the harness's overhead: one training epoch through isocl + Avalanche vs a bare PyTorch loop.

    python benchmarks/harness.py [--repeats 15] [--samples 10000] [--out results/harness-benchmark.json]

Both train the same model object with the same optimiser on the same tensors (one experience of
split-cifar10-class: 10,000 CIFAR-sized samples, batch 48, TanhMLP [3072, 1000, 1000, 10]); the repeats
alternate, and the reported number is the median of the per-repeat ratios. Random tensors stand in for the
images: the cost does not depend on their values.
"""

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from isocl.data import TensorData, build_stream
from isocl.harness.config import scenario_from_dict
from isocl.harness.runner import Run, RunOptions


def fake_cifar(samples: int) -> TensorData:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (samples, 3, 32, 32), dtype=torch.uint8, generator=g)
    return TensorData(images, torch.arange(samples) % 10, images[:100], torch.arange(100) % 10, list("0123456789"))


def harness_epoch(run: Run, experience) -> float:
    start = time.perf_counter()
    run.strategy.train(experience, num_workers=0)
    return time.perf_counter() - start


def bare_epoch(model, optimizer, x, y, batch: int) -> float:
    start = time.perf_counter()
    for idx in torch.randperm(len(y)).split(batch):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[idx]), y[idx]) + model.backbone.penalty()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--samples", type=int, default=50_000, help="data set size; one experience is a fifth")
    parser.add_argument("--backbone", default="tanh_mlp")
    parser.add_argument("--out", type=Path, default=Path("results/harness-benchmark.json"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_flush_denormal(True)  # as the runner does
    stream = build_stream(fake_cifar(args.samples), "class", 5)
    raw = {
        "name": "bench",
        "dataset": "synthetic",  # only validated here: the stream above is what trains
        "setting": "class",
        "n_experiences": 5,
        "epochs": 1,
        "batch_size": 48,
        "backbone": {"type": args.backbone, "hidden": [1000, 1000]},
        "strategies": {"naive": {}},
    }
    scenario = scenario_from_dict(raw, "bench")
    run = Run(scenario, "naive", scenario.strategies["naive"], 0, stream, RunOptions(wandb="disabled", progress=False))
    run.setup(None)
    experience, tensors = stream.benchmark.train_stream[0], stream.experiences[0]
    harness_epoch(run, experience)  # warm-up: Avalanche's first-call set-up, optimiser state
    harness, bare = [], []
    for _ in range(args.repeats):
        harness.append(harness_epoch(run, experience))
        bare.append(bare_epoch(run.model, run.optimizer, tensors.train_x, tensors.train_y, 48))
    ratios = [h / b for h, b in zip(harness, bare, strict=True)]
    result = {
        "samples_per_epoch": len(tensors.train_y),
        "backbone": args.backbone,
        "harness_epoch_s": statistics.median(harness),
        "bare_epoch_s": statistics.median(bare),
        "ratio_median": statistics.median(ratios),
        "ratios": ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
