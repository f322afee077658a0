"""Optimiser state follows every topology change, and training goes on without a reset."""

import copy

import pytest
import torch
import torch.nn.functional as F

from isocl import topology as T
from isocl.nn import IsoMLP

from .nets import make_net


def batches(net, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(32, net.sizes[0], generator=g), torch.randint(0, 5, (32,), generator=g)) for _ in range(n)]


def train(net, optimizer, data):
    losses = []
    for x, y in data:
        optimizer.zero_grad()
        loss = F.cross_entropy(net(x)[:, :5], y) + net.penalty()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_sgd_momentum_follows_a_rotation_exactly(float64):
    """Momentum is linear in the gradients, and gradients rotate with the parameters: training the rotated net
    with remapped momentum follows the rotated trajectory, so the function stays identical to the unrotated run."""
    net = make_net((8, 12, 10, 5))
    rotated = copy.deepcopy(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    opt_rotated = torch.optim.SGD(rotated.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    data = batches(net)
    train(net, opt, data[:3])
    train(rotated, opt_rotated, data[:3])
    for k in range(rotated.n_hidden):
        T.remap_optimizer(opt_rotated, rotated, T.diagonalise(rotated, k))
    T.remap_optimizer(opt_rotated, rotated, T.full_diagonalise(rotated, 1))
    train(net, opt, data[3:])
    train(rotated, opt_rotated, data[3:])
    x = data[0][0]
    assert torch.allclose(net(x), rotated(x), rtol=0, atol=1e-10)


OPERATIONS = {
    "diagonalise": lambda net: T.diagonalise(net, 1),
    "full_diagonalise": lambda net: T.full_diagonalise(net, 1),
    "sparsify": T.sparsify,
    "grow": lambda net: T.grow(net, 0, 3),
    "prune": lambda net: T.prune(net, 1, 4),
    "neuroadapt": lambda net: T.neuroadapt(net, 0.8, 2),
    "add_outputs": lambda net: T.add_outputs(net, 2),
    "remove_outputs": lambda net: T.remove_outputs(net, [5]),
}


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_adam_state_is_kept_through_every_operation(name, amsgrad):
    net = make_net((8, 12, 10, 6))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-3, amsgrad=amsgrad)
    data = batches(net)
    train(net, opt, data[:3])
    norms_before = {id(p): opt.state[p]["exp_avg"].norm() for p in net.parameters() if p in opt.state}
    change = OPERATIONS[name](net)
    T.remap_optimizer(opt, net, change)
    for p in net.parameters():
        if p not in opt.state:
            continue
        state = opt.state[p]
        assert int(state["step"]) == 3  # kept, not reset
        for key in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
            assert state[key].shape == p.shape
        assert torch.all(state["exp_avg_sq"] >= 0)
        if not change.changes_shapes:  # a rotation moves the first moment without changing its norm
            assert torch.isclose(state["exp_avg"].norm(), norms_before[id(p)], rtol=1e-5)
    losses = train(net, opt, data * 5)
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]


def test_new_slices_start_at_zero_and_removed_ones_are_dropped():
    net = make_net((8, 12, 10, 5))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    train(net, opt, batches(net, 2))
    old = opt.state[net.maps[1].weight]["exp_avg"].clone()
    T.remap_optimizer(opt, net, T.grow(net, 1, 3))
    new = opt.state[net.maps[1].weight]["exp_avg"]
    assert torch.equal(new[:10], old) and torch.count_nonzero(new[10:]) == 0
    assert torch.count_nonzero(opt.state[net.maps[2].weight]["exp_avg"][:, 10:]) == 0
    T.remap_optimizer(opt, net, T.remove_outputs(net, [0]))
    assert opt.state[net.maps[2].weight]["exp_avg"].shape == (4, 13)


def test_a_grown_scaffold_learns():
    torch.manual_seed(0)
    net = IsoMLP([8, 10, 10, 5])
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-3)
    data = batches(net)
    train(net, opt, data[:2])
    for k in range(net.n_hidden):
        T.remap_optimizer(opt, net, T.grow(net, k, 3))
        assert torch.count_nonzero(net.maps[k].weight[-3:]) == 0
    train(net, opt, data[2:5])
    for k in range(net.n_hidden):
        incoming = net.maps[k].weight[-3:]
        assert torch.all(incoming.norm(dim=1) > 1e-4)  # every scaffold's row has moved off zero


def test_unknown_optimizer_state_is_refused_before_anything_changes():
    net = make_net((8, 12, 10, 5))
    opt = torch.optim.Adagrad(net.parameters())
    train(net, opt, batches(net, 1))
    change = T.grow(net, 0, 2)
    state_before = copy.deepcopy(opt.state_dict())
    with pytest.raises(ValueError, match=r"Adagrad keeps per-parameter state \['sum'\]"):
        T.remap_optimizer(opt, net, change)
    assert all(
        torch.equal(a["sum"], b["sum"])
        for a, b in zip(state_before["state"].values(), opt.state_dict()["state"].values(), strict=True)
    )


