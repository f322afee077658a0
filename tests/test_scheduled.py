"""The scheduled-task experiment (isocl/harness/scheduled.py): loss weighting, the identical start of every
policy of a seed, growth at a switch-on that keeps the function, the records, and its scenario checks."""

import pytest
import torch

from isocl.errors import ConfigError
from isocl.harness.blocks import Blocks, task_losses, weighted_loss
from isocl.harness.scheduled import initial_network, run_schedule, switched_on_demand
from isocl.harness.scheduled_config import scheduled_from_dict

RAW = {
    "name": "s",
    "kind": "scheduled",
    "blocks": [{"dataset": "mnist"}, {"dataset": "fashion_mnist"}, {"dataset": "mnist", "permuted": True}],
    "phases": [[0], [0, 1], [1]],
    "epochs_per_phase": 2,
    "hidden_range": [6, 12],
    "batch_size": 16,
}


def fake_blocks(n=96, dim=8, tasks=3, seed=0) -> Blocks:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, tasks, dim, generator=g)
    y = torch.randint(0, 10, (n, tasks), generator=g)
    return Blocks(x, y, x[:32], y[:32], "fake")


def test_an_inactive_task_takes_no_part_in_the_loss_or_its_gradient():
    logits = torch.randn(5, 30, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 10, (5, 3))
    loss = weighted_loss(logits, y, active=[0, 2])
    per_task = task_losses(logits, y)
    assert loss.item() == (per_task[0] + per_task[2]).item()
    (grad,) = torch.autograd.grad(loss, logits)
    assert torch.count_nonzero(grad[:, 10:20]) == 0 and torch.count_nonzero(grad[:, :10]) > 0


def test_every_policy_of_a_seed_starts_from_the_identical_network():
    scenario = scheduled_from_dict(RAW, "s.yaml")
    a, b = initial_network(scenario, 3, 24), initial_network(scenario, 3, 24)
    assert a.sizes == b.sizes and all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    assert all(6 <= w <= 12 for w in a.sizes[1:-1]) and a.sizes[-1] == 30
    assert initial_network(scenario, 4, 24).sizes != a.sizes or not torch.equal(
        initial_network(scenario, 4, 24).maps[0].weight, a.maps[0].weight
    )


def test_growth_when_a_task_is_switched_on_keeps_the_function_exactly():
    scenario = scheduled_from_dict(RAW, "s.yaml")
    blocks = fake_blocks()
    blocks.train_x = blocks.train_x.double()
    net = initial_network(scenario, 0, 24).double()
    x = blocks.train_x[:20].flatten(1)
    before, widths = net(x).detach(), net.sizes
    switched_on_demand(net, blocks, 1, [], scenario.topology_policy("demand"), 64, torch.Generator())
    assert net.sizes != widths  # it grew (no earlier task occupies any direction)
    # exact up to float64 summation order (the zero incoming rows add zeros to every sum)
    assert float((net(x) - before).abs().max()) < 1e-12 * float(before.abs().max())


def test_static_keeps_its_widths_and_the_rules_change_them_with_one_record_per_epoch():
    scenario = scheduled_from_dict(RAW, "s.yaml")
    blocks = fake_blocks()
    runs = {p: run_schedule(scenario, p, 0, blocks) for p in ("static", "author", "demand")}
    for records in runs.values():
        assert [r.phase for r in records] == [0, 0, 1, 1, 2, 2] and [r.active for r in records][-1] == [1]
        assert all(len(r.accuracy) == 3 and all(0 <= a <= 1 for a in r.accuracy) for r in records)
    start = initial_network(scenario, 0, 24).sizes[1:-1]
    assert all(r.widths == start for r in runs["static"])
    assert any(r.widths != start for r in runs["author"]) and any(r.widths != start for r in runs["demand"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"phases": [[0], [3]]}, r"phases=\[\[0\], \[3\]\] must list the active tasks \(0..2\)"),
        ({"blocks": [{"dataset": "emnist"}]}, r"blocks\[0\].dataset='emnist' is not valid"),
        ({"hidden_range": [10, 5]}, r"hidden_range=\[10, 5\] must be \[low, high\]"),
        ({"policies": ["grow"]}, r"policies='grow' is not valid"),
        ({"topology": {"thresh": 1}}, r"topology: unknown field\(s\) \['thresh'\]"),
        ({"epochs": 3}, r"unknown field\(s\) \['epochs'\]"),
        ({"policies": ["equal", "demand"]}, r"policies: 'equal' trains demand's final widths; list 'demand' before"),
    ],
)
def test_scheduled_scenarios_name_the_field(change, message):
    with pytest.raises(ConfigError, match=message):
        scheduled_from_dict({**RAW, **change}, "s.yaml")


