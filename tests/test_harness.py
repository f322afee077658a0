"""The harness end to end on the synthetic stream: every strategy, both settings, resume, determinism, W&B."""

import dataclasses
import json
import os
import re

import pytest

from isocl.cl import TopologyPolicy
from isocl.cl.strategy import ISO_PREFIX, STRATEGIES, lookup
from isocl.errors import ConfigError
from isocl.harness import runner, steps
from isocl.harness.config import scenario_from_dict
from isocl.harness.runner import RunOptions, run_scenario

BASE_NAMES = STRATEGIES.names()


def tiny_scenario(setting="class", strategies=None, backbone="tanh_mlp", **overrides):
    raw = {
        "name": f"tiny-{setting}",
        "dataset": "synthetic",
        "setting": setting,
        "n_experiences": 5,
        "backbone": {"type": backbone, "hidden": [32]},
        "epochs": 2,
        "batch_size": 32,
        "seeds": [0],
        "strategies": strategies or {"naive": {}},
        **overrides,
    }
    return scenario_from_dict(raw, "test")


# ISOCL_TEST_DEVICE=cuda runs the end-to-end tests on a GPU (CI has none; the default is the CPU)
TEST_DEVICE = os.environ.get("ISOCL_TEST_DEVICE", "cpu")


def options(tmp_path, **kw):
    defaults = {"out": tmp_path, "wandb": "disabled", "progress": False, "cache_dir": tmp_path / "cache"}
    return RunOptions(**{**defaults, "device": TEST_DEVICE, **kw})


SMALL_MEMORY = {
    "replay": {"mem_size": 40},
    "der": {"mem_size": 40},
    "agem": {"patterns_per_exp": 10},
    "gem": {"patterns_per_exp": 10},
}
SMALL_MEMORY |= {ISO_PREFIX + name: params for name, params in SMALL_MEMORY.items()}

# every registered strategy on both fixed backbones, and its iso- variant on the isotropic one
COMBINATIONS = [(n, b) for n in BASE_NAMES for b in ("tanh_mlp", "iso_mlp")] + [
    (ISO_PREFIX + n, "iso_mlp") for n in BASE_NAMES
]


