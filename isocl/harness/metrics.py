"""Forgetting metrics, computed from the accuracy matrix alone.

A[r][j] is the test accuracy on experience j after step r (in [0, 1]); row r is complete. By default step r
trains experience r. With `events` (("train" | "remove", experience) per row), the metrics count only the
*retained* experiences at the end: trained and not removed. A removed experience stays in the matrix (its
accuracy is still measured) but in no metric. One row may train several experiences at once (joint training:
("train", [0, 1, ...])).
"""

import numpy as np


def _default_events(matrix) -> list:
    """Row r trains experience r; a single row covering several experiences trained them all (joint)."""
    rows, columns = len(matrix), len(matrix[0])
    if rows == 1 and columns > 1:
        return [("train", list(range(columns)))]
    return [("train", r) for r in range(rows)]


def _experiences(exp) -> list[int]:
    return list(exp) if isinstance(exp, list | tuple) else [exp]


def _trained_at(events) -> dict[int, int]:
    """The row at which each experience was trained."""
    return {j: r for r, (kind, exp) in enumerate(events) if kind == "train" for j in _experiences(exp)}


def retained(events, upto: int | None = None) -> list[int]:
    """Experiences trained and not removed after row `upto` (default: the last), in training order."""
    kept: list[int] = []
    for kind, exp in events[: None if upto is None else upto + 1]:
        gone = set(_experiences(exp))
        kept = [*kept, *_experiences(exp)] if kind == "train" else [e for e in kept if e not in gone]
    return kept


def average_accuracy(matrix, events=None) -> float:
    """Mean of the last row over the retained experiences: accuracy at the end."""
    events = events or _default_events(matrix)
    A = np.asarray(matrix, dtype=float)
    return float(np.mean(A[-1, retained(events)]))


def _earlier_retained(events) -> list[int]:
    """The retained experiences trained before the last training row: those that had a chance to be forgotten."""
    kept, trained_at = retained(events), _trained_at(events)
    last = max(trained_at[j] for j in kept)
    return [j for j in kept if trained_at[j] < last]


def forgetting(matrix, events=None) -> float | None:
    """Chaudhry et al. 2018: f_j = max_{t_j <= l < R-1} A[l][j] - A[R-1][j], averaged over the retained
    experiences but the last trained one (t_j: the row that trained j): the best accuracy experience j had
    before the end, minus its final accuracy. None when no experience qualifies."""
    events = events or _default_events(matrix)
    A = np.asarray(matrix, dtype=float)
    R, trained_at = A.shape[0], _trained_at(events)
    drops = [A[trained_at[j] : R - 1, j].max() - A[R - 1, j] for j in _earlier_retained(events)]
    return float(np.mean(drops)) if drops else None


def bwt(matrix, events=None) -> float | None:
    """Lopez-Paz and Ranzato 2017: mean over the retained experiences but the last trained one of final minus
    just-trained accuracy. None when no experience qualifies."""
    events = events or _default_events(matrix)
    A = np.asarray(matrix, dtype=float)
    trained_at = _trained_at(events)
    changes = [A[-1, j] - A[trained_at[j], j] for j in _earlier_retained(events)]
    return float(np.mean(changes)) if changes else None


def accuracy_after_each(matrix, events=None) -> list[float]:
    """Average accuracy over the experiences retained so far, after each step (the usual CL curve)."""
    events = events or _default_events(matrix)
    A = np.asarray(matrix, dtype=float)
    return [float(A[r, retained(events, r)].mean()) for r in range(A.shape[0])]


def mean_over(row: list[float], experiences: list[int]) -> float | None:
    return sum(row[j] for j in experiences) / len(experiences) if experiences else None


def removal_accuracies(matrix, events, step: int, experience: int) -> dict:
    """For the removal at row `step`: mean accuracy on the experiences retained at that moment just before, just
    after and at the end (those of them still retained), and the removed experience's accuracy just before."""
    kept = retained(events, step)
    still = [j for j in kept if j in retained(events)]
    return {
        "retained": kept,
        "retained_accuracy_before": mean_over(matrix[step - 1], kept),
        "retained_accuracy_after": mean_over(matrix[step], kept),
        "retained_accuracy_end": mean_over(matrix[-1], still),
        "removed_accuracy_before": matrix[step - 1][experience],
    }


def summarise(matrix, events=None) -> dict:
    return {
        "average_accuracy": average_accuracy(matrix, events),
        "forgetting": forgetting(matrix, events),
        "bwt": bwt(matrix, events),
        "accuracy_seen": accuracy_after_each(matrix, events),
    }
