"""Split CIFAR-10 from a wide start in four settings (class or task labels, with or without a removal): each
isotropic strategy beside its frozen-topology control, a fixed network of its final widths (X#equal) and the tanh
MLP, paired by seed.

    python benchmarks/wide_table.py RUNS [--out results/split-cifar10-wide.md]

RUNS holds the scenarios' folders as `isocl run` writes them: <scenario>/ (IsoMLP) and <scenario>-tanhmlp/ (the
same scenario with `--backbone tanh_mlp`). Final average accuracy (%): mean ± sample std; differences: the paired
mean with its 95% t interval (isocl.harness.stats).
"""

import argparse
from pathlib import Path

from isocl.harness.report import find_summaries, paired_comparison
from isocl.harness.stats import mean_ci

SETTINGS = {  # setting -> scenario
    "class, removal": "split-cifar10-growth-wide",
    "class": "split-cifar10-growth-wide-class",
    "task, removal": "split-cifar10-growth-wide-task",
    "task": "split-cifar10-growth-wide-task-noremoval",
}
STRATEGIES = ("naive", "replay", "ewc-factored")


def _runs(folder: Path) -> dict:
    grouped = {}
    for summary in find_summaries(folder) if folder.is_dir() else []:
        grouped.setdefault(summary["strategy"], []).append(summary)
    return grouped


def _accuracy(runs: list | None) -> str:
    if not runs:
        return "not run"
    mean, std, _ = mean_ci([100 * r["average_accuracy"] for r in runs])
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def _difference(runs: list | None, controls: list | None) -> str:
    if not runs or not controls:
        return "n/a"
    c = paired_comparison(runs, controls)
    if "ci_low" not in c:
        return f"{c['mean']:+.2f} (n={c['n']})" if "mean" in c else "n/a"
    bold = "**" if c["ci_low"] > 0 or c["ci_high"] < 0 else ""
    return f"{bold}{c['mean']:+.2f} [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]{bold}"


def _widths(runs: list | None) -> str:
    if not runs:
        return "n/a"
    hidden = [r["widths"][-1][1:-1] for r in runs]
    return "/".join(f"{sum(w[k] for w in hidden) / len(hidden):.0f}" for k in range(len(hidden[0])))


def table(runs: Path) -> str:
    lines = [
        "| setting | strategy | iso-X | X (frozen) | X#equal | TanhMLP X | iso - frozen | iso - equal | iso - TanhMLP "
        "| iso widths, end |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for setting, scenario in SETTINGS.items():
        iso_mlp, tanh_mlp = _runs(runs / scenario), _runs(runs / f"{scenario}-tanhmlp")
        for x in STRATEGIES:
            iso, frozen, equal = iso_mlp.get(f"iso-{x}"), iso_mlp.get(x), iso_mlp.get(f"{x}#equal")
            tanh = tanh_mlp.get(x)
            cells = [_accuracy(run) for run in (iso, frozen, equal, tanh)]
            cells += [_difference(iso, control) for control in (frozen, equal, tanh)] + [_widths(iso)]
            lines.append(f"| {setting} | {x} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/split-cifar10-wide.md"))
    args = parser.parse_args()
    text = table(args.runs)
    args.out.write_text(f"# Split CIFAR-10 from a wide start ([256, 256]), four settings\n\n{text}\n")
    print(text)


if __name__ == "__main__":
    main()