# --- rotations: what each moment becomes, written out with the rotation matrices ------------------------------------

OPTIMIZERS = {
    "sgd": lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-3),
    "adam": lambda params: torch.optim.Adam(params, lr=1e-2, weight_decay=1e-3),
    "adamw": lambda params: torch.optim.AdamW(params, lr=1e-2, weight_decay=1e-3),
    "adamw-amsgrad": lambda params: torch.optim.AdamW(params, lr=1e-2, weight_decay=1e-3, amsgrad=True),
}


def rotate_by_hand(tensors: dict, steps, *, squared=False) -> dict:
    """maps.k.weight (n_k, n_{k-1}), maps.k.bias and maps.k.psi (n_k,) under rotations R of layers l: rows of layer l
    become R^T t, columns of layer l become t R (with R * R element-wise for second moments)."""
    out = dict(tensors)
    for step in steps:
        assert isinstance(step, T.Rotation)
        R = step.matrix * step.matrix if squared else step.matrix
        for name, t in out.items():
            _, k, kind = name.split(".")
            if int(k) == step.layer:
                t = R.T @ t
            if kind == "weight" and int(k) - 1 == step.layer:
                t = t @ R
            out[name] = t
    return out


def moments(net, optimizer, key) -> dict:
    return {name: optimizer.state[p][key].clone() for name, p in net.named_parameters() if name.startswith("maps.")}


def rotate_every_hidden_layer(net, optimizer) -> tuple:
    """Diagonalise every hidden layer, then fully diagonalise map 1 (rotating layers 0 and 1 again); dense rotations."""
    steps = ()
    for change in [T.diagonalise(net, k) for k in range(net.n_hidden)] + [T.full_diagonalise(net, 1)]:
        T.remap_optimizer(optimizer, net, change)
        steps += change.steps
    dense = {s.layer for s in steps if float((s.matrix.abs() > 1e-3).double().mean()) > 0.5}
    assert dense == set(range(net.n_hidden))  # every layer mixes its neurons, not just a permutation
    return steps


def close(actual: dict, expected: dict, tolerance: float) -> bool:
    return all(
        torch.allclose(actual[n], expected[n], rtol=0, atol=tolerance * float(expected[n].abs().max()))
        for n in expected
    )


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_first_moments_rotate_exactly_like_the_parameters(float64, kind):
    """exp_avg and momentum_buffer are linear in the gradients, and the gradient of the rotated net is the rotated
    gradient: after a rotation they are the rotated moments (exactly), and they stay so through the next step,
    whose gradient is taken at the rotated point (the step itself is not rotation-equivariant for Adam)."""
    key = "momentum_buffer" if kind == "sgd" else "exp_avg"
    net = make_net((8, 12, 10, 5))
    rotated = copy.deepcopy(net)
    opt, opt_rotated = OPTIMIZERS[kind](net.parameters()), OPTIMIZERS[kind](rotated.parameters())
    data = batches(net, 4)
    train(net, opt, data[:3])
    train(rotated, opt_rotated, data[:3])
    before = moments(net, opt, key)
    steps = rotate_every_hidden_layer(rotated, opt_rotated)
    assert close(moments(rotated, opt_rotated, key), rotate_by_hand(before, steps), 1e-12)
    train(net, opt, data[3:])
    train(rotated, opt_rotated, data[3:])
    assert close(moments(rotated, opt_rotated, key), rotate_by_hand(moments(net, opt, key), steps), 1e-10)


@pytest.mark.parametrize("kind", ["adam", "adamw", "adamw-amsgrad"])
def test_second_moments_take_the_squared_rotation(float64, kind):
    """The documented approximation diag(R^T diag(v) R) ~ (R * R)^T v, exactly that. R * R is doubly stochastic
    (rows and columns of an orthogonal matrix have unit norm), so each new entry is a convex combination of old
    ones: v stays >= 0 and within [min v, max v], and every tensor's sum is kept."""
    keys = ("exp_avg_sq", "max_exp_avg_sq") if kind.endswith("amsgrad") else ("exp_avg_sq",)
    net = make_net((8, 12, 10, 5))
    opt = OPTIMIZERS[kind](net.parameters())
    train(net, opt, batches(net, 3))
    before = {key: moments(net, opt, key) for key in keys}
    steps = rotate_every_hidden_layer(net, opt)
    for key in keys:
        after = moments(net, opt, key)
        assert close(after, rotate_by_hand(before[key], steps, squared=True), 1e-12)
        assert not close(after, before[key], 1e-3)  # they did move
        for name, v in before[key].items():
            assert torch.all(after[name] >= 0)
            assert torch.isclose(after[name].sum(), v.sum(), rtol=1e-12, atol=0)
            assert v.min() * (1 - 1e-12) <= after[name].min() and after[name].max() <= v.max() * (1 + 1e-12)
