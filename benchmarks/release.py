"""Does `release` pick the removed task's own neurons? An ablation against two ways of removing as many.

    python benchmarks/release.py [--dataset cifar10 --data-root ../shared/data] [--device cuda] [--seeds 0,1,2]
                                 [--out results/release-ablation.json]

An IsoMLP is trained jointly on the first `--tasks` tasks of a task-incremental split (masked heads), then task 1
is withdrawn in three ways that remove the same number of neurons m_k from every hidden layer k:

- release:   topology.release (directions where task 1's activation energy exceeds 4x the others', decayed x0.1),
             then prune(k, m_k); m_k is the number of directions release found;
- random:    the same, with m_k random orthogonal directions decayed instead;
- smallest:  prune(k, m_k) on the trained network (the paper's neurodegeneration: smallest singular values).

The head of task 1 is kept for measurement only. A good release loses task 1 and keeps the others: the numbers
are accuracy on the retained tasks and on task 1, before and after, averaged over seeds. Probes are `--probes`
training inputs per task (256, as the iso strategies keep).
"""

import argparse
import copy
import json
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

from isocl import topology
from isocl.cl import build_classifier
from isocl.data import build_stream, load_dataset
from isocl.nn import IsoMLP
from isocl.topology.layout import apply_step
from isocl.topology.records import Rotation
from isocl.topology.release import decay_last_neurons

REMOVED = 1


def train(model, experiences, epochs: int, device: str, seed: int) -> None:
    x = torch.cat([e.train_x for e in experiences]).to(device)
    y = torch.cat([e.train_y for e in experiences]).to(device)
    t = torch.cat([torch.full_like(e.train_y, e.task_label) for e in experiences]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=g).split(48):
            idx = idx.to(device)
            opt.zero_grad(set_to_none=True)
            (F.cross_entropy(model.logits(x[idx], t[idx]), y[idx]) + model.backbone.penalty()).backward()
            opt.step()


@torch.no_grad()
def accuracy(model, experience, device: str) -> float:
    model.eval()
    pred = model.logits(experience.test_x.to(device), experience.task_label).argmax(1)
    model.train()
    return float((pred.cpu() == experience.test_y).float().mean())


def accuracies(model, experiences, device: str) -> dict:
    kept = [accuracy(model, e, device) for e in experiences if e.index != REMOVED]
    return {"retained": statistics.mean(kept), "removed": accuracy(model, experiences[REMOVED], device)}


def probes(experiences, n: int, seed: int, device: str) -> dict[int, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {e.index: e.train_x[torch.randperm(len(e.train_x), generator=g)[:n]].to(device) for e in experiences}


def prune_counts(net, counts: dict[int, int]) -> None:
    for k in sorted(counts, reverse=True):  # deepest first, as neuroadapt
        if counts[k]:
            topology.prune(net, k, counts[k])


def by_release(model, probe: dict, ratio: float, decay: float) -> dict[int, int]:
    removed = probe[REMOVED]
    retained = torch.cat([x for i, x in probe.items() if i != REMOVED])
    counts = topology.release(model.backbone, removed, retained, ratio=ratio, decay=decay).info["released"]
    prune_counts(model.backbone, counts)
    return counts


def by_random(model, counts: dict[int, int], decay: float, seed: int) -> None:
    net = model.backbone
    g = torch.Generator().manual_seed(seed)
    for k, m in counts.items():
        n = net.sizes[k + 1]
        q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
        apply_step(net, Rotation(k, q))
        decay_last_neurons(net, k, m, decay)
    prune_counts(net, counts)


def one_seed(stream, args, seed: int) -> dict:
    experiences = stream.experiences[: args.tasks]
    torch.manual_seed(seed)
    backbone = IsoMLP([stream.input_size, *args.hidden, stream.n_classes])
    model = build_classifier(backbone, stream.n_classes, [e.classes for e in stream.experiences]).to(args.device)
    train(model, experiences, args.epochs, args.device, seed)
    probe = probes(experiences, args.probes, seed, args.device)
    result = {"before": accuracies(model, experiences, args.device), "widths_before": model.backbone.sizes}
    released = copy.deepcopy(model)
    counts = by_release(released, probe, args.ratio, args.decay)
    result["release"] = accuracies(released, experiences, args.device)
    result["removed_per_layer"] = counts
    randomised = copy.deepcopy(model)
    by_random(randomised, counts, args.decay, seed)
    result["random"] = accuracies(randomised, experiences, args.device)
    smallest = copy.deepcopy(model)
    prune_counts(smallest.backbone, counts)
    result["smallest"] = accuracies(smallest, experiences, args.device)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--n-experiences", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=3, help="tasks trained before task 1 is withdrawn")
    parser.add_argument("--hidden", type=int, nargs="+", default=[1000, 1000])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--ratio", type=float, default=4.0)
    parser.add_argument("--probes", type=int, default=256, help="probe inputs per task (the iso strategies keep 256)")
    parser.add_argument("--decay", type=float, default=0.1)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("results/release-ablation.json"))
    args = parser.parse_args()
    data = load_dataset(args.dataset, args.data_root, args.cache_dir)
    stream = build_stream(data, "task", args.n_experiences, dataset=args.dataset)
    runs = [one_seed(stream, args, int(s)) for s in args.seeds.split(",")]
    summary = {
        method: {key: statistics.mean(r[method][key] for r in runs) for key in ("retained", "removed")}
        for method in ("before", "release", "random", "smallest")
    }
    result = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "mean": summary}
    result["runs"] = runs
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"mean": summary, "removed_per_layer": [r["removed_per_layer"] for r in runs]}, indent=2))


if __name__ == "__main__":
    main()
