"""The options that bring two Avalanche strategies to Hsu et al. (2018)'s protocols: LwF's distillation weight
growing with the experiences seen (van de Ven and Tolias 2018), and GEM trained on a rehearsal memory too."""

import pytest
import torch

from isocl.data import build_stream, load_dataset
from isocl.harness.config import ConfigError
from isocl.harness.runner import Run, RunOptions

from .test_harness import tiny_scenario


def built(tmp_path, name, params):
    scenario = tiny_scenario(strategies={name: params})
    stream = build_stream(load_dataset("synthetic", cache_dir=tmp_path), "class", 5)
    run = Run(
        scenario, name, scenario.strategies[name], 0, stream, RunOptions(out=tmp_path, wandb="disabled", progress=False)
    )
    run.setup(None)
    return run, stream


def plugin(run, type_name):
    (found,) = [p for p in run.strategy.plugins if type(p).__name__ == type_name]
    return found


def test_lwf_linear_growth_weighs_experience_e_by_alpha_times_e(tmp_path):
    run, _ = built(tmp_path, "lwf", {"alpha": 2.0, "alpha_growth": "linear"})
    lwf = plugin(run, "LwFPlugin").lwf
    assert [lwf.alpha[e] for e in range(5)] == [0.0, 2.0, 4.0, 6.0, 8.0]
    constant, _ = built(tmp_path / "c", "lwf", {"alpha": 2.0})
    assert plugin(constant, "LwFPlugin").lwf.alpha == 2.0


def test_lwf_growth_rejects_an_unknown_rule():
    with pytest.raises(ConfigError, match="alpha_growth"):
        tiny_scenario(strategies={"lwf": {"alpha_growth": "quadratic"}})


def test_gem_with_rehearsal_trains_on_a_replay_memory_too(tmp_path):
    run, stream = built(tmp_path, "gem", {"patterns_per_exp": 10, "rehearsal": 30})
    replay = plugin(run, "ReplayPlugin")
    run.strategy.train(stream.benchmark.train_stream[0], num_workers=0)
    assert replay.storage_policy.max_size == 30 and len(replay.storage_policy.buffer) == 30
    plain, _ = built(tmp_path / "p", "gem", {"patterns_per_exp": 10})
    assert not [p for p in plain.strategy.plugins if type(p).__name__ == "ReplayPlugin"]


def test_padded_distillation_is_kl_to_the_zero_padded_teacher_over_all_outputs(tmp_path, float64):
    run, _ = built(tmp_path, "lwf", {"distill": "padded", "temperature": 2.0})
    lwf = plugin(run, "LwFPlugin").lwf
    out, prev = torch.tensor([[1.0, -0.5, 2.0, 0.3]]), torch.tensor([[0.2, 1.1, -3.0, 5.0]])
    teacher = torch.softmax(prev[0, :2] / 2, dim=0)  # trained on classes 0 and 1 only
    student = torch.log_softmax(out[0] / 2, dim=0)  # over every output
    expected = float((teacher * (teacher.log() - student[:2])).sum())
    assert float(lwf._distillation_loss(out, prev, {0, 1})) == pytest.approx(expected, rel=1e-12)
    # Avalanche's own compares the two over the previous classes only: the new classes' outputs are free
    previous, _ = built(tmp_path / "p", "lwf", {})
    own = float(plugin(previous, "LwFPlugin").lwf._distillation_loss(out, prev, {0, 1}))
    assert own != pytest.approx(expected, rel=1e-3)
