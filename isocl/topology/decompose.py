"""Decompositions of one weight matrix, always computed in float64 whatever the network's dtype."""

import torch
from torch import Tensor


def left_basis(W: Tensor) -> tuple[Tensor, Tensor]:
    """An orthogonal U (n, n) that left-diagonalises W (n, m), and the singular values s (n,), descending.

    The rows of U^T W are mutually orthogonal with norms s, so rotating the layer by U is the partial
    diagonalisation of paper notes §2.3. Any U that diagonalises W W^T does this, and an eigendecomposition
    of the n x n Gram matrix is several times cheaper than an SVD of a wide W (0.25 s vs 0.9 s for
    1000 x 3072 here). For n > m the trailing n - m values are 0: those rows of U^T W vanish to rounding.
    """
    W64 = W.detach().to(torch.float64)
    eigenvalues, eigenvectors = torch.linalg.eigh(W64 @ W64.T)  # ascending
    return eigenvectors.flip(-1), eigenvalues.flip(-1).clamp_min(0).sqrt()


def full_svd(W: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """U (n, n), s (min(n, m),) descending and V (m, m) with U^T W V = diag(s) (rectangular)."""
    U, s, Vh = torch.linalg.svd(W.detach().to(torch.float64), full_matrices=True)
    return U, s, Vh.T


def singular_values_of(W: Tensor) -> Tensor:
    """All n singular values of W (n, m), descending, counting the n - m rows beyond its rank as 0."""
    s = torch.linalg.svdvals(W.detach().to(torch.float64))
    return torch.cat([s, s.new_zeros(W.shape[0] - s.shape[0])])
