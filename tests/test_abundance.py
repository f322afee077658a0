"""The neuro-abundance experiment (isocl/harness/abundance.py): the width plan, the moving and static arms, the
function kept at every growth step, its report's statistics and its scenario checks."""

import copy

import pytest
import torch

from isocl import topology
from isocl.errors import ConfigError
from isocl.harness import abundance_report
from isocl.harness.abundance import initial_network, resize_all, run_all, run_arm
from isocl.harness.abundance_config import abundance_from_dict
from isocl.harness.blocks import Blocks
from isocl.harness.provenance import StaleRunError

RAW = {"name": "a", "kind": "abundance", "pairs": [[10, 4], [4, 10]], "epochs": {"start": 1, "schedule": 3, "end": 1}}
SMALL = {"pairs": [[6, 3]], "epochs": {"start": 1, "schedule": 1, "end": 0}, "batch_size": 32}


def fake_blocks(n=120, dim=12, seed=0) -> Blocks:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, dim, generator=g)
    y = (x[:, :, :10].argmax(2) % 10).long()  # learnable: the largest of the first ten inputs
    return Blocks(x, y, x[:40], y[:40], "fake")


def test_the_width_plan_is_start_then_the_rounded_linear_ramp_then_end():
    scenario = abundance_from_dict(RAW, "a.yaml")
    assert scenario.width_plan(10, 4) == [10, 8, 6, 4, 4]  # linspace(10, 4, 4) = 10, 8, 6, 4
    assert scenario.width_plan(4, 10) == [4, 6, 8, 10, 10]
    wide = abundance_from_dict({**RAW, "epochs": {"start": 2, "schedule": 4, "end": 0}}, "a.yaml")
    assert wide.width_plan(7, 2) == [7, 7, 6, 4, 3, 2]  # 7, 5.75, 4.5, 3.25, 2 rounded half to even (np.rint)
    assert scenario.arms() == {"10-to-4": (10, 4), "static-4": (4, 4), "4-to-10": (4, 10), "static-10": (10, 10)}


def test_arms_follow_their_plan_and_growth_keeps_the_function_exactly():
    scenario = abundance_from_dict({**RAW, "batch_size": 16}, "a.yaml")
    blocks = fake_blocks()
    for start, end in [(10, 4), (4, 10), (4, 4)]:
        records = run_arm(scenario, start, end, 0, blocks)
        assert [r.width for r in records] == scenario.width_plan(start, end)
        resized = [i for i in range(1, len(records)) if records[i].width != records[i - 1].width]
        assert [i for i, r in enumerate(records) if r.accuracy_after_resize is not None] == resized
        assert all(0 <= r.accuracy <= 1 for r in records)
        assert records[-1].params == sum(p.numel() for p in initial_network(scenario, end, 0, 12).parameters())
        if end > start:  # scaffolds are inert: predictions just after a growth are those before it
            assert all(records[i].accuracy_after_resize == records[i - 1].accuracy for i in resized)


def test_every_layer_is_resized_deepest_first():
    scenario = abundance_from_dict(RAW, "a.yaml")
    net = initial_network(scenario, 9, 0, 12).double()
    twin = copy.deepcopy(net)
    resize_all(net, 3, torch.optim.SGD(net.parameters(), 0.1), torch.Generator())
    topology.resize(twin, 1, 3), topology.resize(twin, 0, 3)
    x = torch.randn(20, 12, dtype=torch.float64)
    assert torch.equal(net(x), twin(x))


def test_the_seed_reaches_the_initial_network(monkeypatch):
    import isocl.harness.abundance as abundance

    seen, real = [], abundance.initial_network
    monkeypatch.setattr(abundance, "initial_network", lambda *a: seen.append(a[2]) or real(*a))
    run_arm(abundance_from_dict({**RAW, "batch_size": 32}, "a.yaml"), 4, 4, 3, fake_blocks())
    assert seen == [3]


def test_resizing_every_layer_keeps_a_float64_network_exactly_when_growing():
    scenario = abundance_from_dict(RAW, "a.yaml")
    net = initial_network(scenario, 5, 0, 12).double()
    optimizer = torch.optim.AdamW(net.parameters())
    x = torch.randn(30, 12, dtype=torch.float64)
    before = net(x).detach()
    resize_all(net, 9, optimizer, torch.Generator())
    assert net.sizes[1:-1] == [9, 9]
    assert float((net(x).detach() - before).abs().max()) < 1e-12 * float(before.abs().max())
    resize_all(net, 3, optimizer, torch.Generator())
    assert net.sizes[1:-1] == [3, 3] and optimizer.state_dict()["param_groups"][0]["params"]


def test_runs_are_read_back_and_a_changed_scenario_is_refused(tmp_path, monkeypatch):
    import isocl.harness.abundance as abundance

    monkeypatch.setattr(abundance, "load_blocks", lambda *a: fake_blocks())
    scenario = abundance_from_dict({**RAW, "pairs": [[6, 3]], "batch_size": 32}, "a.yaml")
    first = run_all(scenario, tmp_path)
    assert sorted(s["arm"] for s in first) == ["6-to-3", "static-3"]
    assert all(s["config"]["seed"] == s["seed"] and s["config"]["arm"] == s["arm"] for s in first)
    calls = []
    monkeypatch.setattr(abundance, "run_arm", lambda *a: calls.append(a) or [])
    assert run_all(scenario, tmp_path) == first and not calls  # finished: read back, not run again
    run_all(scenario, tmp_path, restart=True)
    assert len(calls) == 2  # --restart runs them again
    monkeypatch.undo()
    monkeypatch.setattr(abundance, "load_blocks", lambda *a: fake_blocks())
    first = run_all(scenario, tmp_path, restart=True)
    more = abundance_from_dict({**RAW, "pairs": [[6, 3], [8, 3]], "batch_size": 32}, "a.yaml")
    arms = run_all(more, tmp_path)  # another pair leaves the finished arms valid; a shared static arm runs once
    by_arm = {s["arm"]: s for s in arms}
    assert sorted(by_arm) == ["6-to-3", "8-to-3", "static-3"] and by_arm["static-3"] == first[1]
    changed = abundance_from_dict({**RAW, "pairs": [[6, 3]], "batch_size": 16}, "a.yaml")
    with pytest.raises(StaleRunError, match=r"config \(batch_size: 32 -> 16\)"):
        run_all(changed, tmp_path)


