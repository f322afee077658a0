"""Growth sized and aimed by demand: neurons for the gradient a layer cannot yet take (GradMax, Evci et al. 2022).

A new neuron j of hidden layer k with a zero incoming row computes z_j = 0, so the network's function is exactly
unchanged whatever its outgoing column u_j (a column of W_{k+1}). Its incoming row then receives the gradient

    dL/dw_j = sum_s g_{k,s} (u_j . delta_{k+1,s}) a_{k-1,s} = M^T u_j,   M = sum_s g_{k,s} delta_{k+1,s} a_{k-1,s}^T

(delta_{k+1}: dL/dz_{k+1}; g_k: layer k's isotropic gain; a_{k-1}: layer k's input; the gain's own dependence on
z_j vanishes at z_j = 0). Unit columns u along the top left singular vectors of M give the new neurons the largest
possible gradient. Only the part of M outside the input directions the earlier tasks occupy is demand for new
neurons: M P, with P the projector onto the complement of the subspace holding `energy` of the earlier tasks'
input second moment at layer k (from stored probe inputs). Neurons grown there learn the new task in directions
the old tasks hardly use. Their number is the number of singular values of M P at least `fraction` of M's
largest, capped.
"""

import torch
from torch import Tensor, nn

from isocl.topology.checks import atomic, check_count, check_finite, check_hidden_layer, check_isotropic
from isocl.topology.ops import SCAFFOLD_SCALE, _append_scaffold
from isocl.topology.records import Change


def occupied_basis(activations: Tensor | None, energy: float) -> Tensor | None:
    """Orthonormal rows (r, n) spanning the top eigen-directions that hold `energy` of E[a a^T]; None for none."""
    if activations is None or not len(activations):
        return None
    a = activations.detach().to(torch.float64)
    eigenvalues, eigenvectors = torch.linalg.eigh(a.T @ a / len(a))  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0).clamp_min(0), eigenvectors.flip(1)
    share = eigenvalues.cumsum(0) / eigenvalues.sum().clamp_min(1e-300)
    r = int((share < energy).sum()) + 1
    return eigenvectors[:, :r].T


def unread_gradient(inputs: Tensor, gains: Tensor, deltas_next: Tensor, occupied: Tensor | None):
    """(U, t, top): left singular vectors and values of M P (descending) and M's largest singular value.

    inputs: a_{k-1} (N, n_{k-1}); gains: g_k (N, 1); deltas_next: delta_{k+1} (N, n_{k+1}); occupied: orthonormal
    rows (r, n_{k-1}) of the input subspace earlier tasks use, or None.
    """
    a, g, d = (t.detach().to(torch.float64) for t in (inputs, gains, deltas_next))
    M = (g * d).T @ a  # (n_{k+1}, n_{k-1})
    free = M if occupied is None else M - (M @ occupied.T) @ occupied
    U, t, _ = torch.linalg.svd(free, full_matrices=False)
    top = float(torch.linalg.matrix_norm(M, ord=2)) if M.numel() else 0.0
    return U, t, top


def demand_count(t: Tensor, top: float, fraction: float, cap: int) -> int:
    """How many unread directions carry at least `fraction` of the strongest gradient (at most `cap`)."""
    if top <= 0:
        return 0
    return min(int((t >= fraction * top).sum()), cap)


@atomic
def grow_towards(net: nn.Module, k: int, directions: Tensor, *, scale: float = SCAFFOLD_SCALE) -> Change:
    """Append one neuron to hidden layer k per column of `directions` (n_{k+1}, n): zero incoming row, outgoing
    column along that direction with the norm of a random scaffold's (scale * sqrt(n_{k+1})). Exact."""
    check_isotropic(net, "grow_towards")
    check_hidden_layer(net, k, "grow_towards")
    n = int(directions.shape[1]) if directions.dim() == 2 else -1
    check_count(n, "grow_towards")
    if directions.shape[0] != net.sizes[k + 2]:
        raise ValueError(
            f"grow_towards: directions need {net.sizes[k + 2]} rows (layer {k + 1}), got {directions.shape}"
        )
    check_finite(net, "grow_towards")
    if not n:
        return Change("grow_towards", (), {"layer": k, "added": 0})
    outgoing = directions / directions.norm(dim=0, keepdim=True).clamp_min(1e-12) * scale * net.sizes[k + 2] ** 0.5
    step = _append_scaffold(net, k, n, scale, None, outgoing=outgoing)
    return Change("grow_towards", (step,), {"layer": k, "added": n})