@pytest.mark.parametrize("setting", ["class", "task"])
@pytest.mark.parametrize(("name", "backbone"), COMBINATIONS)
def test_every_strategy_runs_on_every_backbone_and_setting(tmp_path, name, backbone, setting):
    scenario = tiny_scenario(setting, {name: SMALL_MEMORY.get(name, {})}, backbone)
    (summary,) = run_scenario(scenario, options(tmp_path))
    matrix = summary["accuracy_matrix"]
    once = lookup(name).trains_once  # joint training: one row
    assert len(matrix) == (1 if once else 5) and all(len(row) == 5 for row in matrix)
    assert all(0.0 <= a <= 1.0 for row in matrix for a in row)
    assert summary["average_accuracy"] > 0.2  # chance is 0.1 (class) or 0.5 per task; blobs are separable
    assert (summary["forgetting"] is None) == once
    if not name.startswith("iso"):  # fixed topology: 16 inputs, 32 hidden, 10 outputs (+ psi and o for IsoMLP)
        assert summary["params"] == 16 * 32 + 32 + 32 * 10 + 10 + (11 if backbone == "iso_mlp" else 0)
    start, *epochs = summary["widths_history"]
    assert start["event"] == "start" and start["widths"][1:-1] == [32]  # the widths it began with
    assert len(epochs) == 2 * len(matrix) and all(e["widths"][0] == 16 for e in epochs)
    for key in ("scenario", "strategy", "seed", "bwt", "train_seconds", "config"):
        assert key in summary
    lines = [
        json.loads(x) for x in (tmp_path / scenario.name / name / "seed0" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["accuracy"] for r in lines if r["event"] == "eval"] == matrix
    assert [r for r in lines if r["event"] == "epoch"] == epochs
    assert not (tmp_path / scenario.name / name / "seed0" / "checkpoint.pt").exists()  # removed when done


def test_task_labels_protect_naive_fine_tuning(tmp_path):
    (task,) = run_scenario(tiny_scenario("task"), options(tmp_path))
    (single_head,) = run_scenario(tiny_scenario("class"), options(tmp_path))
    # each 2-way head is masked to its task, so the new task's logits cannot take over the old ones
    assert task["average_accuracy"] > 0.8 > single_head["average_accuracy"]


def comparable(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "train_seconds"}


def test_same_seed_gives_identical_results(tmp_path):
    scenario = tiny_scenario(strategies={"naive": {}, "replay": {"mem_size": 40}})
    first = run_scenario(scenario, options(tmp_path / "a"))
    second = run_scenario(scenario, options(tmp_path / "b"))
    assert [comparable(s) for s in first] == [comparable(s) for s in second]


class KilledError(Exception):
    pass


def run_killed_at(scenario, run_options, monkeypatch, experience: int) -> None:
    """Run the scenario, killed (KilledError) as it starts training `experience`; the real step is put back."""
    real = steps.train_step

    def killed(strategy, stream, exp):
        if exp == experience:
            raise KilledError
        return real(strategy, stream, exp)

    monkeypatch.setattr(steps, "train_step", killed)
    try:
        with pytest.raises(KilledError):
            run_scenario(scenario, run_options)
    finally:
        monkeypatch.setattr(steps, "train_step", real)


@pytest.mark.parametrize(
    "name", ["naive", "ewc", "si", "replay", "der", "lwf", "iso", "iso-replay", "iso-ewc", "iso-si"]
)
def test_resume_after_an_interruption_gives_the_same_summary(tmp_path, monkeypatch, name):
    backbone = "iso_mlp" if name.startswith("iso") else "tanh_mlp"  # iso: the checkpoint holds a changed topology
    scenario = tiny_scenario(strategies={name: SMALL_MEMORY.get(name, {})}, backbone=backbone)
    (reference,) = run_scenario(scenario, options(tmp_path / "straight"))

    run_killed_at(scenario, options(tmp_path / "resumed"), monkeypatch, 2)
    run_dir = tmp_path / "resumed" / scenario.name / name / "seed0"
    assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "summary.json").exists()
    (resumed,) = run_scenario(scenario, options(tmp_path / "resumed"))
    assert comparable(resumed) == comparable(reference)
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if r["event"] == "eval"] == [0, 1, 2, 3, 4]


def test_finished_runs_are_skipped(tmp_path, monkeypatch):
    scenario = tiny_scenario()
    (first,) = run_scenario(scenario, options(tmp_path))
    monkeypatch.setattr(runner, "execute", lambda run: pytest.fail("a finished run was trained again"))
    (again,) = run_scenario(scenario, options(tmp_path))
    assert again == first


