"""Adaptation by activation energy: a neuron is inert when the inputs the network must still serve hardly move it.

Hidden layer k computes z_k = W_k a + b_k + psi_k g (a: the layer's input). Only W_k a depends on the input; the
constant part is what pruning absorbs exactly (ops._drop_trailing). Over some inputs (the stored probes of the
live experiences and samples of the current one), the response W_k a has the second moment S = W_k E[a a^T] W_k^T.
Rotating the layer into S's eigenbasis (an exact symmetry) makes neuron i carry energy lambda_i with no
cross-terms, and its share lambda_i / trace(S) says how much of the layer's response on those inputs it holds.
A neuron whose share is at most `share` is a scaffold; as in `neuroadapt`, each layer is brought to exactly
`n_scaffold` scaffolds, surplus ones (the least energetic) pruned, missing ones grown.

Unlike a threshold on singular values, this asks the data: a large weight along a direction no live input
excites is inert, and a direction a live task uses is kept however small its weight. Removing a task removes its
probes, so directions only it used lose their share; training a new task on new directions raises theirs. The
change of function at a pruning is bounded on the given inputs: the dropped neurons carried at most
n_dropped * share of the layer's response energy there (exact where that energy is 0).
"""

import torch
from torch import Tensor, nn

from isocl.topology.checks import atomic, check_count, check_finite, check_isotropic
from isocl.topology.layout import apply_step
from isocl.topology.ops import SCAFFOLD_SCALE, _append_scaffold, _drop_trailing
from isocl.topology.records import Change, Rotation
from isocl.topology.release import hidden_activations


def map_inputs(net: nn.Module, x: Tensor) -> list[Tensor]:
    """The input of every hidden layer's map (float64): x itself for layer 0, then a_0, ..., a_{L-2}."""
    return [x.detach().flatten(1).to(torch.float64), *hidden_activations(net, x)[:-1]]


def response_basis(weight: Tensor, inputs: Tensor) -> tuple[Tensor, Tensor]:
    """An orthogonal R (n, n) whose columns are the eigenvectors of the response second moment S = W E[a a^T] W^T,
    by descending energy, and each one's share of trace(S) (zeros for a layer no input moves)."""
    W = weight.detach().to(torch.float64)
    response = inputs @ W.T  # (N, n): W a per input
    values, vectors = torch.linalg.eigh(response.T @ response / max(len(inputs), 1))  # ascending
    values = values.flip(0).clamp_min(0)
    total = values.sum()
    shares = values / total if total > 0 else torch.zeros_like(values)
    return vectors.flip(1), shares


def _adapt_layer(net: nn.Module, k: int, inputs: Tensor, share: float, n_scaffold: int, scale: float, generator):
    R, shares = response_basis(net.maps[k].weight, inputs)
    scaffold = int((shares <= share).sum())
    surplus = min(scaffold - n_scaffold, len(shares) - 1)
    if surplus > 0:
        rotation = Rotation(k, R)
        apply_step(net, rotation)
        steps = (rotation, _drop_trailing(net, k, surplus))
    elif scaffold < n_scaffold:
        steps = (_append_scaffold(net, k, n_scaffold - scaffold, scale, generator),)
    else:
        steps = ()
    removed = float(shares[-surplus:].sum()) if surplus > 0 else 0.0
    info = {"scaffold": scaffold, "added": max(n_scaffold - scaffold, 0), "removed": max(surplus, 0)}
    return steps, {**info, "removed_share": removed, "width": net.sizes[k + 1]}


@atomic
def neuroadapt_energy(
    net: nn.Module, x: Tensor, share: float = 1e-4, n_scaffold: int = 5, *, scale: float = SCAFFOLD_SCALE,
    generator=None,
) -> Change:  # fmt: skip
    """The scaffold-buffer rule with activation-energy scaffolds (module docstring) on every hidden layer, deepest
    first. `x`: the inputs the network must serve (a batch in the backbone's input shape)."""
    check_isotropic(net, "neuroadapt_energy")
    check_count(n_scaffold, "neuroadapt_energy")
    if not 0 <= share < 1:
        raise ValueError(f"neuroadapt_energy: share must be in [0, 1), got {share!r}")
    if not len(x):
        raise ValueError("neuroadapt_energy: needs at least one input to measure activation energy on")
    check_finite(net, "neuroadapt_energy")
    inputs = map_inputs(net, x)  # pruning layer k leaves every shallower layer's inputs as they are
    steps, layers = (), {}
    for k in reversed(range(net.n_hidden)):
        layer_steps, layers[k] = _adapt_layer(net, k, inputs[k], share, n_scaffold, scale, generator)
        steps += layer_steps
    return Change("neuroadapt_energy", steps, {"layers": layers})
