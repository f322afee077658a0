"""Function-preserving surgery on an isotropic backbone (paper notes §2-4); output changes on any backbone.

Every operation validates its input before touching the network, leaves the network as it was if anything
fails, and returns a `Change` whose steps let optimiser and regulariser state follow (see `remap_optimizer`).
"""

import torch
from torch import Tensor, nn

from isocl.topology.checks import atomic, check_count, check_finite, check_hidden_layer, check_isotropic
from isocl.topology.decompose import full_svd, left_basis, singular_values_of
from isocl.topology.layout import apply_step, replace_data
from isocl.topology.records import Change, Reindex, Rotation

SCAFFOLD_SCALE = 0.01  # std of a scaffold's outgoing column: non-zero so that its incoming row learns


def singular_values(net: nn.Module, k: int) -> Tensor:
    """The n_k singular values of map k (descending, float64), zeros included when n_k > n_{k-1}."""
    check_hidden_layer(net, k, "singular_values")
    return singular_values_of(net.maps[k].weight)


def nonzero_weights(net: nn.Module) -> int:
    """Number of non-zero entries in all weight matrices (biases and psi excluded)."""
    return sum(int(torch.count_nonzero(m.weight)) for m in net.maps)


def _apply(net: nn.Module, *steps) -> tuple:
    for step in steps:
        apply_step(net, step)
    return steps


def _row_norms(net: nn.Module, k: int) -> Tensor:
    """Singular values read off a left-diagonalised map k: the norms of its rows."""
    return net.maps[k].weight.detach().to(torch.float64).norm(dim=1)


def _rotate_left(net: nn.Module, k: int) -> Rotation:
    U, _ = left_basis(net.maps[k].weight)
    rotation = Rotation(k, U)
    apply_step(net, rotation)
    return rotation


@atomic
def diagonalise(net: nn.Module, k: int) -> Change:
    """Left (partial) diagonalisation of map k, 0 <= k < L (notes §2.3).

    Exact: W_k <- U^T W_k, b_k <- U^T b_k, psi_k <- U^T psi_k, W_{k+1} <- W_{k+1} U. |z_k| and so g_k are
    unchanged, and W_{k+1} U U^T a_k = W_{k+1} a_k. Afterwards neuron i reads one input direction with weight
    sigma_i, sorted descending.
    """
    check_isotropic(net, "diagonalise")
    check_hidden_layer(net, k, "diagonalise")
    check_finite(net, "diagonalise")
    rotation = _rotate_left(net, k)
    return Change("diagonalise", (rotation,), {"layer": k, "singular_values": _row_norms(net, k)})


def _check_inner_map(net: nn.Module, k) -> None:
    n_hidden = net.n_hidden
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n_hidden - 1:
        raise IndexError(
            f"full_diagonalise: map {k!r} is not a hidden-to-hidden map; this network (sizes {net.sizes}) "
            f"has them at 1..{n_hidden - 1}. Maps next to the input or output touch a fixed basis: use "
            "diagonalise(net, k) for a one-sided diagonalisation."
        )


@atomic
def full_diagonalise(net: nn.Module, k: int) -> Change:
    """Full diagonalisation of a hidden-to-hidden map k, 1 <= k <= L-1 (notes §2.4).

    Rotates hidden layer k by U and hidden layer k-1 by V, where W_k = U Sigma V^T: both are exact symmetries,
    so W_k becomes Sigma, neuron i of layer k-1 feeding only neuron i of layer k. Sigma is written exactly, so
    the off-diagonal entries are zeros rather than rounding noise.
    """
    check_isotropic(net, "full_diagonalise")
    _check_inner_map(net, k)
    check_finite(net, "full_diagonalise")
    U, s, V = full_svd(net.maps[k].weight)
    steps = _apply(net, Rotation(k, U), Rotation(k - 1, V))
    weight = net.maps[k].weight
    sigma = torch.zeros_like(weight)
    sigma.diagonal().copy_(s)
    replace_data(weight, sigma)
    return Change("full_diagonalise", steps, {"layer": k, "singular_values": s})


