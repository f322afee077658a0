"""Modules: the isotropic activation, the isotropic MLP and its elementwise-tanh baseline."""

from isocl.nn.activation import RADIAL_FUNCTIONS, isotropic, isotropic_gain
from isocl.nn.mlp import BACKBONES, Affine, IsoMLP, TanhMLP, build_backbone

__all__ = [
    "RADIAL_FUNCTIONS",
    "BACKBONES",
    "Affine",
    "IsoMLP",
    "TanhMLP",
    "build_backbone",
    "isotropic",
    "isotropic_gain",
]
