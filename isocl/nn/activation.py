"""The isotropic activation f(z) = sigma(m) z / m, m = sqrt(|z|^2 + o) (Bird, arXiv 2602.23405, paper notes §1).

f acts on a whole layer vector through its norm only, so f(R z) = R f(z) for every orthogonal R: a hidden
layer has no preferred basis. The network code never forms f(z) itself; it asks for the per-sample scalar
gain g = sigma(m) / m and multiplies, because g also feeds the psi correction of the next map (notes §2.1).
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class RadialFunction:
    """sigma: R+ -> R+ applied to the norm, with sigma(0) = 0 and its slope at 0 (the gain inside the small ball)."""

    fn: Callable[[Tensor], Tensor]
    slope_at_zero: float


RADIAL_FUNCTIONS: dict[str, RadialFunction] = {
    "tanh": RadialFunction(torch.tanh, 1.0),
    "log1p": RadialFunction(torch.log1p, 1.0),  # the author's "IsotropicLog1p"
}

SMALL_BALL = 1e-3  # below this m, f is replaced by its linearisation at 0 (the author's epsilon)


def radial_function(name: str) -> RadialFunction:
    if name not in RADIAL_FUNCTIONS:
        raise ValueError(f"unknown isotropic activation {name!r}; choose one of {sorted(RADIAL_FUNCTIONS)}")
    return RADIAL_FUNCTIONS[name]


def isotropic_gain(
    z: Tensor, intrinsic_length: Tensor | float = 0.0, activation: str = "tanh", eps: float = SMALL_BALL
) -> Tensor:
    """Per-sample gain g = sigma(m) / m of shape (..., 1), so that f(z) = g * z.

    Inside the small ball m <= eps the gain is the constant slope sigma'(0): f is linear there, and the
    clamp keeps the backward pass free of the 0/0 of d|z|/dz at z = 0.
    """
    sigma = radial_function(activation)
    m2 = z.square().sum(dim=-1, keepdim=True) + intrinsic_length
    m = m2.clamp_min(eps * eps).sqrt()
    return torch.where(m2 <= eps * eps, torch.full_like(m, sigma.slope_at_zero), sigma.fn(m) / m)


def isotropic(
    z: Tensor, intrinsic_length: Tensor | float = 0.0, activation: str = "tanh", eps: float = SMALL_BALL
) -> Tensor:
    """f(z) = sigma(m) z / m over the last dimension."""
    return isotropic_gain(z, intrinsic_length, activation, eps) * z
