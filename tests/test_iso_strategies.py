"""The iso topology policy: exact growth at task boundaries, scaffolds that learn, optimiser state that follows."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from isocl.cl import NeuroPlugin, build_classifier
from isocl.nn import IsoMLP, TanhMLP
from isocl.topology import singular_values

TASKS = [[0, 1], [2, 3], [4, 5]]


def stub_strategy(setting: str):
    torch.manual_seed(0)
    backbone = IsoMLP([8, 12, 12, 6])
    model = build_classifier(backbone, 6, TASKS if setting == "task" else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-3, foreach=True)
    return SimpleNamespace(model=model, optimizer=optimizer, experience=None, loss=None, mb_output=None)


def enter_experience(plugin, strategy, index):
    strategy.experience = SimpleNamespace(classes_in_this_experience=TASKS[index], task_label=index)
    plugin.before_training_exp(strategy)


def train(strategy, index, steps, setting):
    g = torch.Generator().manual_seed(index)
    for _ in range(steps):
        x = torch.randn(16, 8, generator=g)
        y = torch.tensor(TASKS[index])[torch.randint(0, 2, (16,), generator=g)]
        strategy.optimizer.zero_grad()
        logits = strategy.model(x, index if setting == "task" else None)
        loss = F.cross_entropy(logits, y) + strategy.model.backbone.penalty()
        loss.backward()
        strategy.optimizer.step()


@pytest.mark.parametrize("setting", ["class", "task"])
def test_growth_at_a_task_boundary_leaves_earlier_predictions_identical(float64, setting):
    strategy = stub_strategy(setting)
    plugin = NeuroPlugin(threshold=0.95, n_scaffold=3)
    enter_experience(plugin, strategy, 0)
    assert strategy.model.output_classes.tolist() == [0, 1]  # the untrained head is cut to the first task
    train(strategy, 0, 20, setting)
    x = torch.randn(50, 8)
    old_task = 0 if setting == "task" else None
    with torch.no_grad():
        before = strategy.model(x, old_task)
    widths = strategy.model.backbone.sizes
    enter_experience(plugin, strategy, 1)
    with torch.no_grad():
        after = strategy.model(x, old_task)
    assert strategy.model.backbone.sizes == [8, widths[1] + 3, widths[2] + 3, 4]
    assert strategy.model.output_classes.tolist() == [0, 1, 2, 3]
    old = [0, 1]
    assert float((after[:, old] - before[:, old]).abs().max()) < 1e-12 * float(before[:, old].abs().max())
    # the new classes' logits start at exactly 0 (zero rows), so predictions among the old classes are unchanged
    assert torch.equal(after[:, old].argmax(1), before[:, old].argmax(1))
    if setting == "class":
        assert torch.count_nonzero(after[:, [2, 3]]) == 0


def test_scaffolds_learn_during_the_new_task_with_optimiser_state_kept():
    strategy = stub_strategy("class")
    plugin = NeuroPlugin(threshold=0.0, n_scaffold=4)  # threshold 0: neuroadapt never prunes trained neurons
    enter_experience(plugin, strategy, 0)
    train(strategy, 0, 10, "class")
    steps_before = {id(p): int(s["step"]) for p, s in strategy.optimizer.state.items()}
    enter_experience(plugin, strategy, 1)
    net = strategy.model.backbone
    for p in net.parameters():  # state kept (same step count), shapes follow the growth
        state = strategy.optimizer.state[p]
        assert int(state["step"]) == steps_before[id(p)] and state["exp_avg"].shape == p.shape
    new_rows = [net.maps[k].weight[-4:].detach().clone() for k in range(net.n_hidden)]
    assert all(torch.count_nonzero(rows) == 0 for rows in new_rows)
    train(strategy, 1, 10, "class")
    for k in range(net.n_hidden):
        assert torch.all(net.maps[k].weight[-4:].norm(dim=1) > 1e-4)  # every scaffold's incoming row moved


def test_neuroadapt_after_an_epoch_keeps_training_going():
    strategy = stub_strategy("class")
    plugin = NeuroPlugin(threshold=0.99, n_scaffold=2)
    enter_experience(plugin, strategy, 0)
    for _ in range(3):
        train(strategy, 0, 15, "class")
        plugin.after_training_epoch(strategy)
        for k in range(strategy.model.backbone.n_hidden):
            assert int((singular_values(strategy.model.backbone, k) <= 0.99).sum()) >= 2


def test_iso_policy_refuses_an_elementwise_backbone():
    model = build_classifier(TanhMLP([8, 12, 6]), 6, None)
    strategy = SimpleNamespace(model=model, optimizer=None, experience=SimpleNamespace(classes_in_this_experience=[0]))
    with pytest.raises(ValueError, match="set backbone.type to iso_mlp"):
        NeuroPlugin().before_training_exp(strategy)
