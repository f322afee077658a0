"""benchmarks/wide_table.py: the four wide-start settings, iso-X beside its frozen and TanhMLP controls, by seed."""

import json
from pathlib import Path

from tests.benchmark_scripts import load_benchmark


def write(root: Path, scenario: str, strategy: str, seed: int, acc: float, widths=(3072, 40, 30, 10)):
    folder = root / scenario / strategy / f"seed{seed}"
    folder.mkdir(parents=True)
    summary = {"scenario": scenario, "strategy": strategy, "seed": seed, "average_accuracy": acc, "params": 100}
    summary |= {"widths": [list(widths)], "status": "done"}
    (folder / "summary.json").write_text(json.dumps(summary))


def test_wide_table_pairs_iso_with_frozen_and_tanh_by_seed(tmp_path):
    scenario = "split-cifar10-growth-wide"
    runs = [(0.30, 0.20, 0.31, 0.25), (0.32, 0.21, 0.30, 0.24), (0.34, 0.22, 0.35, 0.26)]
    for seed, (iso, frozen, equal, tanh) in enumerate(runs):
        write(tmp_path, scenario, "iso-naive", seed, iso, widths=(3072, 20 + seed, 10, 10))
        write(tmp_path, scenario, "naive", seed, frozen)
        write(tmp_path, scenario, "naive#equal", seed, equal)
        write(tmp_path, f"{scenario}-tanhmlp", "naive", seed, tanh)
    lines = load_benchmark("wide_table").table(tmp_path).splitlines()
    (row,) = [line for line in lines if line.startswith("| class, removal | naive |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:6] == ["32.00 ± 2.00", "21.00 ± 1.00", "32.00 ± 2.65", "25.00 ± 1.00"]
    # iso - frozen: 10, 11, 12 points: mean 11, std 1, t(0.975, 2) = 4.303 -> half-width 2.48
    # Holm over the table's three tests: p = 1 - |t| / sqrt(2 + t^2) with 2 dof: iso - frozen t = 19.05, p = 0.0027
    # (x 3 = 0.0082); iso - TanhMLP 5, 8, 8 points, t = 7, p = 0.0198 (x 2 = 0.0396); iso - equal p = 1: † on two
    assert cells[6] == "**+11.00 [+8.52, +13.48] †**"
    # iso - equal: -1, +2, -1 points: mean 0, std sqrt(3), half-width 4.303 * 1 = 4.30, not bold
    assert cells[7] == "+0.00 [-4.30, +4.30]"
    assert cells[8].startswith("**+7.00 [") and cells[8].endswith(" †**") and cells[9] == "21/10"
    assert not any(line.startswith("| task |") for line in lines)  # no isotropic runs there: left out


def test_wide_table_bolds_losses_and_marks_only_what_survives_holm(tmp_path):
    scenario = "split-cifar10-growth-wide"
    iso = (0.30, 0.32, 0.34)
    frozen = (0.20, 0.21, 0.22)  # iso - frozen 10, 11, 12: p 0.0027, Holm x 3 = 0.0082: †
    equal = (0.33, 0.37, 0.41)  # iso - equal -3, -5, -7: t 4.33, p 0.0495, Holm x 2 = 0.099: bold, no †
    tanh = (0.31, 0.30, 0.35)  # iso - tanh -1, +2, -1: p 1
    for seed in range(3):
        write(tmp_path, scenario, "iso-naive", seed, iso[seed])
        write(tmp_path, scenario, "naive", seed, frozen[seed])
        write(tmp_path, scenario, "naive#equal", seed, equal[seed])
        write(tmp_path, f"{scenario}-tanhmlp", "naive", seed, tanh[seed])
    write(tmp_path, scenario, "iso-replay", 0, 0.40)  # one seed each: a difference without a test
    write(tmp_path, scenario, "replay", 0, 0.35)
    lines = load_benchmark("wide_table").table(tmp_path).splitlines()
    (naive,) = [line for line in lines if line.startswith("| class, removal | naive |")]
    assert [c.strip() for c in naive.strip("|").split("|")][6:9] == [
        "**+11.00 [+8.52, +13.48] †**",
        "**-5.00 [-9.97, -0.03]**",  # half-width 4.302653 * 2 / sqrt(3) = 4.97
        "+0.00 [-4.30, +4.30]",
    ]
    (replay,) = [line for line in lines if line.startswith("| class, removal | replay |")]
    replay_cells = [c.strip() for c in replay.strip("|").split("|")]
    assert replay_cells[4:9] == ["not run", "not run", "+5.00 (n=1)", "n/a", "n/a"]  # X#equal and TanhMLP absent
    assert len(lines) == 4  # header, rule and the two rows with isotropic runs: the other ten are left out
