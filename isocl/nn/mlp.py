"""Multi-layer perceptrons: the isotropic network of the paper and its elementwise-tanh baseline.

Maps are numbered k = 0..L and hidden layers k = 0..L-1; hidden layer k is the output of map k, and map L
produces the outputs (paper notes §2.1). Both networks store map k as `maps[k]` with `weight` (n_k, n_{k-1})
and `bias` (n_k,), so topology operations, optimisers and checkpoints see the same names on either.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from isocl.nn.activation import SMALL_BALL, isotropic_gain, radial_function

INTRINSIC_LENGTH_MODES = ("none", "constant", "trainable")
PSI_MODES = ("none", "constant", "trainable", "trainable_decay", "expectation")
INITS = ("orthogonal", "xavier_normal", "xavier_uniform", "kaiming_uniform")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {list(allowed)}")
    return value


def _check_sizes(sizes) -> list[int]:
    sizes = list(sizes)
    if len(sizes) < 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
        raise ValueError(
            f"sizes={sizes!r} is not valid: give the input, hidden and output widths as positive ints, "
            "e.g. [3072, 1000, 1000, 10]"
        )
    return sizes


def _initialise(weight: Tensor, init: str) -> None:
    if init == "orthogonal":
        nn.init.orthogonal_(weight)  # every singular value is 1 (the author's default)
    elif init == "xavier_normal":
        nn.init.xavier_normal_(weight)
    elif init == "xavier_uniform":
        nn.init.xavier_uniform_(weight)
    else:
        nn.init.kaiming_uniform_(weight, a=5**0.5)  # nn.Linear's default


class MapTrace(NamedTuple):
    """What map k saw in a forward pass: per-sample dL/dW_k = delta_k inputs^T, dL/db_k = delta_k and
    dL/dpsi_k = gain delta_k, where delta_k = dL/dpreactivation."""

    inputs: Tensor  # (B, n_{k-1})
    preactivation: Tensor  # (B, n_k)
    gain: Tensor | None  # (B, 1) for maps with psi terms


class Affine(nn.Module):
    """One map: z = W a + b (+ psi * g for isotropic networks). psi is None where the map has none."""

    def __init__(self, n_in: int, n_out: int, init: str, psi: str | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in))
        self.bias = nn.Parameter(torch.zeros(n_out))
        if psi is None:
            self.register_parameter("psi", None)
        else:  # "constant" psi changes only through neurodegeneration
            self.psi = nn.Parameter(torch.zeros(n_out), requires_grad=psi != "constant")
        _initialise(self.weight, init)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}, psi={self.psi is not None}"


class _MLP(nn.Module):
    """What both backbones share: the maps, their sizes and a (zero) penalty."""

    maps: nn.ModuleList

    @property
    def sizes(self) -> list[int]:
        """Current widths [n_in, n_0, ..., n_{L-1}, n_out]; they change under topology operations."""
        return [self.maps[0].weight.shape[1]] + [m.weight.shape[0] for m in self.maps]

    @property
    def n_hidden(self) -> int:
        return len(self.maps) - 1

    def penalty(self) -> Tensor:
        """Regularisation term to add to the loss (zero unless a subclass defines one)."""
        return self.maps[0].weight.new_zeros(())

    def _flatten(self, x: Tensor) -> Tensor:
        x = x.flatten(1) if x.dim() > 2 else x
        if x.dim() != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"expected input of shape (B, {self.sizes[0]}), got {tuple(x.shape)}")
        return x


class IsoMLP(_MLP):
    """The generalised isotropic perceptron (paper notes §2.1).

    z_0 = W_0 x + b_0;  z_k = g_{k-1} (W_k z_{k-1} + psi_k) + b_k;  y = z_L,
    with g_k = sigma(m_k) / m_k, m_k = sqrt(|z_k|^2 + o_k). Each hidden layer has an intrinsic length o_k >= 0,
    stored as log o_k so that it stays positive, and maps 1..L have a psi correction vector.

    Args:
        sizes: widths including input and output, e.g. [3072, 1000, 1000, 10].
        activation: the radial function sigma ("tanh" or "log1p").
        intrinsic_length: "none" (o = 0), "constant" (changed only by neurodegeneration) or "trainable".
        psi: "none", "constant", "trainable", "trainable_decay" (trainable, penalty() adds psi_decay |psi|^2) or
            "expectation" (no psi; pruning folds the correction into the next bias using the last batch's mean g).
        init: weight initialisation; biases and psi start at 0.
    """

    def __init__(
        self,
        sizes,
        *,
        activation: str = "tanh",
        intrinsic_length: str = "trainable",
        psi: str = "trainable_decay",
        init: str = "orthogonal",
        intrinsic_length_init: float = 1e-6,
        psi_decay: float = 0.1,
        eps: float = SMALL_BALL,
    ):
        super().__init__()
        sizes = _check_sizes(sizes)
        radial_function(activation)
        self.activation = activation
        self.intrinsic_length_mode = _choice("intrinsic_length", intrinsic_length, INTRINSIC_LENGTH_MODES)
        self.psi_mode = _choice("psi", psi, PSI_MODES)
        self.init = _choice("init", init, INITS)
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

    def spec(self) -> dict:
        """Constructor arguments that rebuild a network of the current shape (for checkpoints)."""
        return dict(
            type="iso_mlp",
            sizes=self.sizes,
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

    def forward(self, x: Tensor, trace: list | None = None) -> Tensor:
        """Logits; with a `trace` list, also appends one `MapTrace` per map (for per-sample gradients)."""
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


class TanhMLP(_MLP):
    """The elementwise-tanh baseline: the same maps and constructor shape, with a_k = tanh(z_k) per neuron."""

    def __init__(self, sizes, *, init: str = "orthogonal"):
        super().__init__()
        sizes = _check_sizes(sizes)
        self.init = _choice("init", init, INITS)
        self.maps = nn.ModuleList(Affine(n_in, n_out, init) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))

    def spec(self) -> dict:
        return dict(type="tanh_mlp", sizes=self.sizes, init=self.init)

    def forward(self, x: Tensor, trace: list | None = None) -> Tensor:
        z = self._flatten(x)
        for k, layer in enumerate(self.maps):
            a = torch.tanh(z) if k else z
            z = F.linear(a, layer.weight, layer.bias)
            if trace is not None:
                trace.append(MapTrace(a, z, None))
        return z


BACKBONES = {"iso_mlp": IsoMLP, "tanh_mlp": TanhMLP}


def build_backbone(spec: dict) -> _MLP:
    """Rebuild a network from its `spec()` (its current sizes included)."""
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in BACKBONES:
        raise ValueError(f"unknown backbone type {kind!r}; choose one of {sorted(BACKBONES)}")
    return BACKBONES[kind](**spec)
