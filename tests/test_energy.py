"""Adaptation by activation energy: inert means unexcited by the served inputs, not small; pruning those is exact,
each layer keeps exactly n_scaffold scaffolds, and the policy grows at appends and shrinks at a removal."""

import dataclasses

import pytest
import torch

from isocl import topology as T
from isocl.harness.runner import run_scenario
from isocl.topology.energy import map_inputs, response_basis
from tests.test_demand import trained_net
from tests.test_harness import options, tiny_scenario


def half_used_inputs(n=80, seed=2):
    """Inputs that only ever use the first 5 of the 10 input coordinates."""
    x = 2 * torch.randn(n, 10, generator=torch.Generator().manual_seed(seed))
    x[:, 5:] = 0
    return x


def big_unexcited_net():
    """Neurons 5-7 of layer 0 read only the inputs half_used_inputs never uses, with the largest weights."""
    net = trained_net()
    with torch.no_grad():
        weight = net.maps[0].weight
        weight[5:, :5], weight[:5, 5:] = 0, 0
        weight[5:, 5:] *= 100
    return net


def test_unexcited_neurons_are_pruned_however_large_and_exactly(float64):
    net = big_unexcited_net()
    x = half_used_inputs()
    top_sigma_reads_unused = T.singular_values(net, 0)[:3].min() > 10 * T.singular_values(net, 0)[3:].max()
    assert top_sigma_reads_unused  # a singular-value rule would keep these neurons first
    before = net(x).detach()
    change = T.neuroadapt_energy(net, x, share=1e-9, n_scaffold=1)
    # layer 0: 8 neurons read a 5-dim input, 3 are unexcited: 2 pruned, 1 kept as scaffold; layer 1 (6 neurons,
    # every one excited) gets its one scaffold grown
    assert net.sizes == [10, 6, 7, 4]
    assert change.info["layers"][0]["removed"] == 2 and change.info["layers"][1]["added"] == 1
    assert float((net(x).detach() - before).abs().max()) < 1e-12 * float(before.abs().max())


def test_each_layer_ends_with_exactly_n_scaffold_inert_neurons(float64):
    net = trained_net()
    x = torch.randn(100, 10, generator=torch.Generator().manual_seed(3))
    _, shares = response_basis(net.maps[0].weight, map_inputs(net, x)[0])
    share = float(shares[4])  # neurons 4..7 of layer 0 are inert at this share
    change = T.neuroadapt_energy(net, x, share=share, n_scaffold=2)
    assert change.info["layers"][0]["removed"] == 2 and net.sizes[1] == 6
    removed_share = change.info["layers"][0]["removed_share"]
    assert removed_share == pytest.approx(float(shares[-2:].sum()), rel=1e-12)  # the two least energetic
    _, after = response_basis(net.maps[0].weight, map_inputs(net, x)[0])  # layer 0's inputs are x: unchanged
    # the kept neurons are the six most energetic directions, untouched: their energies are as before
    assert torch.allclose(after * (1 - removed_share), shares[:6], rtol=1e-10, atol=0)
    assert int((shares[:6] <= share).sum()) == 2  # of which exactly n_scaffold are scaffolds


def test_energy_adaptation_refuses_bad_input_and_leaves_the_net_alone(float64):
    net = trained_net()
    weights = [m.weight.detach().clone() for m in net.maps]
    for kwargs, message in [({"share": 1.0}, "share"), ({"share": -0.1}, "share")]:
        with pytest.raises(ValueError, match=message):
            T.neuroadapt_energy(net, half_used_inputs(), **kwargs)
    with pytest.raises(ValueError, match="at least one input"):
        T.neuroadapt_energy(net, torch.zeros(0, 10))
    assert all(torch.equal(a, m.weight) for a, m in zip(weights, net.maps, strict=True))


def test_energy_policy_grows_a_narrow_network_at_appends_and_shrinks_it_at_a_removal(tmp_path):
    events = [{"train": 0}, {"train": 1}, {"train": 2}, {"remove": 1}, {"train": 3}, {"train": 4}]
    scenario = tiny_scenario("class", {"iso-naive": {"policy": "demand", "adapt": "energy"}}, "iso_mlp", events=events)
    scenario = dataclasses.replace(scenario, backbone=dataclasses.replace(scenario.backbone, hidden=(4,)))
    (summary,) = run_scenario(scenario, options(tmp_path))
    widths = [w[1] for w in summary["widths"]]  # hidden width after each event
    assert widths[2] > widths[0] > 4  # grows past its start as experiences are appended
    (removal,) = summary["removals"]
    assert removal["after"]["widths"][1] < removal["before"]["widths"][1]


def test_the_energy_policy_prunes_what_the_singular_value_rule_keeps(float64):
    """`adapt: energy` routes the policy's per-epoch adaptation through the served inputs; `sigma` does not."""
    from isocl.cl.policy import TopologyPolicy, adapt

    sizes = {}
    for rule in ("energy", "sigma"):
        net = big_unexcited_net()
        policy = TopologyPolicy(policy="demand", adapt=rule, energy_share=1e-9, n_scaffold=1, rank_fraction=1e-3)
        change = adapt(net, policy, half_used_inputs())
        sizes[rule] = net.sizes
        assert change.op == ("neuroadapt_energy" if rule == "energy" else "neuroadapt")
    assert sizes["energy"][1] == 6 and sizes["sigma"][1] >= 8  # sigma keeps the large unexcited neurons
    assert adapt(trained_net(), TopologyPolicy(adapt="energy"), None).steps == ()  # nothing served: no change
