"""Task removal: scenario events, retained-only metrics, every strategy forgetting the task, iso networks shrinking."""

import json
from types import SimpleNamespace

import pytest
import torch

from isocl import topology
from isocl.cl import TopologyPlugin, TopologyPolicy
from isocl.cl.classifier import MASK
from isocl.cl.strategy import ISO_PREFIX
from isocl.harness import steps
from isocl.harness.config import ConfigError
from isocl.harness.metrics import average_accuracy, bwt, forgetting, removal_accuracies, retained
from isocl.harness.runner import run_scenario
from isocl.nn import IsoMLP
from isocl.topology.release import task_directions
from tests.test_harness import (
    COMBINATIONS,
    SMALL_MEMORY,
    KilledError,
    comparable,
    options,
    run_killed_at,
    tiny_scenario,
)

EVENTS = [{"train": 0}, {"train": 1}, {"train": 2}, {"remove": 1}, {"train": 3}, {"train": 4}]


# --- scenario validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([{"train": 0}, {"train": 0}], "trained twice"),
        ([{"train": 0}, {"remove": 1}], "not trained yet"),
        ([{"train": 0}, {"train": 1}, {"remove": 1}, {"remove": 1}], "already removed"),
        ([{"train": 7}], "0..4"),
        ([{"train": 0}, {"forget": 0}], "{train: i} or {remove: i}"),
        ([{"train": 0, "remove": 0}], "{train: i} or {remove: i}"),
        ([{"train": 0}, {"remove": 0}], "at least one trained experience"),
        ([], "non-empty list"),
    ],
)
def test_invalid_events_name_the_problem(events, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        tiny_scenario(events=events)


def test_joint_training_refuses_events():
    with pytest.raises(ConfigError, match="joint trains once"):
        tiny_scenario(strategies={"joint": {}}, events=EVENTS)


# --- metrics over retained experiences -----------------------------------------------------------------------------

# rows after: train 0, train 1, remove 0, train 2
MATRIX = [
    [0.9, 0.0, 0.0],
    [0.5, 0.8, 0.0],
    [0.0, 0.7, 0.0],
    [0.0, 0.6, 0.9],
]
ROW_EVENTS = [("train", 0), ("train", 1), ("remove", 0), ("train", 2)]


def test_metrics_count_only_retained_experiences():
    assert retained(ROW_EVENTS) == [1, 2] and retained(ROW_EVENTS, 1) == [0, 1]
    assert average_accuracy(MATRIX, ROW_EVENTS) == pytest.approx((0.6 + 0.9) / 2)
    # only experience 1 was trained before the last training row and is retained: best 0.8, final 0.6
    assert forgetting(MATRIX, ROW_EVENTS) == pytest.approx(0.8 - 0.6)
    assert bwt(MATRIX, ROW_EVENTS) == pytest.approx(0.6 - 0.8)


# --- every strategy supports the event -----------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["class", "task"])
@pytest.mark.parametrize(("name", "backbone"), [c for c in COMBINATIONS if not c[0].endswith("joint")])
def test_every_strategy_runs_a_removal(tmp_path, name, backbone, setting):
    scenario = tiny_scenario(setting, {name: SMALL_MEMORY.get(name, {})}, backbone, events=EVENTS)
    (summary,) = run_scenario(scenario, options(tmp_path))
    assert len(summary["accuracy_matrix"]) == len(EVENTS)
    (removal,) = summary["removals"]
    assert removal["experience"] == 1 and removal["retained"] == [0, 2]
    assert removal["after"]["widths"][-1] == removal["before"]["widths"][-1] - 2  # its two output units
    assert removal["after"]["params"] < removal["before"]["params"]
    for key in ("retained_accuracy_before", "retained_accuracy_after", "retained_accuracy_end"):
        assert 0.0 <= removal[key] <= 1.0
    final = summary["accuracy_matrix"][-1]
    assert summary["average_accuracy"] == pytest.approx((final[0] + final[2] + final[3] + final[4]) / 4)
    if setting == "class":  # no output unit is left for its classes
        assert final[1] == 0.0
    marker = [e for e in summary["widths_history"] if e.get("event") == "remove"]
    assert len(marker) == 1 and marker[0]["widths"] == removal["after"]["widths"]
    hidden_widths = {tuple(e["widths"][1:-1]) for e in summary["widths_history"]}
    if name.startswith(ISO_PREFIX):  # the topology layer changes the hidden widths; a fixed network never does
        assert len(hidden_widths) > 1
    else:
        assert hidden_widths == {(32,)}


def test_iso_network_shrinks_after_a_removal(tmp_path):
    scenario = tiny_scenario("task", {"iso": {}}, "iso_mlp", events=EVENTS)
    (summary,) = run_scenario(scenario, options(tmp_path))
    (removal,) = summary["removals"]
    hidden = removal["before"]["widths"][1:-1], removal["after"]["widths"][1:-1]
    assert all(after < before for before, after in zip(*hidden, strict=True))
    # the two output units account for 2 * (width + 1) parameters (+ psi); the hidden layers gave back more
    assert removal["before"]["params"] - removal["after"]["params"] > 2 * (hidden[0][-1] + 2)
    assert removal["end"]["params"] < removal["before"]["params"]


def test_resume_across_a_removal_gives_the_same_summary(tmp_path, monkeypatch):
    scenario = tiny_scenario("class", {"iso-replay": SMALL_MEMORY["iso-replay"]}, "iso_mlp", events=EVENTS)
    (reference,) = run_scenario(scenario, options(tmp_path / "straight"))
    run_killed_at(scenario, options(tmp_path / "resumed"), monkeypatch, 3)
    (resumed,) = run_scenario(scenario, options(tmp_path / "resumed"))
    assert comparable(resumed) == comparable(reference)
    lines = (tmp_path / "resumed" / scenario.name / "iso-replay" / "seed0" / "metrics.jsonl").read_text()
    assert [r["step"] for r in map(json.loads, lines.splitlines()) if r["event"] == "eval"] == list(range(6))


# --- what the strategies keep of the removed experience ------------------------------------------------------------


def run_until_removed(tmp_path, monkeypatch, name, setting="class", backbone="tanh_mlp"):
    """Run the EVENTS scenario up to and including the removal; return the strategy (and its model)."""
    captured = {}
    real_remove = steps.remove_step

    def remove_and_stop(strategy, *args):
        real_remove(strategy, *args)
        captured["run"] = SimpleNamespace(strategy=strategy, model=strategy.model)
        raise KilledError

    monkeypatch.setattr(steps, "remove_step", remove_and_stop)
    scenario = tiny_scenario(setting, {name: SMALL_MEMORY.get(name, {})}, backbone, events=EVENTS)
    with pytest.raises(KilledError):
        run_scenario(scenario, options(tmp_path))
    return captured["run"]


def test_replay_memory_holds_no_sample_of_the_removed_classes(tmp_path, monkeypatch):
    run = run_until_removed(tmp_path, monkeypatch, "replay")
    (replay,) = [p for p in run.strategy.plugins if type(p).__name__ == "ReplayPlugin"]
    targets = {int(y) for y in replay.storage_policy.buffer.targets}
    assert targets == {0, 1, 4, 5}  # experiences 0 and 2 kept, experience 1 (classes 2, 3) gone
    assert sorted(replay.storage_policy.buffer_groups) == [0, 1]


def test_der_logits_of_removed_classes_read_mask(tmp_path, monkeypatch):
    run = run_until_removed(tmp_path, monkeypatch, "der")
    policy = run.strategy.storage_policy
    assert not {2, 3} & set(policy.buffer_groups)
    logits = torch.stack(list(policy.buffer._data_attributes["logits"].data))
    assert (logits[:, [2, 3]] == MASK).all() and (logits[:, [0, 1]] != MASK).all()


def test_ewc_importances_take_the_smaller_output_layer(tmp_path, monkeypatch):
    run = run_until_removed(tmp_path, monkeypatch, "ewc")
    (ewc,) = [p for p in run.strategy.plugins if type(p).__name__ == "EWCPlugin"]
    assert sorted(ewc.importances) == [0, 2]  # training slots of experiences 0 and 2
    params = dict(run.model.named_parameters())
    for store in [*ewc.importances.values(), *ewc.saved_params.values()]:
        for name, data in store.items():
            assert data.data.shape == params[name].shape


def test_lwf_stops_distilling_the_removed_classes(tmp_path, monkeypatch):
    run = run_until_removed(tmp_path, monkeypatch, "lwf")
    (lwf,) = [p for p in run.strategy.plugins if type(p).__name__ == "LwFPlugin"]
    assert set().union(*lwf.lwf.prev_classes_by_task.values()) == {0, 1, 4, 5}


# --- the release operation -----------------------------------------------------------------------------------------


def test_task_directions_are_orthogonal_and_dominated_by_the_removed_task(float64):
    g = torch.Generator().manual_seed(0)
    removed = torch.randn(50, 12, generator=g, dtype=torch.float64)
    removed[:, :3] *= 10  # the removed task's own directions: axes 0-2
    retained = torch.randn(80, 12, generator=g, dtype=torch.float64)
    retained[:, :3] *= 0.01
    R, m = task_directions(removed, retained, ratio=4.0)
    assert torch.allclose(R.T @ R, torch.eye(12, dtype=torch.float64), atol=1e-12)
    own = R[:, -m:]
    c_removed, c_retained = removed.T @ removed / 50, retained.T @ retained / 80
    assert ((own.T @ c_removed @ own).diagonal() > 4.0 * (own.T @ c_retained @ own).diagonal()).all()
    assert m >= 3 and (own[:3].norm(dim=0).square().sum() > 2.9)  # they span axes 0-2


def tiny_iso(seed=0):
    torch.manual_seed(seed)
    return IsoMLP([6, 20, 20, 4])


def test_release_changes_retained_outputs_far_less_than_removed_ones(float64):
    net = tiny_iso()
    g = torch.Generator().manual_seed(1)
    basis = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))[0]
    removed_x = torch.randn(64, 3, generator=g, dtype=torch.float64) @ basis[:, :3].T * 3
    retained_x = torch.randn(64, 3, generator=g, dtype=torch.float64) @ basis[:, 3:].T * 3
    before = net(removed_x), net(retained_x)
    change = topology.release(net, removed_x, retained_x, ratio=4.0, decay=0.1)
    after = net(removed_x), net(retained_x)
    assert all(n > 0 for n in change.info["released"].values())
    moved = [((a - b).norm() / b.norm()).item() for a, b in zip(after, before, strict=True)]
    assert moved[1] < 0.2 * moved[0]


