"""Modules and the backbone contract: the isotropic activation, the isotropic MLP and its elementwise baselines.

Importing this package registers every backbone in BACKBONES (iso_mlp, tanh_mlp, relu_mlp).
"""

from isocl.nn.activation import RADIAL_FUNCTIONS, isotropic, isotropic_gain
from isocl.nn.backbones import BACKBONES, backbone_options, build_backbone, create_backbone, register_backbone
from isocl.nn.contract import Axes, Backbone, IsotropicBackbone, MapTrace
from isocl.nn.elementwise import ElementwiseMLP, ReLUMLP, TanhMLP
from isocl.nn.maps import INITS, Affine
from isocl.nn.mlp import IsoMLP, MLPBackbone

__all__ = [
    "BACKBONES",
    "INITS",
    "RADIAL_FUNCTIONS",
    "Affine",
    "Axes",
    "Backbone",
    "ElementwiseMLP",
    "IsoMLP",
    "IsotropicBackbone",
    "MLPBackbone",
    "MapTrace",
    "ReLUMLP",
    "TanhMLP",
    "backbone_options",
    "build_backbone",
    "create_backbone",
    "isotropic",
    "isotropic_gain",
    "register_backbone",
]
