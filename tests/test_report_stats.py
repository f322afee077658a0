"""Statistics over seeds (t intervals, paired tests) and the report tables built on them, against hand-computed
values. The t quantiles are from tables (t_{0.975,1} = 12.706205, t_{0.975,2} = 4.302653, t_{0.975,3} = 3.182446);
p-values of a two-sided t-test have closed forms for 1 dof (1 - 2 atan|t| / pi) and 2 dof (1 - |t| / sqrt(2 + t^2))."""

import pytest

from isocl.harness.report import comparison_table, control_of, paired_comparison, topology_table, widths_table
from isocl.harness.stats import holm, mean_ci, paired_difference

# --- stats -----------------------------------------------------------------------------------------------------------


def test_mean_ci_by_hand():
    mean, std, half = mean_ci([1, 2, 3, 4])
    assert mean == pytest.approx(2.5)
    assert std == pytest.approx(1.2909944, abs=1e-6)  # sqrt(5 / 3), ddof 1
    assert half == pytest.approx(3.182446 * 1.2909944 / 2, abs=1e-5)  # 2.0542603
    mean, std, half = mean_ci([2, 4])
    assert (mean, std) == pytest.approx((3.0, 1.4142136)) and half == pytest.approx(12.706205, abs=1e-5)


def test_mean_ci_of_one_value_has_no_spread():
    assert mean_ci([0.7]) == (0.7, None, None)
    with pytest.raises(ValueError):
        mean_ci([])


def test_paired_difference_by_hand():
    # differences 0.10, 0.03, 0.12: mean 0.083333, std 0.0472582, se = std / sqrt(3) = 0.0272845, t = 3.054236
    result = paired_difference([0.80, 0.75, 0.90], [0.70, 0.72, 0.78])
    assert result["n"] == 3
    assert result["mean"] == pytest.approx(0.0833333, abs=1e-6)
    assert result["std"] == pytest.approx(0.0472582, abs=1e-6)
    assert result["ci_low"] == pytest.approx(0.0833333 - 4.302653 * 0.0272845, abs=1e-5)  # -0.034062
    assert result["ci_high"] == pytest.approx(0.0833333 + 4.302653 * 0.0272845, abs=1e-5)  # 0.200729
    assert result["p_value"] == pytest.approx(0.0925575, abs=1e-6)  # 1 - t / sqrt(2 + t^2)


def test_paired_difference_needs_pairs():
    with pytest.raises(ValueError, match="at least 2"):
        paired_difference([0.5], [0.4])
    with pytest.raises(ValueError, match="same length"):
        paired_difference([0.5, 0.6], [0.4])
    assert paired_difference([1, 2, 3], [0, 1, 2])["p_value"] == 0.0  # the same difference every time
    assert paired_difference([1, 2], [1, 2])["p_value"] == 1.0  # no difference at all


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1: 0.03, 0.06, 0.04 -> non-decreasing 0.03, 0.06, 0.06; given order kept
    assert holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert holm([0.6, 0.7]) == [1.0, 1.0]  # capped at 1 (1.2 and 0.7 before the cap)
    assert holm([0.02]) == [0.02] and holm([]) == []


# --- report ----------------------------------------------------------------------------------------------------------


def fake(strategy, seed, acc, params, scenario="s", hidden=((8,),)):
    """A summary as the report reads it; `hidden`: the hidden widths after each epoch (changing: adaptive)."""
    history = [{"step": 0, "epoch": k, "widths": [10, *w, 2]} for k, w in enumerate(hidden)]
    return {
        "scenario": scenario,
        "strategy": strategy,
        "seed": seed,
        "accuracy_matrix": [[acc]],
        "average_accuracy": acc,
        "forgetting": 0.1,
        "bwt": -0.1,
        "params": params,
        "train_seconds": 1.0,
        "config": {"backbone": {"type": "iso_mlp"}, "events": None},  # a scenario without `events`
        "events": [{"train": 0}],
        "removals": [],
        "widths_history": history,
        "widths": [history[-1]["widths"]],
    }


GROWING = ((8,), (9,), (7,))
SUMMARIES = [
    *(fake("naive", s, acc, 1000) for s, acc in [(2, 0.70), (3, 0.80), (1, 0.60)]),
    fake("iso", 0, 0.99, 900, hidden=GROWING),  # no naive run with seed 0: dropped from the pairs
    *(fake("iso", s, acc, p, hidden=GROWING) for s, acc, p in [(1, 0.65, 500), (2, 0.72, 600), (3, 0.86, 700)]),
    fake("replay", 0, 0.50, 1200),
    *(fake("iso-replay", s, acc, 1500, hidden=GROWING) for s, acc in [(0, 0.55), (1, 0.60)]),
    # another scenario: its iso is paired with its own frozen control, never with the naive of scenario s
    *(fake("iso", s, acc, 300, "t", GROWING) for s, acc in [(0, 0.5), (1, 0.6)]),
    *(fake("naive#equal", s, 0.4, 400, "t") for s in (0, 1)),
]


def _row(table: str, *first_cells: str) -> list[str]:
    """The cells of the table row whose first cells are `first_cells`."""
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines() if line.startswith("|")]
    (row,) = [r for r in rows if r[: len(first_cells)] == list(first_cells)]
    return row


def _block(table: str, scenario: str) -> str:
    return table.split(f"### {scenario} ")[1].split("### ")[0]


