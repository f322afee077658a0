"""benchmarks/hsu_table.py: Hsu et al.'s published means beside isocl's, bold where more than 2 points apart."""

import json
from pathlib import Path

from tests.benchmark_scripts import load_benchmark


def write(root: Path, scenario: str, strategy: str, accuracies) -> None:
    for seed, acc in enumerate(accuracies):
        folder = root / scenario / strategy / f"seed{seed}"
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps({"average_accuracy": acc}))


def cells(text: str, strategy: str) -> list[str]:
    (row,) = [line for line in text.splitlines() if f"| `{strategy}` |" in line]
    return [c.strip() for c in row.strip("|").split("|")][2:]


def test_hsu_table_bolds_means_more_than_two_points_from_the_published_one(tmp_path):
    # naive: published 93.46 / 55.16 / 19.71 (task / domain / class)
    write(tmp_path, "split-mnist-task", "naive", [0.95, 0.96, 0.94])  # 95.00: 1.54 above, plain
    write(tmp_path, "split-mnist-domain", "naive", [0.57, 0.58, 0.59])  # 58.00: 2.84 above, bold
    write(tmp_path, "split-mnist", "naive", [0.17, 0.17, 0.17])  # 17.00: 2.71 below, bold
    # naive#sgd: published 97.98 / 63.20: 2.18 below is bold, 1.80 above is not (the line is at 2 points)
    write(tmp_path, "split-mnist-task", "naive#sgd", [0.958, 0.958])
    write(tmp_path, "split-mnist-domain", "naive#sgd", [0.65, 0.65])
    table = load_benchmark("hsu_table").table(tmp_path)
    assert cells(table, "naive#sgd")[:2] == ["97.98 / **95.80 ± 0.00** (n=2)", "63.20 / 65.00 ± 0.00 (n=2)"]
    assert cells(table, "naive") == [
        "93.46 / 95.00 ± 1.00 (n=3)",
        "55.16 / **58.00 ± 1.00** (n=3)",
        "19.71 / **17.00 ± 0.00** (n=3)",
    ]
    assert cells(table, "joint") == ["99.52 / not run", "98.59 / not run", "97.53 / not run"]
