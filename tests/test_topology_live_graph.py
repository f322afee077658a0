"""Topology operations inside a plain PyTorch loop whose last loss, and with it its autograd graph, is still alive.

Autograd caches one gradient accumulator per parameter, with the parameter's shape, for as long as any graph holds
it; without a fresh one after a shape change the next backward fails ("... returned an invalid gradient at index
0 - got [9] but expected shape compatible with [6]"). isocl.topology.layout.replace_data gives every reshaped
parameter a fresh one; these tests fail without it.
"""

import pytest
import torch
import torch.nn.functional as F

from isocl import topology as T
from isocl.nn import IsoMLP
from isocl.topology.layout import replace_data


def batch(seed: int = 0, n: int = 32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=g), torch.randint(0, 4, (n,), generator=g)


def train(net, optimizer, steps: int = 3, seed: int = 0):
    """The README's loop; returns the last loss, which the caller keeps (graph and all)."""
    x, y = batch(seed)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(net(x), y) + net.penalty()
        loss.backward()
        optimizer.step()
    return loss


def assert_gradients_fit(net):
    for name, param in net.named_parameters():
        if param.requires_grad:
            assert param.grad is not None and param.grad.shape == param.shape, name


def trained_net():
    torch.manual_seed(0)
    net = IsoMLP([8, 6, 6, 4])
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=1e-3)
    return net, optimizer, train(net, optimizer)


OPERATIONS = {
    "grow": lambda net: T.grow(net, 0, 3),
    "prune": lambda net: T.prune(net, 1, 2),
    "neuroadapt": lambda net: T.neuroadapt(net, threshold=0.95, n_scaffold=5),  # grows both layers to 5 scaffolds
    "add_outputs": lambda net: T.add_outputs(net, 2),
    "remove_outputs": lambda net: T.remove_outputs(net, [3]),
}


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_each_shape_change_trains_on_with_the_last_loss_alive(op):
    net, optimizer, loss = trained_net()
    before = net.sizes
    parameters = list(net.parameters())
    change = OPERATIONS[op](net)
    T.remap_optimizer(optimizer, net, change)
    assert change.changes_shapes and net.sizes != before and loss.grad_fn is not None  # the old graph lives
    assert all(a is b for a, b in zip(net.parameters(), parameters, strict=True))  # same Parameter objects
    x, y = batch(seed=1)
    y = y % net.sizes[-1]
    new_loss = F.cross_entropy(net(x), y) + net.penalty()
    new_loss.backward()
    assert_gradients_fit(net)
    optimizer.step()
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_the_readme_loop_survives_every_operation_in_turn():
    net, optimizer, loss = trained_net()
    x, y = batch(seed=2)
    operations = [
        lambda: T.grow(net, 0, 3),
        lambda: T.prune(net, 1, 2),
        lambda: T.neuroadapt(net, threshold=0.95, n_scaffold=5),
        lambda: T.release(net, x[y == 0], x[y != 0], ratio=4.0, decay=0.1),
    ]
    widths = [net.sizes]
    for operation in operations:
        T.remap_optimizer(optimizer, net, operation())
        loss = train(net, optimizer, steps=2)  # forward, backward and step while the previous loss is alive
        assert_gradients_fit(net)
        widths.append(net.sizes)
    assert torch.isfinite(loss) and len({tuple(w) for w in widths}) > 2  # the shapes really changed


def test_a_reshaped_parameter_keeps_its_hooks():
    """replace_data keeps the Parameter object, so hooks registered on it (before and after accumulation) stay."""
    param = torch.nn.Parameter(torch.randn(3))
    seen = []
    param.register_hook(lambda grad: seen.append(("grad", tuple(grad.shape))))
    param.register_post_accumulate_grad_hook(lambda p: seen.append(("accumulated", tuple(p.grad.shape))))
    loss = (2 * param).sum()
    loss.backward()
    replace_data(param, torch.randn(5))
    (param**2).sum().backward()
    assert seen == [("grad", (3,)), ("accumulated", (3,)), ("grad", (5,)), ("accumulated", (5,))]
    assert param.grad.shape == (5,) and loss.grad_fn is not None
