"""Benchmark of fused (compiled) steps: an IsoMLP training step against a TanhMLP one, eager and through
torch.compile (`isocl run --compile`), and what a topology change costs a compiled network (its re-trace).

    python benchmarks/fused.py [--device cuda] [--width 1000] [--batch 48] [--steps 50] [--repeats 7]
                               [--backend inductor] [--out results/fused-benchmark.json]

Every timing is of `--steps` optimiser steps (AdamW, cross-entropy) on CIFAR-sized random inputs (3072 features,
10 classes), after warm-up steps that absorb compilation; the three networks alternate repeat by repeat and the
reported numbers are medians of per-repeat ratios against the eager TanhMLP, timed in the same process.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from isocl import topology
from isocl.harness.provenance import code_state
from isocl.nn import create_backbone


def synchronise(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def trainer(net, steps: int, batch: int, device: str):
    x = torch.randn(steps, batch, 3072, device=device)
    y = torch.randint(0, 10, (steps, batch), device=device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-3, foreach=True)

    def run() -> float:
        synchronise(device)
        start = time.perf_counter()
        for i in range(steps):
            loss = F.cross_entropy(net(x[i]), y[i])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        synchronise(device)
        return time.perf_counter() - start

    return run, optimizer


def network(kind: str, width: int, device: str, backend: str | None):
    torch.manual_seed(0)
    net = create_backbone(kind, (3072,), 10, [width, width]).to(device)
    net.fuse(backend)
    return net


def retrace_seconds(net, run, optimizer, device: str) -> float:
    """One step's time right after growing the first hidden layer by 5 (the re-trace a topology change costs)."""
    optimizer_change = topology.grow(net, 0, 5)
    topology.remap_optimizer(optimizer, net, optimizer_change)
    return run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--backend", default="inductor")
    parser.add_argument("--out", type=Path, default=Path("results/fused-benchmark.json"))
    args = parser.parse_args()
    torch.set_flush_denormal(True)  # as the runner does
    cases = {"tanh eager": ("tanh_mlp", None), "iso eager": ("iso_mlp", None), "iso fused": ("iso_mlp", args.backend)}
    runs = {
        name: trainer(network(kind, args.width, args.device, b), args.steps, args.batch, args.device)[0]
        for name, (kind, b) in cases.items()
    }
    for run in runs.values():
        run(), run()  # warm-up: compilation, caches
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            times[name].append(run())
    ratios = {
        name: statistics.median(t / b for t, b in zip(times[name], times["tanh eager"], strict=True)) for name in runs
    }
    net = network("iso_mlp", args.width, args.device, args.backend)
    run, optimizer = trainer(net, 1, args.batch, args.device)
    run(), run()
    record = {
        **vars(args),
        "out": str(args.out),
        **code_state(),
        "torch": torch.__version__,
        "step_seconds_median": {n: statistics.median(t) / args.steps for n, t in times.items()},
        "ratio_to_tanh_eager": ratios,
        "first_step_after_growth_seconds": retrace_seconds(net, run, optimizer, args.device),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
