"""iso-ewc's Fisher: the exact empirical Fisher of its samples, invariant under rotations, inert for growth."""

import copy

import pytest
import torch
import torch.nn.functional as F

from isocl import topology as T
from isocl.cl import build_classifier
from isocl.cl.ewc import FactoredEWC, _projections, fisher_factors
from isocl.nn import IsoMLP
from isocl.topology.layout import apply_step, parameter_axes

from .nets import random_orthogonal


def fitted_ewc(seed=0):
    torch.manual_seed(seed)
    net = IsoMLP([6, 9, 8, 4], init="xavier_normal")
    with torch.no_grad():
        for layer in net.maps:
            layer.bias.normal_(std=0.5)
            if layer.psi is not None:
                layer.psi.normal_(std=0.3)
    model = build_classifier(net, 4, None)
    x, y = torch.randn(12, 6), torch.randint(0, 4, (12,))
    ewc = FactoredEWC(ewc_lambda=3.0)
    ewc.factors[0] = fisher_factors(model, x, y, None)
    ewc.anchor = {name: p.detach().clone() for name, p, _ in parameter_axes(net)}
    with torch.no_grad():  # move away from the anchor so that the penalty is not zero
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model, ewc, (x, y)


def test_penalty_is_the_empirical_fisher_quadratic_form(float64):
    model, ewc, (x, y) = fitted_ewc()
    net = model.backbone
    names = [name for name, _, _ in parameter_axes(net)]
    params = [p for _, p, _ in parameter_axes(net)]
    anchor_net = copy.deepcopy(model)
    with torch.no_grad():
        for name, p, _ in parameter_axes(anchor_net.backbone):
            p.copy_(ewc.anchor[name])
    anchor_params = [p for _, p, _ in parameter_axes(anchor_net.backbone)]
    delta = torch.cat([(p - ewc.anchor[n]).flatten() for n, p in zip(names, params, strict=True)])
    per_sample = []
    for i in range(len(y)):  # brute force: one backward per sample
        loss = F.cross_entropy(anchor_net.logits(x[i : i + 1]), y[i : i + 1])
        grads = torch.autograd.grad(loss, anchor_params)
        per_sample.append(torch.cat([g.flatten() for g in grads]))
    G = torch.stack(per_sample)
    fisher = G.T @ G / len(y)
    expected = 0.5 * 3.0 * delta @ fisher @ delta
    assert torch.allclose(_projections(net, ewc.anchor, ewc.factors[0]), G @ delta, atol=1e-12)
    assert torch.isclose(ewc.penalty(net), expected, rtol=1e-10)


OPS = {
    "random rotation": lambda net: T.Change("rotate", (apply_rotation(net, 1),)),
    "diagonalise": lambda net: T.diagonalise(net, 0),
    "full_diagonalise": lambda net: T.full_diagonalise(net, 1),
    "sparsify": T.sparsify,
    "grow": lambda net: T.grow(net, 1, 3) + T.grow(net, 0, 2),
}


def apply_rotation(net, k):
    rotation = T.Rotation(k, random_orthogonal(net.sizes[k + 1], seed=3))
    apply_step(net, rotation)
    return rotation


@pytest.mark.parametrize("name", sorted(OPS))
def test_penalty_of_the_unchanged_function_is_unchanged(float64, name):
    model, ewc, _ = fitted_ewc()
    net = model.backbone
    before = ewc.penalty(net)
    change = OPS[name](net)
    ewc.follow(net, change)
    assert torch.isclose(ewc.penalty(net), before, rtol=1e-10, atol=0)


def test_penalty_follows_pruning_and_keeps_its_gradient_shapes(float64):
    model, ewc, _ = fitted_ewc()
    net = model.backbone
    ewc.follow(net, T.prune(net, 0, 2))
    ewc.follow(net, T.neuroadapt(net, 0.5, 1))
    penalty = ewc.penalty(net)
    penalty.backward()
    assert penalty > 0 and all(p.grad.shape == p.shape for _, p, _ in parameter_axes(net))