def test_release_rotations_are_exact_symmetries(float64):
    net = tiny_iso()
    x = torch.randn(32, 6, dtype=torch.float64)
    before = net(x)
    change = topology.release(net, x[:16], x[16:], ratio=0.5, decay=1.0)  # decay 1: the rotations alone
    assert len(change.steps) == 2 and any(n > 0 for n in change.info["released"].values())
    assert torch.allclose(net(x), before, atol=1e-12)


def test_topology_plugin_prunes_the_released_neurons(float64):
    class Holder:  # the strategy attributes TopologyPlugin reads
        pass

    net = tiny_iso()
    model = type("M", (), {})()
    model.backbone = net
    strategy = Holder()
    strategy.model = model
    strategy.optimizer = torch.optim.Adam(net.parameters())
    plugin = TopologyPlugin(TopologyPolicy(threshold=0.95, n_scaffold=1))
    strategy.plugins = [plugin]
    g = torch.Generator().manual_seed(2)
    plugin.probes = {0: torch.randn(40, 6, generator=g, dtype=torch.float64) * 3}
    plugin.probes[1] = torch.randn(40, 6, generator=g, dtype=torch.float64)
    plugin.probes[1][:, :3] *= 0.01
    plugin.probes[0][:, 3:] *= 0.01
    widths = net.sizes
    plugin.forget_experience(strategy, type("R", (), {"experience": 0})())
    assert all(after < before for before, after in zip(widths[1:-1], net.sizes[1:-1], strict=True))
    assert list(plugin.probes) == [1]


