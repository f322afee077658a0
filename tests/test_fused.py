"""Fused (compiled) steps, `--compile`: a run through torch.compile is the eager run, topology changes included,
and a deep copy of a fused network (LwF's previous model) computes with its own weights. The tests use the
aot_eager backend (the same tracing and dynamic shapes as inductor, without compiling C++ on CI)."""

import copy

import torch
from torch._dynamo.utils import counters

from isocl.cli import main
from isocl.harness.runner import run_scenario
from isocl.nn import create_backbone
from tests.test_harness import options, tiny_scenario


def test_a_compiled_run_is_the_eager_run_through_growth_pruning_and_lwf(tmp_path):
    scenario = tiny_scenario(strategies={"iso-lwf": {}}, backbone="iso_mlp")
    (eager,) = run_scenario(scenario, options(tmp_path / "eager"))
    compiled_before = counters["stats"]["unique_graphs"]
    (fused,) = run_scenario(scenario, options(tmp_path / "fused", compile="aot_eager"))
    assert counters["stats"]["unique_graphs"] > compiled_before  # the steps did go through torch.compile
    assert fused["compile"] == "aot_eager" and "compile" not in eager
    assert len({tuple(r["widths"]) for r in fused["widths_history"]}) > 1  # the topology changed while compiled
    assert fused["accuracy_matrix"] == eager["accuracy_matrix"]
    assert fused["widths_history"] == eager["widths_history"]


def test_a_deep_copy_of_a_fused_network_uses_its_own_weights():
    torch.manual_seed(0)
    net = create_backbone("iso_mlp", (6,), 3, [5, 4])
    net.fuse("aot_eager")
    twin = copy.deepcopy(net)
    with torch.no_grad():
        twin.maps[0].weight.mul_(2.0)
    x = torch.randn(7, 6)
    assert twin.fused_backend == "aot_eager"
    assert torch.equal(twin(x), twin._forward(x)) and torch.equal(net(x), net._forward(x))
    assert not torch.equal(twin(x), net(x))


def test_an_unknown_compile_backend_is_one_line(tmp_path, capsys):
    assert main(["run", "split-digits", "--compile", "turbo", "--out", str(tmp_path), "--wandb", "disabled"]) == 2
    err = capsys.readouterr().err
    assert "--compile 'turbo' is not a torch.compile backend" in err and len(err.strip().splitlines()) == 1
