"""Benchmark of the isotropic core: training throughput, neuroadapt cost, batched vs one-by-one pruning.

    python benchmarks/core.py [--repeats 15] [--steps 20] [--device cpu|cuda] [--out results/core-benchmark.json]
    python benchmarks/core.py --only-release   # just a task removal's release, to results/release-cost.json

Every number is a ratio against a baseline timed in the same process, interleaved repeat by repeat, because
these machines are noisy. Inputs are CIFAR-sized random tensors (3072 features, 10 classes, batch 48 as in
the paper); an "epoch" is 50,000 samples, extrapolated from `--steps` timed optimiser steps. Throughput is
measured twice: with PyTorch's defaults, and with denormal floats flushed to zero (torch.set_flush_denormal),
since denormal arithmetic in the optimiser's moments slows both networks by up to a third on this CPU.
"""

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from isocl import topology as T
from isocl.nn import IsoMLP, TanhMLP

EPOCH_SAMPLES, BATCH, N_IN, N_OUT = 50_000, 48, 3072, 10
DEVICE = torch.device("cpu")  # set by --device


def synchronise() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def seconds(fn) -> float:
    synchronise()
    start = time.perf_counter()
    fn()
    synchronise()
    return time.perf_counter() - start


def trainer(net, steps: int):
    """A closure that runs `steps` AdamW steps (the paper's optimiser) on fixed random tensors."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(steps, BATCH, N_IN, generator=g).to(DEVICE)
    y = torch.randint(0, N_OUT, (steps, BATCH), generator=g).to(DEVICE)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-3)

    def run():
        for xb, yb in zip(x, y, strict=True):
            opt.zero_grad(set_to_none=True)
            (F.cross_entropy(net(xb), yb) + net.penalty()).backward()
            opt.step()

    run()  # warm-up: allocations, optimiser state
    return run, opt


def epoch_seconds(step_seconds: float) -> float:
    return step_seconds * EPOCH_SAMPLES / BATCH


def throughput(width: int, steps: int, repeats: int, flush_denormal: bool) -> dict:
    torch.set_flush_denormal(flush_denormal)
    iso_run, _ = trainer(IsoMLP([N_IN, width, width, N_OUT]).to(DEVICE), steps)
    tanh_run, _ = trainer(TanhMLP([N_IN, width, width, N_OUT]).to(DEVICE), steps)
    iso, tanh = [], []
    for _ in range(repeats):  # interleaved, so drifts in machine load hit both
        iso.append(seconds(iso_run) / steps)
        tanh.append(seconds(tanh_run) / steps)
    ratios = [a / b for a, b in zip(iso, tanh, strict=True)]
    torch.set_flush_denormal(False)
    return {
        "width": width,
        "flush_denormal": flush_denormal,
        "iso_epoch_s": epoch_seconds(statistics.median(iso)),
        "tanh_epoch_s": epoch_seconds(statistics.median(tanh)),
        "ratio_median": statistics.median(ratios),
        "ratio_quartiles": statistics.quantiles(ratios, n=4)[::2] if len(ratios) > 1 else ratios,
        "ratios": ratios,
    }


def neuroadapt_cost(epoch_s: float, repeats: int) -> dict:
    """One neuroadapt pass (+ optimiser remap) on [3072, 1000, 1000, 10], as a fraction of an IsoMLP epoch.

    Two cases: a growth-only pass (orthogonal weights, every sigma 1 > 0.95: 5 scaffolds per layer) and a
    pruning pass (a third of each layer's directions scaled below the threshold first, then removed)."""
    growth, prune = [], []
    for r in range(repeats):
        torch.manual_seed(r)
        net = IsoMLP([N_IN, 1000, 1000, N_OUT]).to(DEVICE)
        _, opt = trainer(net, 2)  # real AdamW state to remap
        with torch.no_grad():
            for layer in net.maps[:2]:
                layer.weight.copy_(torch.nn.init.orthogonal_(torch.empty_like(layer.weight)))
        growth.append(seconds(lambda net=net, opt=opt: T.remap_optimizer(opt, net, T.neuroadapt(net))))
        with torch.no_grad():
            for layer in net.maps[:2]:
                layer.weight[: layer.weight.shape[0] // 3] *= 0.5
        prune.append(seconds(lambda net=net, opt=opt: T.remap_optimizer(opt, net, T.neuroadapt(net))))
    return {
        "epoch_s": epoch_s,
        "growth_pass_s": statistics.median(growth),
        "prune_pass_s": statistics.median(prune),
        "growth_fraction_of_epoch": statistics.median(growth) / epoch_s,
        "prune_fraction_of_epoch": statistics.median(prune) / epoch_s,
    }


def trained_like(seed: int) -> IsoMLP:
    """[3072, 1000, 1000, 10] with spread singular values, as after training."""
    torch.manual_seed(seed)
    return IsoMLP([N_IN, 1000, 1000, N_OUT], init="xavier_normal").to(DEVICE)


def batched_prune(repeats: int, n: int = 50) -> dict:
    once, single = [], []
    for r in range(repeats):
        for k in (0, 1):
            net = trained_like(r)
            once.append(seconds(lambda net=net, k=k: T.prune(net, k, n)))
            net = trained_like(r)
            single.append(seconds(lambda net=net, k=k: [T.prune(net, k, 1) for _ in range(n)]))
    return {
        "n": n,
        "one_decomposition_s": statistics.median(once),
        "single_removals_s": statistics.median(single),
        "speedup": statistics.median(single) / statistics.median(once),
    }


def release_cost(epoch_s: float | None, repeats: int) -> dict:
    """One task removal's topology work on [3072, 1000, 1000, 10]: `release` (256 removed-task and 512 retained probe
    inputs, as the iso strategies keep) and the `neuroadapt` pass that prunes what it released."""
    release, adapt = [], []
    for r in range(repeats):
        torch.manual_seed(r)
        net = IsoMLP([N_IN, 1000, 1000, N_OUT]).to(DEVICE)
        removed, retained = torch.randn(256, N_IN, device=DEVICE), torch.randn(512, N_IN, device=DEVICE)
        release.append(seconds(lambda net=net, a=removed, b=retained: T.release(net, a, b)))
        adapt.append(seconds(lambda net=net: T.neuroadapt(net)))
    total = statistics.median(release) + statistics.median(adapt)
    return {
        "release_s": statistics.median(release),
        "neuroadapt_s": statistics.median(adapt),
        "fraction_of_epoch": total / epoch_s if epoch_s else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15, help="interleaved repeats (short ones: less drift)")
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps per timed repeat")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--only-release", action="store_true", help="time only a removal's release (fast)")
    parser.add_argument("--out", type=Path, default=Path("results/core-benchmark.json"))
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    if args.only_release:  # its own file, so as not to replace the full run's numbers
        out = args.out.with_name("release-cost.json")
        out.write_text(json.dumps({"device": str(DEVICE), **release_cost(None, 5)}, indent=2) + "\n")
        print(out.read_text())
        return
    speed = [throughput(w, args.steps, args.repeats, flush) for flush in (False, True) for w in (256, 1000)]
    result = {
        "machine": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
            "device": torch.cuda.get_device_name() if DEVICE.type == "cuda" else "cpu",
        },
        "throughput": speed,
        "neuroadapt": neuroadapt_cost(speed[1]["iso_epoch_s"], 5),  # width 1000, default settings
        "prune_50": batched_prune(3),
        "release": release_cost(speed[1]["iso_epoch_s"], 5),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
