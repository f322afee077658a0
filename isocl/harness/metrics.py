"""Forgetting metrics, computed from the accuracy matrix alone.

A[i][j] is the test accuracy on experience j after training experience i (in [0, 1]); row i is complete.
"""

import numpy as np


def average_accuracy(matrix) -> float:
    """Mean of the last row: accuracy over all experiences at the end."""
    return float(np.mean(np.asarray(matrix, dtype=float)[-1]))


def forgetting(matrix) -> float | None:
    """Chaudhry et al. 2018: f_j = max_{l < T-1} A[l][j] - A[T-1][j], averaged over j < T-1: the best accuracy
    experience j ever had before the end, minus its final accuracy. None with a single row."""
    A = np.asarray(matrix, dtype=float)
    T = A.shape[0]
    if T < 2:
        return None
    drops = [A[: T - 1, j].max() - A[T - 1, j] for j in range(T - 1)]
    return float(np.mean(drops))


def bwt(matrix) -> float | None:
    """Lopez-Paz and Ranzato 2017: mean over all but the last experience of final minus just-trained accuracy."""
    A = np.asarray(matrix, dtype=float)
    T = A.shape[0]
    if T < 2:
        return None
    return float(np.mean([A[T - 1, j] - A[j, j] for j in range(T - 1)]))


def accuracy_after_each(matrix) -> list[float]:
    """Average accuracy over the experiences trained so far, after each step (the usual CL curve)."""
    A = np.asarray(matrix, dtype=float)
    return [float(A[i, : i + 1].mean()) for i in range(A.shape[0])]


def summarise(matrix) -> dict:
    return {
        "average_accuracy": average_accuracy(matrix),
        "forgetting": forgetting(matrix),
        "bwt": bwt(matrix),
        "accuracy_seen": accuracy_after_each(matrix),
    }
