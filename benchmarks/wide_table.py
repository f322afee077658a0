"""Split CIFAR-10 from a wide start in four settings (class or task labels, with or without a removal): each
isotropic strategy beside its frozen-topology control, a fixed network of its final widths (X#equal) and the tanh
MLP, paired by seed.

    python benchmarks/wide_table.py RUNS [--out results/split-cifar10-wide.md] [--title TITLE]

A (setting, strategy) without isotropic runs in RUNS is left out, so a folder of some settings makes a smaller table.

RUNS holds the scenarios' folders as `isocl run` writes them: <scenario>/ (IsoMLP) and <scenario>-tanhmlp/ (the
same scenario with `--backbone tanh_mlp`). Final average accuracy (%): mean ± sample std; differences: the paired
mean with its 95% t interval (isocl.harness.stats), bold where the interval excludes 0, and marked † where the
paired t-test stays under 0.05 after Holm's adjustment over every test in the table (one family).
"""

import argparse
from pathlib import Path

from isocl.harness.report import find_summaries, paired_comparison
from isocl.harness.stats import holm_where_tested, mean_ci

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


def _comparison(runs: list | None, controls: list | None) -> dict | None:
    return paired_comparison(runs, controls) if runs and controls else None


def _difference(c: dict | None, p_holm: float | None) -> str:
    if c is None:
        return "n/a"
    if "ci_low" not in c:
        return f"{c['mean']:+.2f} (n={c['n']})" if "mean" in c else "n/a"
    bold = "**" if c["ci_low"] > 0 or c["ci_high"] < 0 else ""
    dagger = " †" if p_holm is not None and p_holm < 0.05 else ""
    return f"{bold}{c['mean']:+.2f} [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]{dagger}{bold}"


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
    rows = []  # (setting, strategy, its four run groups, its three comparisons)
    for setting, scenario in SETTINGS.items():
        iso_mlp, tanh_mlp = _runs(runs / scenario), _runs(runs / f"{scenario}-tanhmlp")
        for x in STRATEGIES:
            groups = (iso_mlp.get(f"iso-{x}"), iso_mlp.get(x), iso_mlp.get(f"{x}#equal"), tanh_mlp.get(x))
            if groups[0] is None:  # no isotropic runs of this strategy in this setting: nothing to compare
                continue
            rows.append((setting, x, groups, [_comparison(groups[0], control) for control in groups[1:]]))
    p_holm = iter(holm_where_tested([c and c.get("p_value") for *_, comparisons in rows for c in comparisons]))
    for setting, x, groups, comparisons in rows:
        cells = [_accuracy(run) for run in groups]
        cells += [_difference(c, next(p_holm)) for c in comparisons] + [_widths(groups[0])]
        lines.append(f"| {setting} | {x} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/split-cifar10-wide.md"))
    parser.add_argument("--title", default="Split CIFAR-10 from a wide start ([256, 256]), four settings")
    args = parser.parse_args()
    text = table(args.runs)
    legend = (
        "Final average accuracy (%), mean ± sample std over seeds; differences: paired by seed, mean [95% t interval]."
        "\nBold: the interval excludes 0. †: the paired t-test's p stays under 0.05 after Holm's adjustment over every"
        " test in the table."
    )
    args.out.write_text(f"# {args.title}\n\n{legend}\n\n{text}\n")
    print(text)


if __name__ == "__main__":
    main()