def _run(arm, start, end, seed, final, after=None):
    epochs = [
        {"epoch": 0, "width": start, "accuracy": 0.30, "accuracy_after_resize": None, "params": 10, "seconds": 1.0},
        {"epoch": 1, "width": end, "accuracy": final, "accuracy_after_resize": after, "params": 7, "seconds": 2.0},
    ]
    return {"scenario": "a", "arm": arm, "start": start, "end": end, "seed": seed, "epochs": epochs, "git_commit": "c"}


def test_the_report_pairs_each_moving_arm_with_the_static_net_of_its_end_width_by_seed(tmp_path):
    moving = [_run("8-to-4", 8, 4, s, f, after=0.25) for s, f in zip((0, 1, 2), (0.40, 0.45, 0.47), strict=True)]
    static = [_run("static-4", 4, 4, s, f) for s, f in zip((2, 0, 1), (0.44, 0.38, 0.42), strict=True)]
    groups = abundance_report.by_arm(moving + static)
    # differences by seed: 0.40-0.38, 0.45-0.42, 0.47-0.44 = +2, +3, +3 points: mean 8/3, std 1/sqrt(3)
    half = 4.302652729911275 * (1 / 3**0.5) / 3**0.5  # t(0.975, 2) * std / sqrt(3)
    row = abundance_report.paired_table(groups).splitlines()[2]
    assert row.startswith("| 8-to-4 - static-4 | 3 | +2.67 |")
    assert f"[{8 / 3 - half:+.2f}, {8 / 3 + half:+.2f}]" in row
    assert len(abundance_report.paired_table(groups).splitlines()) == 3  # no row for a static arm
    text = abundance_report.write_report("a", moving + static, tmp_path).read_text()
    half = 4.302652729911275 * 13**0.5 / 3**0.5  # 40, 45, 47: std sqrt(13); t(0.975, 2)
    assert f"| 8-to-4 | 8 -> 4 | 3 | 44.00 ± {half:.2f} | 5.00 | 7 | 3 |" in text  # params at the end, 1 + 2 s
    assert (tmp_path / "a-accuracy-and-widths.png").stat().st_size


def test_pairs_are_made_by_seed_and_the_largest_drop_is_the_largest():
    moving = [_run("8-to-4", 8, 4, s, f) for s, f in zip((0, 1, 2), (0.40, 0.45, 0.47), strict=True)]
    static = [_run("static-4", 4, 4, s, f) for s, f in zip((1, 2, 3), (0.42, 0.44, 0.10), strict=True)]
    row = abundance_report.paired_table(abundance_report.by_arm(moving + static)).splitlines()[2]
    assert row.startswith("| 8-to-4 - static-4 | 2 | +3.00 |")  # seeds 1 and 2 only: +3 and +3 points
    run = _run("8-to-4", 8, 4, 0, 0.5, after=0.25)
    run["epochs"].append({**run["epochs"][1], "epoch": 2, "accuracy_after_resize": 0.10})
    assert abundance_report.largest_resize_drop(run) == pytest.approx(40.0)  # drops of 5 and 40 points


@pytest.mark.parametrize(
    "change, message",
    [
        ({"pairs": [[5, 5]]}, r"a pair's widths must differ"),
        ({"pairs": [[5, 0]]}, r"pairs=\[\[5, 0\]\] must list \[start width, end width\] pairs"),
        ({"pairs": "5,3"}, r"pairs='5,3' must list"),
        ({"epochs": {"start": 1, "end": 1}}, r"epochs must be \{start: N, schedule: N, end: N\}"),
        ({"epochs": {"start": 1, "schedule": 0, "end": 1}}, r"epochs.schedule=0 must be an integer >= 1"),
        ({"dataset": "svhn"}, r"dataset='svhn' is not valid"),
        ({"train_size": 0}, r"train_size"),
        ({"widths": 3}, r"unknown field\(s\) \['widths'\]"),
        ({"seeds": [-1]}, r"seeds=\[-1\] must be a non-empty list"),
    ],
)
def test_abundance_scenarios_name_the_field(change, message):
    with pytest.raises(ConfigError, match=message):
        abundance_from_dict({**RAW, **change}, "a.yaml")


def test_scenario_files_dispatch_on_their_kind_to_their_runner_and_report(tmp_path, monkeypatch):
    import yaml

    import isocl.harness.abundance as abundance
    from isocl.harness.abundance_config import AbundanceScenario
    from isocl.harness.experiments import load_experiment, run_experiment

    monkeypatch.setattr(abundance, "load_blocks", lambda *a: fake_blocks())

    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump({**RAW, **SMALL}))
    assert isinstance(load_experiment(str(path)), AbundanceScenario)
    assert "| arm | widths |" in run_experiment(load_experiment(str(path)), tmp_path).read_text()
    path.write_text(yaml.safe_dump({**RAW, "kind": "abundant"}))
    with pytest.raises(ConfigError, match=r"kind='abundant' must be one of \['abundance', 'scheduled'\]"):
        load_experiment(str(path))
