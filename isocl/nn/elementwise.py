"""The elementwise baselines: the same maps and constructor shape as IsoMLP, with a per-neuron nonlinearity.

A per-neuron activation singles out the neuron basis (tanh(R z) != R tanh(z) for a general rotation R), so these
networks are not `isotropic`: only output changes (add_outputs, remove_outputs) apply to them.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from isocl.nn.backbones import register_backbone
from isocl.nn.contract import MapTrace
from isocl.nn.maps import INITS, Affine, choice
from isocl.nn.mlp import MLPBackbone


class ElementwiseMLP(MLPBackbone):
    """a_k = nonlinearity(z_k) neuron by neuron; z_k = W_k a_{k-1} + b_k with a_{-1} = x, and y = z_L."""

    nonlinearity: Callable[[Tensor], Tensor]  # set by each subclass

    def __init__(self, sizes, *, input_shape: tuple[int, ...] | None, init: str):
        super().__init__()
        sizes = self._set_shape(sizes, input_shape)
        self.init = choice("init", init, INITS)
        self.maps = nn.ModuleList(Affine(n_in, n_out, init) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))

    def options(self) -> dict:
        return dict(init=self.init)

    def _forward(self, x: Tensor, trace: list[MapTrace] | None = None) -> Tensor:
        z = self._flatten(x)
        for k, layer in enumerate(self.maps):
            a = self.nonlinearity(z) if k else z
            z = F.linear(a, layer.weight, layer.bias)
            if trace is not None:
                trace.append(MapTrace(a, z, None))
        return z


@register_backbone("tanh_mlp")
class TanhMLP(ElementwiseMLP):
    """The elementwise-tanh baseline of the paper."""

    nonlinearity = staticmethod(torch.tanh)

    def __init__(self, sizes, *, input_shape: tuple[int, ...] | None = None, init: str = "orthogonal"):
        super().__init__(sizes, input_shape=input_shape, init=init)


@register_backbone("relu_mlp")
class ReLUMLP(ElementwiseMLP):
    """The ReLU MLP of the continual-learning literature, initialised like nn.Linear by default."""

    nonlinearity = staticmethod(F.relu)

    def __init__(self, sizes, *, input_shape: tuple[int, ...] | None = None, init: str = "kaiming_uniform"):
        super().__init__(sizes, input_shape=input_shape, init=init)
