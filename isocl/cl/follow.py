"""One mechanism for state that follows a topology change.

Every topology operation returns a `Change` (isocl/topology/records.py). `follow_change` replays it, in this
order, on (1) the optimiser's per-parameter moments, (2) the strategy object, (3) each of its plugins in plugin
order: whatever declares `follow(net, change)` (the `FollowsChanges` protocol) follows, and Avalanche's own
plugins that hold parameter-shaped state get an adapter here. Growth, adaptation, release and output removal
all go through it; nobody remaps state by hand.

Avalanche's EWC: anchors move like the parameters (exact); importances take the squared rotation, the same
diagonal approximation as Adam's second moment (the diagonal of R^T diag(F) R is not (R^T)^2 F in general), and
new entries get importance 0, so growth leaves the penalty of an unchanged function exactly unchanged.
"""

from collections.abc import Callable
from functools import singledispatch
from typing import Protocol, runtime_checkable

from avalanche.training.plugins import EWCPlugin
from avalanche.training.utils import ParamData
from torch import Tensor, nn

from isocl import topology
from isocl.topology import Change


@runtime_checkable
class FollowsChanges(Protocol):
    """A holder of state shaped like the backbone's parameters, kept in step with every topology change."""

    def follow(self, net: nn.Module, change: Change) -> None: ...


def change_topology(strategy, operation: Callable[[], Change]) -> Change:
    """Run a topology operation on the strategy's model and make every holder of state follow it. (A live graph
    of the last step is no obstacle: topology gives every reshaped parameter a fresh gradient accumulator.)"""
    change = operation()
    follow_change(strategy, change)
    return change


def follow_change(strategy, change: Change) -> None:
    """Replay `change` (already applied to the network) on the optimiser, the strategy and its plugins."""
    net = strategy.model.backbone
    topology.remap_optimizer(strategy.optimizer, net, change)
    for holder in (strategy, *strategy.plugins):
        follow(holder, net, change)


@singledispatch
def follow(holder, net: nn.Module, change: Change) -> None:
    """Move `holder`'s parameter-shaped state through `change`. Default: its own `follow`, if it declares one."""
    if isinstance(holder, FollowsChanges):
        holder.follow(net, change)


def move_through(tensor: Tensor, axes: dict, change: Change, *, squared: bool = False) -> Tensor:
    """A tensor shaped like a parameter with `axes`, moved through every step of `change` (new entries 0)."""
    for step in change.steps:
        tensor = topology.transform(tensor, axes, step, squared=squared)
    return tensor


def named_axes(net: nn.Module, prefix: str = "backbone.") -> dict[str, dict]:
    """Parameter axes keyed by the name the whole classifier gives each parameter."""
    return {prefix + name: axes for name, _, axes in topology.parameter_axes(net)}


def _move_param_data(holder: ParamData, axes: dict, change: Change, squared: bool) -> None:
    moved = move_through(holder.data, axes, change, squared=squared)
    holder._data, holder.shape = moved.contiguous(), moved.shape


@follow.register
def _(holder: EWCPlugin, net: nn.Module, change: Change) -> None:
    axes = named_axes(net)
    for stores, squared in ((holder.saved_params, False), (holder.importances, True)):
        for store in stores.values():
            for name, data in store.items():
                if name in axes:
                    _move_param_data(data, axes[name], change, squared)
