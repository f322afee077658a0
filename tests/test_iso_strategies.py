"""The topology layer over any strategy: exact growth at task boundaries, scaffolds that learn, the shared head
policy, and state (optimiser, Avalanche's EWC and SI) that follows every change."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from avalanche.training.plugins import EWCPlugin
from avalanche.training.utils import ParamData, copy_params_dict

from isocl import topology
from isocl.cl import IncrementalHead, TopologyPlugin, TopologyPolicy, build_classifier, change_topology
from isocl.nn import IsoMLP, TanhMLP
from isocl.strategies.si import CopyingSIPlugin
from isocl.topology import singular_values

TASKS = [[0, 1], [2, 3], [4, 5]]


def stub_strategy(setting: str, plugins=()):
    torch.manual_seed(0)
    backbone = IsoMLP([8, 12, 12, 6])
    model = build_classifier(backbone, 6, TASKS if setting == "task" else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-3, foreach=True)
    return SimpleNamespace(
        model=model, optimizer=optimizer, experience=None, loss=None, mb_output=None, plugins=list(plugins)
    )


def enter_experience(strategy, index):
    strategy.experience = SimpleNamespace(classes_in_this_experience=TASKS[index], task_label=index)
    for plugin in strategy.plugins:
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
    strategy = stub_strategy(
        setting, [IncrementalHead(), TopologyPlugin(TopologyPolicy(policy="author", n_scaffold=3))]
    )
    enter_experience(strategy, 0)
    assert strategy.model.output_classes.tolist() == [0, 1]  # the untrained head is cut to the first task
    train(strategy, 0, 20, setting)
    x = torch.randn(50, 8)
    old_task = 0 if setting == "task" else None
    with torch.no_grad():
        before = strategy.model(x, old_task)
    widths = strategy.model.backbone.sizes
    enter_experience(strategy, 1)
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


def test_with_a_full_head_the_topology_layer_leaves_the_outputs_alone():
    strategy = stub_strategy("class", [TopologyPlugin(TopologyPolicy(policy="author", n_scaffold=3))])
    enter_experience(strategy, 0)
    enter_experience(strategy, 1)
    assert strategy.model.output_classes.tolist() == list(range(6))
    assert strategy.model.backbone.sizes == [8, 18, 18, 6]


def test_scaffolds_learn_during_the_new_task_with_optimiser_state_kept():
    # threshold 0: neuroadapt never prunes trained neurons
    strategy = stub_strategy(
        "class", [IncrementalHead(), TopologyPlugin(TopologyPolicy(policy="author", threshold=0.0, n_scaffold=4))]
    )
    enter_experience(strategy, 0)
    train(strategy, 0, 10, "class")
    steps_before = {id(p): int(s["step"]) for p, s in strategy.optimizer.state.items()}
    enter_experience(strategy, 1)
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
    plugin = TopologyPlugin(TopologyPolicy(policy="author", threshold=0.99, n_scaffold=2))
    strategy = stub_strategy("class", [IncrementalHead(), plugin])
    enter_experience(strategy, 0)
    for _ in range(3):
        train(strategy, 0, 15, "class")
        plugin.after_training_epoch(strategy)
        for k in range(strategy.model.backbone.n_hidden):
            assert int((singular_values(strategy.model.backbone, k) <= 0.99).sum()) >= 2


def test_topology_layer_refuses_an_elementwise_backbone():
    model = build_classifier(TanhMLP([8, 12, 6]), 6, None)
    strategy = SimpleNamespace(model=model, optimizer=None, experience=SimpleNamespace(classes_in_this_experience=[0]))
    with pytest.raises(ValueError, match="set backbone.type to iso_mlp"):
        TopologyPlugin().before_training_exp(strategy)


# --- Avalanche's EWC and SI follow growth (exactly) and rotations (approximately) ---------------------------------


def ewc_with_random_importances(strategy):
    """An EWC plugin anchored at the current weights with random importances; then the weights move."""
    plugin = EWCPlugin(ewc_lambda=1.0)
    plugin.saved_params[0] = copy_params_dict(strategy.model)
    g = torch.Generator().manual_seed(3)
    plugin.importances[0] = {
        name: ParamData(name, init_tensor=torch.rand(p.shape, generator=g, dtype=p.dtype))
        for name, p in strategy.model.named_parameters()
    }
    train(strategy, 0, 5, "class")
    strategy.plugins.append(plugin)
    return plugin


def ewc_penalty(plugin, strategy) -> float:
    strategy.loss, strategy.device = torch.zeros((), dtype=torch.float64), "cpu"
    strategy.clock = SimpleNamespace(train_exp_counter=1)
    plugin.before_backward(strategy)
    return float(strategy.loss)


def squared_distance(plugin, strategy) -> float:
    params = dict(strategy.model.named_parameters())
    return sum(float((params[n] - d.data).square().sum()) for n, d in plugin.saved_params[0].items())


def test_avalanche_ewc_penalty_is_unchanged_by_growth(float64):
    strategy = stub_strategy("class")
    plugin = ewc_with_random_importances(strategy)
    before = ewc_penalty(plugin, strategy)
    assert before > 0
    for k in (0, 1):
        change_topology(strategy, lambda k=k: topology.grow(strategy.model.backbone, k, 3))
    assert ewc_penalty(plugin, strategy) == pytest.approx(before, rel=1e-12)
    assert all(d.shape == p.shape for (n, p) in strategy.model.named_parameters() for d in [plugin.importances[0][n]])


def test_avalanche_ewc_under_a_rotation_keeps_its_bounds(float64):
    strategy = stub_strategy("class")
    plugin = ewc_with_random_importances(strategy)
    before, distance = ewc_penalty(plugin, strategy), squared_distance(plugin, strategy)
    traces = {n: float(d.data.sum()) for n, d in plugin.importances[0].items()}
    change_topology(strategy, lambda: topology.diagonalise(strategy.model.backbone, 0))
    after = ewc_penalty(plugin, strategy)
    # documented approximation: importances take the squared rotation, which keeps their sum and their range;
    # the anchors rotate exactly, so |theta - theta*| is unchanged and the penalty stays in [min F, max F] |d|^2
    assert squared_distance(plugin, strategy) == pytest.approx(distance, rel=1e-12)
    assert {n: float(d.data.sum()) for n, d in plugin.importances[0].items()} == pytest.approx(traces, rel=1e-12)
    importances = torch.cat([d.data.flatten() for d in plugin.importances[0].values()])
    assert float(importances.min()) * distance <= after <= float(importances.max()) * distance
    assert after != pytest.approx(before, rel=1e-6)  # an approximation, not an identity: the test can tell


def test_avalanche_ewc_with_uniform_importance_is_exactly_rotation_invariant(float64):
    strategy = stub_strategy("class")
    plugin = ewc_with_random_importances(strategy)
    for data in plugin.importances[0].values():
        data._data = torch.full_like(data.data, 0.7)
    before = ewc_penalty(plugin, strategy)
    change_topology(strategy, lambda: topology.diagonalise(strategy.model.backbone, 1))
    assert ewc_penalty(plugin, strategy) == pytest.approx(before, rel=1e-12)


def test_si_state_follows_growth_and_rotation(float64):
    strategy = stub_strategy("class")
    plugin = CopyingSIPlugin(si_lambda=1.0)
    strategy.plugins.append(plugin)
    strategy.clock = SimpleNamespace(train_exp_counter=0)
    strategy.device = "cpu"
    plugin.before_training_exp(strategy)
    train(strategy, 0, 3, "class")
    g = torch.Generator().manual_seed(4)
    for data in plugin.ewc_data[1].values():
        data._data = torch.rand(data.data.shape, generator=g, dtype=torch.float64)

    def penalty():
        return float(plugin.compute_ewc_loss(strategy.model, plugin.ewc_data, set(), "cpu", lambd=2.0))

    before = penalty()
    change_topology(strategy, lambda: topology.grow(strategy.model.backbone, 0, 2))
    assert penalty() == pytest.approx(before, rel=1e-12)  # new entries: importance 0
    change_topology(strategy, lambda: topology.diagonalise(strategy.model.backbone, 1))
    params = dict(strategy.model.named_parameters())
    for store in (plugin.ewc_data[0], plugin.ewc_data[1], *plugin.syn_data.values()):
        for name, data in store.items():
            assert data.data.numel() == params[name].numel()
    plugin.before_training_iteration(strategy)  # Avalanche's own bookkeeping accepts the new shapes
