"""One affine map of an MLP, its weight initialisations, and the argument checks the MLP constructors share."""

import math

import torch
from torch import Tensor, nn

from isocl.registry import Registry

INITS = Registry("init")  # name -> function that fills a weight (n_out, n_in) in place


@INITS.register("orthogonal")
def _orthogonal(weight: Tensor) -> None:
    nn.init.orthogonal_(weight)  # every singular value is 1 (the author's default)


@INITS.register("xavier_normal")
def _xavier_normal(weight: Tensor) -> None:
    nn.init.xavier_normal_(weight)


@INITS.register("xavier_uniform")
def _xavier_uniform(weight: Tensor) -> None:
    nn.init.xavier_uniform_(weight)


@INITS.register("kaiming_uniform")
def _kaiming_uniform(weight: Tensor) -> None:
    nn.init.kaiming_uniform_(weight, a=5**0.5)  # nn.Linear's default


def choice(name: str, value: str, allowed) -> str:
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {allowed}")
    return value


def _is_positive_int(n) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n > 0


def check_sizes(sizes) -> list[int]:
    sizes = list(sizes)
    if len(sizes) < 2 or not all(_is_positive_int(n) for n in sizes):
        raise ValueError(
            f"sizes={sizes!r} is not valid: give the input, hidden and output widths as positive ints, "
            "e.g. [3072, 1000, 1000, 10]"
        )
    return sizes


def check_input_shape(input_shape, n_in: int) -> tuple[int, ...]:
    """The shape of one sample; None means a flat (n_in,). Its element count must be the input width."""
    if input_shape is None:
        return (n_in,)
    shape = tuple(input_shape) if isinstance(input_shape, list | tuple) else None
    if not shape or not all(_is_positive_int(n) for n in shape):
        raise ValueError(f"input_shape={input_shape!r} is not valid: give one sample's shape, e.g. (3, 32, 32)")
    if math.prod(shape) != n_in:
        raise ValueError(
            f"input_shape={shape} holds {math.prod(shape)} values, but sizes[0] (the input width) is {n_in}"
        )
    return shape


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
        INITS.get(init)(self.weight)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}, psi={self.psi is not None}"
