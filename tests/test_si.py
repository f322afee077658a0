"""SI's importances are real on CPU (Avalanche 0.6.0's snapshots alias the live weights there)."""

import torch

from isocl.data import build_stream, load_dataset
from isocl.harness.runner import Run, RunOptions

from .test_harness import tiny_scenario


def test_si_importances_are_not_zero(tmp_path):
    scenario = tiny_scenario(strategies={"si": {"si_lambda": 1.0}})
    stream = build_stream(load_dataset("synthetic", cache_dir=tmp_path), "class", 5)
    params = scenario.strategies["si"]
    run = Run(scenario, "si", params, 0, stream, RunOptions(out=tmp_path, wandb="disabled", progress=False))
    run.setup(None)
    run.strategy.train(stream.benchmark.train_stream[0], num_workers=0)
    (plugin,) = [p for p in run.strategy.plugins if type(p).__name__ == "CopyingSIPlugin"]
    importances = torch.cat([v.data.flatten() for v in plugin.ewc_data[1].values()])
    assert importances.abs().max() > 0