@atomic
def sparsify(net: nn.Module) -> Change:
    """Fully diagonalise the alternating maps 1, 3, 5, ... <= L-1 (notes §2.5); exact.

    Each diagonalised map keeps min(n_k, n_{k-1}) of its n_k n_{k-1} weights; the maps between absorb the
    rotations of both their sides and stay dense.
    """
    check_isotropic(net, "sparsify")
    before = nonzero_weights(net)
    maps = list(range(1, net.n_hidden, 2))
    steps = ()
    for k in maps:
        steps += full_diagonalise(net, k).steps
    return Change("sparsify", steps, {"maps": maps, "nonzero_before": before, "nonzero_after": nonzero_weights(net)})


def _append_scaffold(net: nn.Module, k: int, n: int, scale: float, generator, outgoing=None) -> Reindex:
    step = Reindex(k, torch.arange(net.sizes[k + 1]), n)
    apply_step(net, step)  # zero incoming rows, biases and psi entries
    # exact: z_new = 0 for every input, so |z_k| and g_k are unchanged and a_new = 0 meets the new column
    # of W_{k+1}. That column is random (or the given `outgoing`), not zero, else dL/dz_new = 0 and the
    # scaffold never learns.
    out = net.maps[k + 1].weight
    if outgoing is None:
        outgoing = scale * torch.randn(out.shape[0], n, generator=generator, dtype=out.dtype, device="cpu")
    out.data[:, -n:] = outgoing.to(device=out.device, dtype=out.dtype)
    return step


@atomic
def grow(net: nn.Module, k: int, n: int, *, scale: float = SCAFFOLD_SCALE, generator=None) -> Change:
    """Neurogenesis: append n scaffold neurons to hidden layer k (notes §4); exact."""
    check_isotropic(net, "grow")
    check_hidden_layer(net, k, "grow")
    check_count(n, "grow")
    check_finite(net, "grow")
    steps = (_append_scaffold(net, k, n, scale, generator),) if n else ()
    return Change("grow", steps, {"layer": k, "added": n})


def _check_prune_possible(net: nn.Module, k: int, n: int) -> None:
    width = net.sizes[k + 1]
    if n >= width:
        raise ValueError(f"prune: cannot remove {n} of the {width} neurons of hidden layer {k}; one must stay")
    if n and net.psi_mode == "expectation" and net.mean_gains[k] is None:
        raise ValueError(
            "prune: psi='expectation' folds the correction into the next bias using E[g] of the last training "
            "batch; run a forward pass in training mode first"
        )


def _drop_trailing(net: nn.Module, k: int, n: int) -> Reindex:
    """Remove the last n neurons of a left-diagonalised layer k, absorbing their bias residual (notes §3).

    After diagonalisation neuron j computes z_j = sigma_j v_j.a + b_j + psi_k[j] g; for sigma_j = 0 and
    psi_k[j] = 0 it is the constant b_j. Dropping it would remove b_j^2 from |z_k|^2 (o_k absorbs it) and
    the term g_k b_j W_{k+1}[:, j] from the next map (psi_{k+1} absorbs it): exact for sigma_j = 0, and an
    error first-order in sigma_j otherwise.
    """
    keep = net.sizes[k + 1] - n
    with torch.no_grad():
        b = net.maps[k].bias[keep:]
        correction = net.maps[k + 1].weight[:, keep:] @ b
        net.set_intrinsic_length(k, net.intrinsic_length(k) + b.square().sum())
        following = net.maps[k + 1]
        if following.psi is not None:
            following.psi.add_(correction)
        elif net.psi_mode == "expectation":  # approximate: g_k replaced by its batch mean
            following.bias.add_(net.mean_gains[k] * correction)
    step = Reindex(k, torch.arange(keep))
    apply_step(net, step)
    return step


@atomic
def prune(net: nn.Module, k: int, n: int) -> Change:
    """Neurodegeneration: remove the n smallest-singular-value neurons of hidden layer k (notes §3).

    One decomposition serves all n: after diagonalisation the rows are orthogonal, so removing some leaves
    the others' singular values and directions as they were, which is what n single removals would find.
    """
    check_isotropic(net, "prune")
    check_hidden_layer(net, k, "prune")
    check_count(n, "prune")
    _check_prune_possible(net, k, n)
    check_finite(net, "prune")
    if not n:
        return Change("prune", (), {"layer": k, "removed": 0})
    rotation = _rotate_left(net, k)
    removed = _row_norms(net, k)[-n:]
    step = _drop_trailing(net, k, n)
    return Change("prune", (rotation, step), {"layer": k, "removed": n, "removed_singular_values": removed})