def test_the_equal_control_trains_demands_final_widths_of_the_same_seed_fixed(tmp_path, monkeypatch):
    import isocl.harness.scheduled as scheduled

    monkeypatch.setattr(scheduled, "load_blocks", lambda *a: fake_blocks())
    scenario = scheduled_from_dict({**RAW, "policies": ["demand", "static", "equal"], "seeds": [0, 1]}, "s.yaml")
    summaries = {(s["policy"], s["seed"]): s for s in scheduled.run_all(scenario, tmp_path)}
    for seed in (0, 1):
        demand_end = summaries[("demand", seed)]["epochs"][-1]["widths"]
        equal = summaries[("equal", seed)]
        assert all(e["widths"] == demand_end for e in equal["epochs"]) and equal["config"]["widths"] == demand_end
        assert demand_end != summaries[("static", seed)]["epochs"][0]["widths"]  # demand grew: a different size
    assert summaries[("equal", 0)]["epochs"][0]["widths"] != summaries[("equal", 1)]["epochs"][0]["widths"]
    calls = []
    monkeypatch.setattr(scheduled, "run_schedule", lambda *a: calls.append(a) or [])
    one_seed = scheduled_from_dict({**RAW, "policies": ["demand", "static", "equal"], "seeds": [1]}, "s.yaml")
    assert len(scheduled.run_all(one_seed, tmp_path)) == 3 and not calls  # runs split by seed are read back


def test_one_report_covers_stream_and_scheduled_runs_in_one_folder(tmp_path):
    import dataclasses

    from isocl.harness import store
    from isocl.harness.report import write_report
    from isocl.harness.runner import run_scenario
    from tests.test_harness import options, tiny_scenario

    run_scenario(tiny_scenario(), options(tmp_path))
    scenario = scheduled_from_dict(RAW, "s.yaml")
    for policy in ("author", "static"):
        epochs = [dataclasses.asdict(e) for e in run_schedule(scenario, policy, 0, fake_blocks())]
        summary = {"scenario": "s", "policy": policy, "seed": 0, "git_commit": "x", "epochs": epochs}
        store.write_json_atomic(tmp_path / "s" / policy / "seed0" / "summary.json", summary)
    text = write_report(tmp_path, tmp_path / "report").read_text()
    assert "| naive | 1 |" in text and "### s (scheduled tasks)" in text and "| static | 2 ([1]) |" in text
    assert (tmp_path / "report" / "s-accuracy-and-widths.png").stat().st_size > 0


def test_a_permuted_block_is_the_standardised_images_under_the_seeds_permutation(monkeypatch):
    from types import SimpleNamespace

    import isocl.harness.blocks as blocks
    from isocl.data.domain import experience_permutation, permute_pixels
    from isocl.data.streams import standardise
    from isocl.harness.blocks import load_blocks

    g = torch.Generator().manual_seed(0)
    x, tx = torch.rand(20, 1, 4, 4, generator=g), torch.rand(8, 1, 4, 4, generator=g)
    y, ty = torch.zeros(20, dtype=torch.long), torch.zeros(8, dtype=torch.long)
    monkeypatch.setattr(blocks, "load_dataset", lambda *a: SimpleNamespace(train_x=x, test_x=tx, train_y=y,
                                                                            test_y=ty, digest=lambda: "d"))  # fmt: skip
    got = load_blocks([{"dataset": "mnist"}, {"dataset": "mnist", "permuted": True}], None, None, 5, None, None)
    plain, _ = standardise(x, tx)
    permutation = experience_permutation(16, 5, 2, identity_first=False)  # block 1 is the seed's experience 2
    assert torch.equal(got.train_x[:, 0], plain.flatten(1))
    assert torch.equal(got.train_x[:, 1], permute_pixels(plain, permutation).flatten(1))
