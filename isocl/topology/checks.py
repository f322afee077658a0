"""Preconditions of topology operations, and the guarantee that a failed operation changes nothing."""

import functools

import torch
from torch import nn

from isocl.topology.layout import replace_data


def check_isotropic(net: nn.Module, op: str) -> None:
    """Rotating, growing, pruning or releasing a hidden layer is exact only on a backbone declaring isotropic=True."""
    if not getattr(net, "isotropic", False):
        kind = getattr(net, "kind", None)
        raise TypeError(
            f"{op} needs an isotropic backbone such as IsoMLP (iso_mlp): rotating a hidden layer preserves the "
            f"function only for isotropic activations, and {type(net).__name__}"
            f"{f' ({kind})' if kind else ''} is not isotropic (its activation is elementwise, per neuron); "
            "only add_outputs/remove_outputs apply to it"
        )


def check_hidden_layer(net: nn.Module, k, op: str) -> None:
    n_hidden = net.n_hidden
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < n_hidden:
        raise IndexError(
            f"{op}: hidden layer {k!r} is out of range; this network (sizes {net.sizes}) has hidden layers "
            f"0..{n_hidden - 1}"
        )


def check_count(n, op: str, *, low: int = 0) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < low:
        raise ValueError(f"{op}: the neuron count must be an int >= {low}, got {n!r}")


class NonFiniteError(ValueError):
    """A topology operation met a parameter holding inf or nan (a diverged training run)."""


def check_finite(net: nn.Module, op: str) -> None:
    for name, param in net.named_parameters():
        if not torch.isfinite(param).all():
            raise NonFiniteError(
                f"{op}: parameter {name} holds non-finite values; a decomposition of it is meaningless. "
                "Restore the last good checkpoint or lower the learning rate."
            )


def atomic(op):
    """Run a topology operation so that, if it raises, every parameter and gradient is as before."""

    @functools.wraps(op)
    def run(net: nn.Module, *args, **kwargs):
        saved = [(p, p.detach().clone(), p.grad) for p in net.parameters()]
        try:
            return op(net, *args, **kwargs)
        except BaseException:
            for param, data, grad in saved:
                replace_data(param, data)  # shapes may have changed: a fresh accumulator, as in apply_step
                param.grad = grad
            raise

    return run
