"""Optimiser state that follows topology changes instead of being reset (paper notes §2.6)."""

import torch
from torch import nn

from isocl.topology.layout import parameter_axes, transform
from isocl.topology.records import Change

FIRST_MOMENTS = frozenset({"exp_avg", "momentum_buffer"})  # linear in the gradient: rotate exactly
SECOND_MOMENTS = frozenset({"exp_avg_sq", "max_exp_avg_sq"})  # diag(R^T diag(v) R) ~ (R^T)^2 v


def _moment_tensors(optimizer: torch.optim.Optimizer, param: nn.Parameter) -> dict:
    state = optimizer.state.get(param, {})
    tensors = {k: v for k, v in state.items() if torch.is_tensor(v) and v.dim() > 0}  # "step" is kept
    unknown = set(tensors) - FIRST_MOMENTS - SECOND_MOMENTS
    if unknown:
        raise ValueError(
            f"remap_optimizer: {type(optimizer).__name__} keeps per-parameter state {sorted(unknown)} that isocl "
            f"does not know how to move; supported: {sorted(FIRST_MOMENTS | SECOND_MOMENTS)} "
            "(Adam, AdamW, SGD with momentum)"
        )
    return tensors


def remap_optimizer(optimizer: torch.optim.Optimizer, net: nn.Module, change: Change) -> None:
    """Move the optimiser's state through `change`, after the network has been changed.

    First moments rotate like the parameters; second moments rotate with the squared rotation (they stay
    >= 0); entries of new neurons start at 0, entries of removed neurons are dropped; step counts are kept.
    The optimiser then steps normally on the new shapes.
    """
    axes_of = {id(p): axes for _, p, axes in parameter_axes(net)}
    params = [p for group in optimizer.param_groups for p in group["params"] if id(p) in axes_of]
    pending = [(p, _moment_tensors(optimizer, p)) for p in params]  # validate everything before changing
    for param, tensors in pending:
        for key, value in tensors.items():
            for step in change.steps:
                value = transform(value, axes_of[id(param)], step, squared=key in SECOND_MOMENTS)
            if value.shape != param.shape:
                raise RuntimeError(f"remap_optimizer: {key} ended as {tuple(value.shape)}, not {tuple(param.shape)}")
            optimizer.state[param][key] = value