def test_offline_wandb_run_holds_the_forgetting_metric(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    (summary,) = run_scenario(tiny_scenario(), options(tmp_path, wandb="offline"))
    (run_file,) = (tmp_path / "tiny-class" / "naive" / "seed0" / "wandb").glob("offline-run-*/*.wandb")
    records = run_file.read_bytes()
    for key in ("forgetting", "average_accuracy", "bwt"):
        assert wandb_summary_value(records, key) == pytest.approx(summary[key])


def wandb_summary_value(records: bytes, key: str) -> float:
    """A summary item in an offline .wandb file: protobuf SummaryItem {1: key, 16: value_json}."""
    match = re.search(re.escape(bytes([0x0A, len(key)]) + key.encode() + b"\x82\x01") + rb"(.)", records, re.S)
    assert match, f"no summary item {key!r} in the W&B run"
    start = match.end()
    return json.loads(records[start : start + match.group(1)[0]])


def test_a_broken_wandb_warns_and_keeps_the_local_results(tmp_path, monkeypatch):
    import wandb

    def no_network(**kwargs):
        raise RuntimeError("no route to host")

    monkeypatch.setattr(wandb, "init", no_network)
    with pytest.warns(UserWarning, match="W&B start failed"):
        (summary,) = run_scenario(tiny_scenario(), options(tmp_path, wandb="online"))
    assert (tmp_path / "tiny-class" / "naive" / "seed0" / "summary.json").exists()
    assert summary["forgetting"] is not None


def test_seeded_class_order_changes_with_the_seed(tmp_path):
    scenario = dataclasses.replace(tiny_scenario(), class_order="seeded", seeds=(0, 1))
    first, second = run_scenario(scenario, options(tmp_path))
    assert first["accuracy_matrix"] != second["accuracy_matrix"]


def test_report_plots_widths_of_changing_networks(tmp_path):
    from isocl.harness.report import write_report

    scenario = tiny_scenario(strategies={"naive": {}, "iso": {"n_scaffold": 2}}, backbone="iso_mlp")
    run_scenario(scenario, options(tmp_path / "runs"))
    report = write_report(tmp_path / "runs", tmp_path / "report")
    text = report.read_text()
    assert "| iso | 1 |" in text and "| naive | 1 |" in text
    assert (tmp_path / "report" / "tiny-class-widths.png").stat().st_size > 0  # iso's widths change, naive's do not


def test_a_strategy_registered_in_one_place_gets_its_iso_variant(tmp_path):
    """What a new strategy file does: register a builder. Its iso- variant needs no other edit."""
    from avalanche.training import Naive

    from isocl.cl.strategy import Count, register_strategy

    @register_strategy("test-only-fresh")
    def fresh(ctx, repeats: Count = 1):
        return Naive(**ctx.template_kwargs())

    events = [{"train": 0}, {"train": 1}, {"remove": 0}, {"train": 2}, {"train": 3}, {"train": 4}]
    strategies = {"test-only-fresh": {}, "iso-test-only-fresh": {"n_scaffold": 3}}
    plain, iso = run_scenario(tiny_scenario("task", strategies, "iso_mlp", events=events), options(tmp_path))
    assert {tuple(e["widths"][1:-1]) for e in plain["widths_history"]} == {(32,)}
    assert len({tuple(e["widths"][1:-1]) for e in iso["widths_history"]}) > 1
    assert iso["config"]["strategy_params"] == {"repeats": 1, **vars(TopologyPolicy(n_scaffold=3))}
    with pytest.raises(ConfigError, match=r"repeats=0: input should be greater than or equal to 1"):
        tiny_scenario(strategies={"iso-test-only-fresh": {"repeats": 0}}, backbone="iso_mlp")


@pytest.mark.parametrize("head", ["full", "incremental"])
@pytest.mark.parametrize("setting", ["class", "task"])
def test_the_head_policy_is_the_same_for_every_strategy(tmp_path, head, setting):
    names = ["naive", "iso-naive", "replay", "iso-replay", "ewc", "iso-ewc-diag"]
    scenario = tiny_scenario(setting, {n: SMALL_MEMORY.get(n, {}) for n in names}, "iso_mlp", head=head, epochs=1)
    summaries = run_scenario(scenario, options(tmp_path))
    expected = [10] * 5 if head == "full" else [2, 4, 6, 8, 10]
    for summary in summaries:  # output units after each experience
        assert [w[-1] for w in summary["widths"]] == expected, summary["strategy"]


@pytest.mark.parametrize("name", ["naive", "replay", "ewc-factored"])
def test_iso_x_with_topology_frozen_is_x(tmp_path, name):
    """The control of iso-X is X on the same backbone and head: iso-X with the policy frozen reproduces it exactly
    (the probes it keeps come from a generator of its own, so even the random stream is the same)."""
    events = [{"train": 0}, {"train": 1}, {"remove": 0}, {"train": 2}, {"train": 3}, {"train": 4}]
    params = SMALL_MEMORY.get(name, {})
    strategies = {name: params, f"iso-{name}#frozen": {**params, "policy": "frozen"}}
    plain, frozen = run_scenario(tiny_scenario("class", strategies, "iso_mlp", events=events), options(tmp_path))
    assert frozen["accuracy_matrix"] == plain["accuracy_matrix"] and frozen["params"] == plain["params"]
