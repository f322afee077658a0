"""Demand-driven growth: GradMax neurons are exact, receive the gradient the math says, more than random ones,
and the demand policy grows a narrow network at appends and shrinks it at a removal."""

import dataclasses

import torch
import torch.nn.functional as F

from isocl import topology as T
from isocl.harness.runner import run_scenario
from isocl.nn import IsoMLP
from tests.test_harness import options, tiny_scenario


def trained_net(seed=0):
    torch.manual_seed(seed)
    net = IsoMLP([10, 8, 6, 4], init="xavier_normal")
    with torch.no_grad():
        for layer in net.maps:
            layer.bias.normal_(std=0.3)
    return net


def batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(64, 10, generator=g), torch.randint(0, 4, (64,), generator=g)


def factors(net, x, y):
    trace = []
    loss = F.cross_entropy(net(x, trace=trace), y, reduction="sum")
    deltas = torch.autograd.grad(loss, [t.preactivation for t in trace])
    return trace, deltas


def test_grow_towards_is_exact(float64):
    net = trained_net()
    x, _ = batch()
    before = net(x).detach()
    T.grow_towards(net, 0, torch.randn(6, 3))
    T.grow_towards(net, 1, torch.randn(4, 2))
    assert net.sizes == [10, 11, 8, 4]
    assert float((net(x) - before).abs().max()) < 1e-12 * float(before.abs().max())


def test_new_neurons_receive_the_gradient_gradmax_predicts(float64):
    net = trained_net()
    x, y = batch()
    trace, deltas = factors(net, x, y)
    k = 0  # hidden layer 0: inputs x, gains of map 1, deltas of map 1
    U, t, top = T.unread_gradient(trace[k].inputs, trace[k + 1].gain, deltas[k + 1], occupied=None)
    M = (trace[1].gain * deltas[1]).T @ trace[0].inputs
    assert abs(top - torch.linalg.matrix_norm(M, ord=2).item()) < 1e-12 * top
    T.grow_towards(net, k, U[:, :2], scale=0.5)
    loss = F.cross_entropy(net(x), y, reduction="sum")
    loss.backward()
    grad_rows = net.maps[k].weight.grad[-2:]
    column_norm = 0.5 * 6**0.5
    # dL/dw_j = M^T u_j with |u_j| = column_norm: the row norms are the top singular values of M, scaled
    assert torch.allclose(grad_rows.norm(dim=1), t[:2] * column_norm, rtol=1e-9)


def test_gradmax_directions_beat_random_ones(float64):
    x, y = batch()
    norms = {}
    for kind in ("gradmax", "random"):
        net = trained_net()
        trace, deltas = factors(net, x, y)
        U, _, _ = T.unread_gradient(trace[0].inputs, trace[1].gain, deltas[1], occupied=None)
        directions = U[:, :2] if kind == "gradmax" else torch.randn(6, 2, generator=torch.Generator().manual_seed(3))
        T.grow_towards(net, 0, directions)
        F.cross_entropy(net(x), y, reduction="sum").backward()
        norms[kind] = float(net.maps[0].weight.grad[-2:].norm())
    assert norms["gradmax"] > 1.5 * norms["random"]


def test_occupied_directions_are_no_demand(float64):
    net = trained_net()
    x, y = batch()
    trace, deltas = factors(net, x, y)
    occupied = T.occupied_basis(trace[0].inputs, energy=1.0)  # earlier tasks used every input direction
    _, t, top = T.unread_gradient(trace[0].inputs, trace[1].gain, deltas[1], occupied)
    assert top > 0 and float(t.max()) < 1e-9 * top and T.demand_count(t, top, 0.2, 10) == 0
    free = T.occupied_basis(trace[0].inputs[:, :4], energy=1.0)  # a 4-dim slice only: rows of length 4
    assert free.shape[1] == 4


def test_demand_policy_grows_a_narrow_network_at_appends_and_shrinks_it_at_a_removal(tmp_path):
    events = [{"train": 0}, {"train": 1}, {"train": 2}, {"remove": 1}, {"train": 3}, {"train": 4}]
    scenario = tiny_scenario("class", {"iso-naive": {"policy": "demand"}}, "iso_mlp", events=events)
    scenario = dataclasses.replace(scenario, backbone=dataclasses.replace(scenario.backbone, hidden=(4,)))
    (summary,) = run_scenario(scenario, options(tmp_path))
    widths = [w[1] for w in summary["widths"]]  # hidden width after each event
    assert widths[2] > widths[0] > 4  # grows past its start as experiences are appended
    (removal,) = summary["removals"]
    assert removal["after"]["widths"][1] < removal["before"]["widths"][1]


def test_dropping_fully_released_neurons_is_exact(float64):
    """With decay 0 the released neurons compute nothing; dropping them (what the demand rule does at a
    removal, its relative threshold would not catch merely decayed ones) leaves the function exactly as is."""
    net = trained_net()
    g = torch.Generator().manual_seed(5)
    removed, retained = torch.randn(40, 10, generator=g) * 3, torch.randn(40, 10, generator=g)
    removed[:, 5:] *= 0.01
    retained[:, :5] *= 0.01
    change = T.release(net, removed, retained, ratio=1.0, decay=0.0)
    assert sum(change.info["released"].values()) > 0
    x = torch.cat([removed, retained])
    before, widths = net(x).detach(), net.sizes
    T.drop_released(net, change.info["released"])
    assert [a - b for a, b in zip(widths, net.sizes, strict=True)][1:-1] == [
        min(m, w - 1) for m, w in zip(change.info["released"].values(), widths[1:-1], strict=True)
    ]
    assert float((net(x) - before).abs().max()) < 1e-12 * float(before.abs().max())
