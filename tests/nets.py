"""Small networks with spread singular values, shared by the topology tests."""

import math

import torch

from isocl import topology as T
from isocl.nn import IsoMLP


def random_orthogonal(n: int, seed: int = 0) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(seed)))
    return q


def make_net(sizes=(8, 20, 30, 12, 5), *, reshaped=False, seed=0, zero_psi=()):
    """A net with spread singular values, random biases, psi and intrinsic lengths; optionally already
    reshaped by earlier surgery. Maps listed in zero_psi keep psi = 0 (exact pruning needs psi_k[j] = 0)."""
    torch.manual_seed(seed)
    net = IsoMLP(list(sizes), init="xavier_normal")
    with torch.no_grad():
        for k, layer in enumerate(net.maps):
            layer.bias.normal_()
            if layer.psi is not None and k not in zero_psi:
                layer.psi.normal_(std=0.3)
        for log_o in net.log_lengths:
            log_o.fill_(math.log(0.2))
    if reshaped:
        T.grow(net, 0, 3)
        T.prune(net, 2, 4)
        T.add_outputs(net, 2)
        with torch.no_grad():
            for k in zero_psi:
                net.maps[k].psi.zero_()
    return net


def inputs(net, n=64, seed=1):
    return 3 * torch.randn(n, net.sizes[0], generator=torch.Generator().manual_seed(seed))