def resize(net: nn.Module, k: int, width: int, *, scale: float = SCAFFOLD_SCALE, generator=None) -> Change:
    """Bring hidden layer k to `width` (the paper's Exp 4, rule (a)): prune its smallest-singular-value neurons
    (error first-order in the removed singular values) or grow scaffolds (exact); a no-op at the current width."""
    check_hidden_layer(net, k, "resize")
    check_count(width, "resize", low=1)
    current = net.sizes[k + 1]
    if width < current:
        return prune(net, k, current - width)
    return grow(net, k, width - current, scale=scale, generator=generator)


def _adapt_layer(net: nn.Module, k: int, threshold: float, n_scaffold: int, scale: float, generator, relative: bool):
    U, s = left_basis(net.maps[k].weight)
    if relative:  # a fraction of the layer's own largest singular value: no drift when all of them shrink
        threshold = threshold * float(s[0])
    scaffold = int((s <= threshold).sum())  # rows beyond rank count as sigma = 0
    surplus = min(scaffold - n_scaffold, len(s) - 1)
    if surplus > 0:  # only a removal needs the rotation; growth appends in the current basis
        rotation = Rotation(k, U)
        apply_step(net, rotation)
        steps = (rotation, _drop_trailing(net, k, surplus))
    elif scaffold < n_scaffold:
        steps = (_append_scaffold(net, k, n_scaffold - scaffold, scale, generator),)
    else:
        steps = ()
    added = max(n_scaffold - scaffold, 0)
    return steps, {
        "scaffold": scaffold,
        "added": added,
        "removed": max(surplus, 0),
        "width": net.sizes[k + 1],
    }


@atomic
def neuroadapt(
    net: nn.Module,
    threshold: float = 0.95,
    n_scaffold: int = 5,
    *,
    scale: float = SCAFFOLD_SCALE,
    generator=None,
    relative: bool = False,
) -> Change:
    """The scaffold-buffer rule (notes §4) on every hidden layer, deepest first.

    A neuron with singular value <= threshold is a scaffold (relative=True: <= threshold times the layer's largest
    singular value). Each layer is brought to exactly n_scaffold
    scaffolds: surplus ones (the smallest) are pruned, missing ones grown. A scaffold that training lifts past
    the threshold is thereby promoted and replaced, so the width follows demand. One decomposition per layer.
    """
    check_isotropic(net, "neuroadapt")
    check_count(n_scaffold, "neuroadapt")
    if not threshold >= 0:
        raise ValueError(f"neuroadapt: threshold must be >= 0, got {threshold!r}")
    check_finite(net, "neuroadapt")
    steps, layers = (), {}
    for k in reversed(range(net.n_hidden)):
        layer_steps, layers[k] = _adapt_layer(net, k, threshold, n_scaffold, scale, generator, relative)
        steps += layer_steps
    return Change("neuroadapt", steps, {"layers": layers})


@atomic
def add_outputs(net: nn.Module, n: int) -> Change:
    """Append n output units with zero weights, bias and psi: the existing outputs are unchanged."""
    check_count(n, "add_outputs")
    steps = _apply(net, Reindex(net.n_hidden, torch.arange(net.sizes[-1]), n)) if n else ()
    return Change("add_outputs", steps, {"added": n})


@atomic
def remove_outputs(net: nn.Module, indices) -> Change:
    """Remove the given output units; the remaining outputs keep their values and their order."""
    n_out = net.sizes[-1]
    drop = sorted({int(i) for i in indices})
    if any(not 0 <= i < n_out for i in drop) or len(drop) >= n_out:
        raise ValueError(
            f"remove_outputs: indices {list(indices)} must be distinct outputs in 0..{n_out - 1}, leaving at least one"
        )
    kept = torch.tensor([i for i in range(n_out) if i not in set(drop)], dtype=torch.long)
    steps = _apply(net, Reindex(net.n_hidden, kept)) if drop else ()
    return Change("remove_outputs", steps, {"removed": drop})
