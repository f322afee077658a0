"""Forgetting metrics, computed from the accuracy matrix alone.

A[r][j] is the test accuracy on experience j after step r (in [0, 1]); row r is complete. By default step r
trains experience r. With `events` (("train" | "remove", experience) per row), the metrics count only the
*retained* experiences at the end: trained and not removed. A removed experience stays in the matrix (its
accuracy is still measured) but in no metric. One row may train several experiences at once (joint training:
("train", [0, 1, ...])).

Forgetting and BWT with removals (Chaudhry et al. 2018 and Lopez-Paz and Ranzato 2017, generalised). The end is
the last row R-1, whatever its event: a removal changes the model (output units go, an isotropic network releases
neurons), so the row after it is the final state. An experience j trained at row t_j "had a chance to be forgotten"
when a later row changed the model, train or remove: t_j < R-1. The qualifying experiences are therefore the
retained ones trained before the last row, and

    f_j = max_{t_j <= l <= R-2} A[l][j] - A[R-1][j],        b_j = A[R-1][j] - A[t_j][j].

Without removals the last row trains the last experience, and this is the usual "all but the last experience".
With them, an experience trained last and followed by a removal counts (train 0, 1, 2, remove 2: experiences 0 and
1 qualify, not only 0), and so does one whose only later event is a removal (train 0, train 1, remove 1: experience
0). Unlike Chaudhry et al., the max starts at the training row, not row 0: accuracy before training is not
knowledge that could be forgotten.
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
    """The retained experiences trained before the last row (t_j < R-1): a later row, train or remove, changed the
    model after them, so they had a chance to be forgotten."""
    last, trained_at = len(events) - 1, _trained_at(events)
    return [j for j in retained(events) if trained_at[j] < last]


def forgetting(matrix, events=None) -> float | None:
    """Chaudhry et al. 2018: f_j = max_{t_j <= l <= R-2} A[l][j] - A[R-1][j] (t_j: the row that trained j, R-1: the
    last row, whether it trains or removes), averaged over the retained experiences trained before the last row: the
    best accuracy experience j had before the end, minus its final accuracy. None when no experience qualifies."""
    events = events or _default_events(matrix)
    A = np.asarray(matrix, dtype=float)
    R, trained_at = A.shape[0], _trained_at(events)
    drops = [A[trained_at[j] : R - 1, j].max() - A[R - 1, j] for j in _earlier_retained(events)]
    return float(np.mean(drops)) if drops else None


def bwt(matrix, events=None) -> float | None:
    """Lopez-Paz and Ranzato 2017: b_j = A[R-1][j] - A[t_j][j] (final minus just-trained accuracy), averaged over
    the retained experiences trained before the last row (as in `forgetting`). None when no experience qualifies."""
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
