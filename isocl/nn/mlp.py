"""Multi-layer perceptrons: the shared base of every MLP backbone, and the isotropic network of the paper.

Maps are numbered k = 0..L and hidden layers k = 0..L-1; hidden layer k is the output of map k, and map L
produces the outputs (paper notes §2.1). Every MLP stores map k as `maps[k]` with `weight` (n_k, n_{k-1})
and `bias` (n_k,), so topology operations, optimisers and checkpoints see the same names on each.
"""

import functools
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from isocl.nn.activation import SMALL_BALL, isotropic_gain, radial_function
from isocl.nn.backbones import register_backbone
from isocl.nn.contract import Axes, MapTrace
from isocl.nn.maps import INITS, Affine, check_input_shape, check_sizes, choice

INTRINSIC_LENGTH_MODES = ("none", "constant", "trainable")
PSI_MODES = ("none", "constant", "trainable", "trainable_decay", "expectation")


@functools.cache
def _compiled(backend: str):
    """One compiled step function per backend, shared by every network (the network is its argument)."""
    return torch.compile(lambda net, x: net._forward(x, None), backend=backend, dynamic=True)


class MLPBackbone(nn.Module):
    """What every MLP backbone shares (the `Backbone` contract): maps, sizes, axes, spec, flattening, penalty.

    A subclass sets `maps` and `isotropic`, calls `_set_shape` first in its constructor and lists its
    constructor options in `options()`; register_backbone gives it `kind`.
    """

    kind: str
    isotropic: bool = False
    maps: nn.ModuleList
    input_shape: tuple[int, ...]
    fused_backend: str | None = None  # set by fuse(): trace-less forwards run compiled

    def fuse(self, backend: str | None = "inductor") -> None:
        """Run every forward without a trace through torch.compile(backend) (inductor fuses the elementwise work
        of a step); None: eager again. Shapes are dynamic, so a topology change re-traces rather than breaks;
        traced forwards (per-sample gradient factors) stay eager. Only a name is stored: a deep copy (LwF's
        previous model) computes with its own weights."""
        self.fused_backend = backend

    def forward(self, x: Tensor, trace: list[MapTrace] | None = None) -> Tensor:
        """Logits; with a `trace` list, also appends one `MapTrace` per map (for per-sample gradients)."""
        if trace is None and self.fused_backend is not None and not torch.compiler.is_compiling():
            return _compiled(self.fused_backend)(self, x)
        return self._forward(x, trace)

    def _set_shape(self, sizes, input_shape) -> list[int]:
        sizes = check_sizes(sizes)
        self.input_shape = check_input_shape(input_shape, sizes[0])
        return sizes

    @property
    def sizes(self) -> list[int]:
        """Current widths [n_in, n_0, ..., n_{L-1}, n_out]; they change under topology operations."""
        return [self.maps[0].weight.shape[1]] + [m.weight.shape[0] for m in self.maps]

    @property
    def n_hidden(self) -> int:
        return len(self.maps) - 1

    def parameter_axes(self) -> Iterator[tuple[str, nn.Parameter, Axes]]:
        """maps[k].weight has rows in layer k and columns in layer k-1 (the fixed input for k = 0, so no axis);
        bias and psi of map k live in layer k. Anything else a subclass holds (intrinsic lengths) is a scalar."""
        for k, layer in enumerate(self.maps):
            yield f"maps.{k}.weight", layer.weight, ({0: k, 1: k - 1} if k else {0: k})
            yield f"maps.{k}.bias", layer.bias, {0: k}
            if layer.psi is not None:
                yield f"maps.{k}.psi", layer.psi, {0: k}

    def options(self) -> dict:
        """The constructor's keyword options, as this network was built."""
        return {}

    def spec(self) -> dict:
        """Constructor arguments that rebuild a network of the current shape (for checkpoints)."""
        return dict(type=self.kind, sizes=self.sizes, input_shape=list(self.input_shape), **self.options())

    def penalty(self) -> Tensor:
        """Regularisation term to add to the loss (zero unless a subclass defines one)."""
        return self.maps[0].weight.new_zeros(())

    def _flatten(self, x: Tensor) -> Tensor:
        """(B, *input_shape), or any (B, ...) of n_in values per sample, as (B, n_in)."""
        x = x.flatten(1) if x.dim() > 2 else x
        if x.dim() != 2 or x.shape[1] != self.sizes[0]:
            shapes = ", ".join(str(n) for n in self.input_shape)
            flat = f" or (B, {self.sizes[0]})" if len(self.input_shape) > 1 else ""
            raise ValueError(f"expected input of shape (B, {shapes}){flat}, got {tuple(x.shape)}")
        return x


