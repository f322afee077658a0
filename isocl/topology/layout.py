"""Which axis of which parameter indexes which layer, and how a change step moves a tensor along it.

One mechanism serves every holder of parameter-shaped state: the parameters themselves, optimiser moments and
regulariser importances all follow a `Rotation` or `Reindex` through `transform`.
"""

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from isocl.topology.records import Reindex, Rotation, Step

Axes = dict[int, int]  # tensor axis -> layer index


def parameter_axes(net: nn.Module) -> Iterator[tuple[str, nn.Parameter, Axes]]:
    """(name, parameter, axes) for every layer-indexed parameter of an IsoMLP or TanhMLP.

    maps[k].weight has rows in layer k and columns in layer k-1 (the fixed input for k = 0); bias and psi
    of map k live in layer k. Intrinsic lengths are scalars and are never reshaped.
    """
    for k, layer in enumerate(net.maps):
        yield f"maps.{k}.weight", layer.weight, ({0: k, 1: k - 1} if k else {0: k})
        yield f"maps.{k}.bias", layer.bias, {0: k}
        if layer.psi is not None:
            yield f"maps.{k}.psi", layer.psi, {0: k}


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


@torch.no_grad()
def apply_step(net: nn.Module, step: Step) -> None:
    """Apply one step to the network's parameters in place (same Parameter objects, new data)."""
    for _, param, axes in parameter_axes(net):
        if step.layer in axes.values():
            param.data = transform(param.data, axes, step)
            param.grad = None  # a gradient of the old shape or basis is meaningless now
