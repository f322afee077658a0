"""Hsu et al. (2018), "Re-evaluating continual learning scenarios", Table 2 (split MNIST), beside isocl's runs of
the same protocol: final average accuracy (%), mean ± sample std over seeds (isocl) or over their 10 runs; an isocl
mean more than 2 points from the published one is bold (each such cell is explained, or said not to be, in the README).

    python benchmarks/hsu_table.py RUNS [--suffix=-global] [--out results/hsu-comparison.md]

RUNS holds split-mnist-task/, split-mnist-domain/ and split-mnist/ as `isocl run` writes them; with --suffix, the
folders of runs named apart by a flag (`--normalise global` writes split-mnist-global/ and so on).
"""

import argparse
import json
from pathlib import Path

from isocl.harness.stats import mean_ci

FAR = 2.0  # points between isocl's mean and the published one beyond which a cell is bold

SETTINGS = {"task": "split-mnist-task", "domain": "split-mnist-domain", "class": "split-mnist"}
# their row -> (isocl strategy, published means task / domain / class)
ROWS = {
    "Adam (fine-tuning)": ("naive", (93.46, 55.16, 19.71)),
    "SGD (fine-tuning)": ("naive#sgd", (97.98, 63.20, 19.46)),
    "EWC": ("ewc", (97.70, 58.85, 19.80)),
    "EWC, coefficient x 128 (per-sample Fisher)": ("ewc#per-sample", (97.70, 58.85, 19.80)),
    "online EWC": ("ewc#online", (98.04, 57.33, 19.77)),
    "SI": ("si", (98.56, 64.76, 19.67)),
    "LwF": ("lwf", (99.60, 71.02, 24.17)),
    "LwF, van de Ven's weighting (alpha x experiences seen)": ("lwf#linear", (99.60, 71.02, 24.17)),
    "LwF, van de Ven's zero-padded teacher": ("lwf#padded", (99.60, 71.02, 24.17)),
    "naive rehearsal (1100)": ("replay", (99.40, 95.16, 90.78)),
    "GEM (1100)": ("gem", (98.42, 96.16, 92.20)),
    "GEM (1100), with their SGD lr 0.01": ("gem#sgd", (98.42, 96.16, 92.20)),
    "GEM (1100) on their rehearsal memory (1100), SGD lr 0.01": ("gem#rehearsal", (98.42, 96.16, 92.20)),
    "offline (upper bound)": ("joint", (99.52, 98.59, 97.53)),
}


def ours(runs: Path, scenario: str, strategy: str, published: float) -> str:
    values = [
        100 * json.loads(p.read_text())["average_accuracy"]
        for p in sorted((runs / scenario / strategy).glob("seed*/summary.json"))
    ]
    if not values:
        return "not run"
    mean, std, _ = mean_ci(values)
    cell = f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None else "")
    return (f"**{cell}**" if abs(mean - published) > FAR else cell) + f" (n={len(values)})"


def table(runs: Path, suffix: str = "") -> str:
    head = "| Hsu et al. row | isocl strategy | " + " | ".join(f"{s}: Hsu / isocl" for s in SETTINGS) + " |"
    lines = [head, "|---|---|---|---|---|"]
    for row, (strategy, published) in ROWS.items():
        cells = [
            f"{p:.2f} / {ours(runs, scenario + suffix, strategy, p)}"
            for p, scenario in zip(published, SETTINGS.values(), strict=True)
        ]
        lines.append(f"| {row} | `{strategy}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path)
    parser.add_argument("--suffix", default="", help="the scenarios' name suffix, e.g. --suffix=-global")
    parser.add_argument("--out", type=Path, default=Path("results/hsu-comparison.md"))
    args = parser.parse_args()
    text = table(args.runs, args.suffix)
    title = "Split MNIST: Hsu et al. 2018 (Table 2) beside isocl" + (f" (runs {args.suffix})" if args.suffix else "")
    args.out.write_text(f"# {title}\n\n{text}\n")
    print(text)


if __name__ == "__main__":
    main()
