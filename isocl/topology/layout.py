"""Which axis of which parameter indexes which layer, and how a change step moves a tensor along it.

One mechanism serves every holder of parameter-shaped state: the parameters themselves, optimiser moments and
regulariser importances all follow a `Rotation` or `Reindex` through `transform`.
"""

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from isocl.nn.contract import Axes
from isocl.topology.records import Reindex, Rotation, Step


def parameter_axes(net: nn.Module) -> Iterator[tuple[str, nn.Parameter, Axes]]:
    """(name, parameter, axes) for every layer-indexed parameter: the backbone's own `parameter_axes()`."""
    if not callable(getattr(net, "parameter_axes", None)):
        raise TypeError(
            f"{type(net).__name__} does not meet the backbone contract (isocl.nn.Backbone): it has no "
            "parameter_axes() saying which axis of which parameter follows which layer"
        )
    return net.parameter_axes()


def _rotate_axis(t: Tensor, axis: int, R: Tensor) -> Tensor:
    # new[i', ...] = sum_i R[i, i'] old[i, ...]: rows become R^T W, columns become W R
    moved = t.movedim(axis, 0)
    out = R.T @ moved.reshape(moved.shape[0], -1)
    return out.reshape(moved.shape).movedim(0, axis)


def _reindex_axis(t: Tensor, axis: int, step: Reindex, fill: float) -> Tensor:
    kept = t.index_select(axis, step.kept.to(t.device))
    if not step.appended:
        return kept
    pad_shape = list(t.shape)
    pad_shape[axis] = step.appended
    return torch.cat([kept, t.new_full(pad_shape, fill)], dim=axis)


def transform(t: Tensor, axes: Axes, step: Step, *, squared: bool = False, fill: float = 0.0) -> Tensor:
    """Move `t` (a parameter or a tensor shaped like it) through one change step.

    squared: rotate with the element-wise square of the rotation, the diagonal approximation of
        R^T diag(v) R used for second moments and importances (paper notes §2.6). It maps v >= 0 to v >= 0.
    fill: value of the entries of appended neurons.
    """
    for axis, layer in axes.items():
        if layer != step.layer:
            continue
        if isinstance(step, Rotation):
            R = step.matrix.to(device=t.device, dtype=t.dtype)
            if R.shape[0] != t.shape[axis]:
                raise ValueError(f"rotation of size {R.shape[0]} does not fit axis {axis} of {tuple(t.shape)}")
            t = _rotate_axis(t, axis, R * R if squared else R)
        else:
            t = _reindex_axis(t, axis, step, fill)
    return t


def replace_data(param: nn.Parameter, data: Tensor) -> None:
    """Give `param` new data of any shape: the same Parameter object, no gradient, a fresh grad accumulator.

    Invariant: the next backward pass accumulates into `param` through a new AccumulateGrad node made for the new
    shape, even while an older graph (a loss the caller still holds) keeps the old node alive. Autograd caches one
    AccumulateGrad per leaf, with the leaf's shape, and reuses it for as long as any graph holds it; assigning
    `.data` (VariableHooks::set_data) drops that cache only when the dtype or device changes, so the data passes
    through an empty tensor of another dtype first. Only a backward through the old graph reaches the old node.
    """
    stand_in = torch.float64 if data.dtype == torch.float32 else torch.float32
    param.data = data.new_empty(0, dtype=stand_in)  # a dtype change: autograd forgets the cached accumulator
    param.data = data
    param.grad = None  # a gradient of the old shape or basis is meaningless now


@torch.no_grad()
def apply_step(net: nn.Module, step: Step) -> None:
    """Apply one step to the network's parameters in place (same Parameter objects, new data).

    Invariant: every parameter it touches leaves with no gradient and a fresh grad accumulator (replace_data), so
    training goes on in any loop, even one that still holds the last loss and its graph.
    """
    for _, param, axes in parameter_axes(net):
        if step.layer in axes.values():
            replace_data(param, transform(param.data, axes, step))
