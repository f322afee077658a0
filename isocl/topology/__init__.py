"""Pure, function-preserving surgery on any backbone that meets the contract (isocl.nn.Backbone; hidden-layer
operations need isotropic=True), and the records that let state follow it. Safe in any loop: a live autograd graph
does not stop the next backward after a shape change (see layout.replace_data)."""

from isocl.topology.checks import NonFiniteError
from isocl.topology.demand import demand_count, grow_towards, occupied_basis, unread_gradient
from isocl.topology.energy import neuroadapt_energy
from isocl.topology.layout import parameter_axes, transform
from isocl.topology.ops import (
    add_outputs,
    diagonalise,
    full_diagonalise,
    grow,
    neuroadapt,
    nonzero_weights,
    prune,
    remove_outputs,
    resize,
    singular_values,
    sparsify,
)
from isocl.topology.optim import remap_optimizer
from isocl.topology.records import Change, Reindex, Rotation
from isocl.topology.release import drop_released, release

__all__ = [
    "Change",
    "NonFiniteError",
    "Reindex",
    "Rotation",
    "add_outputs",
    "demand_count",
    "grow_towards",
    "occupied_basis",
    "unread_gradient",
    "diagonalise",
    "drop_released",
    "full_diagonalise",
    "grow",
    "neuroadapt",
    "neuroadapt_energy",
    "nonzero_weights",
    "parameter_axes",
    "prune",
    "release",
    "remap_optimizer",
    "remove_outputs",
    "resize",
    "singular_values",
    "sparsify",
    "transform",
]