@register_backbone("iso_mlp")
class IsoMLP(MLPBackbone):
    """The generalised isotropic perceptron (paper notes §2.1).

    z_0 = W_0 x + b_0;  z_k = g_{k-1} (W_k z_{k-1} + psi_k) + b_k;  y = z_L,
    with g_k = sigma(m_k) / m_k, m_k = sqrt(|z_k|^2 + o_k). Each hidden layer has an intrinsic length o_k >= 0,
    stored as log o_k so that it stays positive, and maps 1..L have a psi correction vector. The activation
    acts on each hidden layer through its norm only, so the network is `isotropic`: the topology operations apply.

    Args:
        sizes: widths including input and output, e.g. [3072, 1000, 1000, 10].
        input_shape: the shape of one sample, e.g. (3, 32, 32) (None: flat, (sizes[0],)).
        activation: the radial function sigma ("tanh" or "log1p").
        intrinsic_length: "none" (o = 0), "constant" (changed only by neurodegeneration) or "trainable".
        psi: "none", "constant", "trainable", "trainable_decay" (trainable, penalty() adds psi_decay |psi|^2) or
            "expectation" (no psi; pruning folds the correction into the next bias using the last batch's mean g).
        init: weight initialisation; biases and psi start at 0.
    """

    isotropic = True

    def __init__(
        self,
        sizes,
        *,
        input_shape: tuple[int, ...] | None = None,
        activation: str = "tanh",
        intrinsic_length: str = "trainable",
        psi: str = "trainable_decay",
        init: str = "orthogonal",
        intrinsic_length_init: float = 1e-6,
        psi_decay: float = 0.1,
        eps: float = SMALL_BALL,
    ):
        super().__init__()
        sizes = self._set_shape(sizes, input_shape)
        radial_function(activation)
        self.activation = activation
        self.intrinsic_length_mode = choice("intrinsic_length", intrinsic_length, INTRINSIC_LENGTH_MODES)
        self.psi_mode = choice("psi", psi, PSI_MODES)
        self.init = choice("init", init, INITS)
        if intrinsic_length_init <= 0:
            raise ValueError(f"intrinsic_length_init={intrinsic_length_init} must be > 0 (it is stored as a log)")
        self.intrinsic_length_init = float(intrinsic_length_init)
        self.psi_decay = float(psi_decay)
        self.eps = float(eps)
        has_psi = self.psi_mode not in ("none", "expectation")
        self.maps = nn.ModuleList(
            Affine(n_in, n_out, init, psi=self.psi_mode if (k > 0 and has_psi) else None)
            for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))
        )
        trainable_o = self.intrinsic_length_mode == "trainable"
        self.log_lengths = nn.ParameterList(
            nn.Parameter(torch.tensor(float(intrinsic_length_init)).log(), requires_grad=trainable_o)
            for _ in range(self.n_hidden if self.intrinsic_length_mode != "none" else 0)
        )
        self.mean_gains: list[Tensor | None] = [None] * self.n_hidden  # last training batch's E[g_k]

    def options(self) -> dict:
        return dict(
            activation=self.activation,
            intrinsic_length=self.intrinsic_length_mode,
            psi=self.psi_mode,
            init=self.init,
            intrinsic_length_init=self.intrinsic_length_init,
            psi_decay=self.psi_decay,
            eps=self.eps,
        )

    def intrinsic_length(self, k: int) -> Tensor | float:
        """o_k of hidden layer k (0.0 in mode "none")."""
        return self.log_lengths[k].exp() if len(self.log_lengths) else 0.0

    @torch.no_grad()
    def set_intrinsic_length(self, k: int, value: float | Tensor) -> None:
        if not len(self.log_lengths):
            return  # mode "none": o is identically 0, nothing can absorb a bias residual
        self.log_lengths[k].copy_(torch.as_tensor(value, dtype=self.log_lengths[k].dtype).log())

    def gains(self, z: Tensor, k: int) -> Tensor:
        return isotropic_gain(z, self.intrinsic_length(k), self.activation, self.eps)

    def _forward(self, x: Tensor, trace: list[MapTrace] | None = None) -> Tensor:
        first = self.maps[0]
        x = self._flatten(x)
        z = F.linear(x, first.weight, first.bias)
        if trace is not None:
            trace.append(MapTrace(x, z, None))
        for k in range(1, len(self.maps)):
            g = self.gains(z, k - 1)  # (B, 1)
            if self.training and self.psi_mode == "expectation":
                self.mean_gains[k - 1] = g.detach().mean()
            layer = self.maps[k]
            # z_k = g (W z + psi) + b: psi rides in addmm's bias slot, g and b in one addcmul
            h = z @ layer.weight.T if layer.psi is None else torch.addmm(layer.psi, z, layer.weight.T)
            z_next = torch.addcmul(layer.bias, h, g)
            if trace is not None:  # dz_k/dW_k = g z_{k-1} = a_{k-1}, dz_k/dpsi_k = g
                trace.append(MapTrace(g * z, z_next, g))
            z = z_next
        return z

    def penalty(self) -> Tensor:
        """psi_decay * sum_k |psi_k|^2 in mode "trainable_decay", else 0: add it to the loss."""
        if self.psi_mode != "trainable_decay":
            return super().penalty()
        return self.psi_decay * sum(m.psi.square().sum() for m in self.maps[1:])