def test_control_names():
    assert control_of("iso") == ["naive", "naive#equal"]
    assert control_of("iso-replay") == ["replay", "replay#equal"]
    assert control_of("iso-naive#demand") == ["naive", "naive#equal-demand"]
    assert control_of("iso-ewc")[:2] == ["ewc-factored", "ewc"]
    assert control_of("iso-ewc-diag")[0] == "ewc"
    assert control_of("naive") == control_of("iso-replay#frozen") == control_of("isotonic") == []


def test_strategy_table_uses_sample_std_interval_and_fixed_topology_ratio():
    block = _block(comparison_table(SUMMARIES), "s")
    # naive: 60, 70, 80: std ddof 1 = 10 (ddof 0 would be 8.16); half-width 4.302653 * 10 / sqrt(3) = 24.84
    assert _row(block, "naive")[1:5] == ["3", "70.00 ± 10.00", "[45.16, 94.84]", "10.00 ± 0.00"]
    # params over the largest fixed-topology run (replay, 1200; iso-replay's 1500 does not count: its widths change)
    assert _row(block, "naive")[6:8] == ["1,000", "0.83"]
    assert _row(block, "iso", "4")[6:8] == ["675", "0.56"]  # (500 + 600 + 700 + 900) / 4 / 1200
    assert _row(block, "iso-replay", "2")[6:8] == ["1,500", "1.25"]
    assert _row(block, "replay")[3] == "n=1: no interval"


def test_topology_table_pairs_by_seed_and_drops_the_unpaired():
    block = _block(comparison_table(SUMMARIES), "s")
    # iso - naive per seed: 5, 2, 6 pp (seed 0 dropped): mean 4.3333, std 2.0817, se 1.2019, half 5.1711, t 3.6056
    row = _row(block, "iso", "naive")
    # the table's only test (iso-replay pairs one seed): Holm leaves its p as it is
    assert row[2:] == ["3 (unpaired seeds dropped: 0)", "+4.33", "[-0.84, +9.50]", "0.0691", "0.0691", "0.60"]
    numbers = paired_comparison([s for s in SUMMARIES[:7] if s["strategy"] == "iso"], SUMMARIES[:3])
    assert numbers["n"] == 3 and numbers["seeds"] == [1, 2, 3] and numbers["dropped"] == [0]
    assert numbers["mean"] == pytest.approx(4.333333, abs=1e-5)
    assert (numbers["ci_low"], numbers["ci_high"]) == pytest.approx((-0.837812, 9.504479), abs=1e-5)
    assert numbers["p_value"] == pytest.approx(0.0690507, abs=1e-6)
    assert numbers["params_ratio"] == pytest.approx(600 / 1000)  # paired seeds only: seed 0's 900 is left out
    # iso-replay - replay: only seed 0 pairs (55 - 50 pp)
    assert _row(block, "iso-replay", "replay")[2:] == [
        "1 (unpaired seeds dropped: 1)",
        "+5.00",
        "n=1: no interval",
        "n/a",
        "n/a",
        "1.25",
    ]


def test_topology_table_adjusts_p_over_its_tests_by_holm():
    runs = {
        "naive": [fake("naive", k, acc, 100) for k, acc in enumerate((0.60, 0.70, 0.80))],
        "iso-naive": [fake("iso-naive", k, acc, 60) for k, acc in enumerate((0.65, 0.72, 0.86))],  # +5, +2, +6
        "naive#equal": [fake("naive#equal", k, acc, 60) for k, acc in enumerate((0.70, 0.60, 0.80))],  # -5, +12, +6
    }
    table = topology_table(runs)
    raw = [paired_comparison(runs["iso-naive"], runs[c])["p_value"] for c in ("naive", "naive#equal")]
    # -5, +12, +6: mean 4.3333, std 8.6217, t 0.8705; 2 dof: p = 1 - |t| / sqrt(2 + t^2) = 0.4758
    assert raw == pytest.approx([0.0690507, 0.4757894], abs=1e-6)
    # Holm over the two: the smaller times 2 (0.1381), the larger times 1 (0.4758, already above 0.1381)
    assert _row(table, "iso-naive", "naive")[5:7] == ["0.0691", "0.138"]
    assert _row(table, "iso-naive", "naive#equal")[5:7] == ["0.476", "0.476"]


def test_equal_parameter_control_and_scenarios_kept_apart():
    block = _block(comparison_table(SUMMARIES), "t")
    # iso - naive#equal: 10, 20 pp: mean 15, se 5, half 12.706205 * 5 = 63.53, t = 3, p = 1 - 2 atan(3) / pi
    assert _row(block, "iso", "naive#equal")[2:] == ["2", "+15.00", "[-48.53, +78.53]", "0.205", "0.205", "0.75"]
    assert "| iso | naive |" not in block
    assert "Does topology help?" not in topology_table({"naive": SUMMARIES[:3]})


def test_widths_table_averages_each_layer_over_seeds_at_every_event():
    events = [{"train": 0}, {"remove": 0}, {"train": 1}]
    runs = []
    for seed, after in [(0, [[12, 6], [9, 5], [14, 8]]), (1, [[10, 6], [7, 3], [16, 8]])]:
        run = fake("iso", seed, 0.5, 100, hidden=((8, 4), (9, 4)))
        run["events"], run["widths"] = events, [[10, *w, 2] for w in after]
        runs.append(run)
    table = widths_table({"iso": runs, "naive": [fake("naive", 0, 0.5, 100)]})
    assert _row(table, "strategy") == ["strategy", "start", "train 0", "remove 0", "train 1"]
    assert _row(table, "iso") == ["iso", "8/4", "11/6", "8/4", "15/8"]
    assert "| naive |" not in table  # its widths never change
    assert widths_table({"naive": [fake("naive", 0, 0.5, 100)]}) == ""