def test_report_has_a_removal_table_and_marks_the_removal(tmp_path):
    from isocl.harness.report import _epoch_axis, write_report

    scenario = tiny_scenario("class", {"naive": {}, "iso": {}}, "iso_mlp", events=EVENTS)
    summaries = run_scenario(scenario, options(tmp_path / "runs"))
    text = write_report(tmp_path / "runs", tmp_path / "report").read_text()
    rows = [line for line in text.splitlines() if line.startswith(("| iso | 1 |", "| naive | 1 |"))]
    assert len(rows) == 4  # each strategy: one comparison row and one removal row
    assert "Removals" in text and (tmp_path / "report" / "tiny-class-widths.png").stat().st_size > 0
    history = next(s for s in summaries if s["strategy"] == "iso")["widths_history"]
    x = _epoch_axis(history)
    (at,) = [i for i, e in enumerate(history) if e.get("event") == "remove"]
    assert x[at] == 6.5 and x[at + 1] == 7  # after the 6 epochs of experiences 0-2, before the next one


def test_removal_accuracies_by_hand():
    # the removal of experience 0 at row 2: retained then [1]; before row 1, after row 2, end row 3
    entry = removal_accuracies(MATRIX, ROW_EVENTS, 2, 0)
    assert entry["retained"] == [1]
    assert entry["retained_accuracy_before"] == pytest.approx(0.8)
    assert entry["retained_accuracy_after"] == pytest.approx(0.7)
    assert entry["retained_accuracy_end"] == pytest.approx(0.6)
    assert entry["removed_accuracy_before"] == pytest.approx(0.5)


def test_release_parameters_reach_the_plugin(tmp_path):
    """A lower ratio releases every direction a higher one does and more (from the same trained network)."""
    freed = {}
    for ratio in (1.0, 8.0):
        scenario = tiny_scenario("task", {"iso": {"release_ratio": ratio}}, "iso_mlp", events=EVENTS)
        (summary,) = run_scenario(scenario, options(tmp_path / str(ratio)))
        (removal,) = summary["removals"]
        assert summary["config"]["strategy_params"]["release_ratio"] == ratio
        freed[ratio] = removal["before"]["params"] - removal["after"]["params"]
    assert freed[1.0] > freed[8.0]
