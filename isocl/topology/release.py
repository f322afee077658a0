"""Giving back the capacity of a withdrawn task: isolate the directions only it used, then let them decay.

A hidden layer has no preferred basis, so "the neurons that served only task t" is a question about directions:
which directions of layer k's activation a_k did task t's inputs excite that the retained tasks' inputs hardly
do? With C_t = E_t[a a^T] over probe inputs of the removed task and C_r over the retained tasks' probes, the
eigenvectors of D = C_t - ratio * C_r with positive eigenvalues are exactly the directions along which the
removed task's activation energy exceeds `ratio` times the retained tasks'. Rotating layer k into D's eigenbasis
(an exact symmetry) makes each such direction one neuron; multiplying those neurons' incoming rows, biases and psi
entries by `decay` (< 1; 1 leaves the rotations alone, exact) is the one change of function, small on retained
inputs because they barely excite those neurons. Their singular values then sit far below the scaffold threshold,
and the next `neuroadapt` prunes them like any surplus scaffold (isocl/cl/neuro.py calls it at once).

"Exactly" holds for the probes: the directions are those of a few hundred sampled inputs per task, so a retained
task's unsampled inputs may still use a released direction a little; `ratio` sets how clear-cut the split must be.
"""

import torch
from torch import Tensor, nn

from isocl.topology.checks import atomic, check_finite, check_isotropic
from isocl.topology.layout import apply_step
from isocl.topology.ops import _drop_trailing
from isocl.topology.records import Change, Rotation

RELATIVE_TOLERANCE = 1e-9  # eigenvalues of D below this fraction of trace(C_t) count as zero


def hidden_activations(net: nn.Module, x: Tensor) -> list[Tensor]:
    """a_k for every hidden layer k (float64), from one forward pass in eval mode."""
    trace = []
    was_training = net.training
    net.eval()
    with torch.no_grad():
        net(x, trace=trace)
    net.train(was_training)
    return [t.inputs.to(torch.float64) for t in trace[1:]]


def _second_moment(a: Tensor) -> Tensor:
    return a.T @ a / max(len(a), 1)


def task_directions(removed: Tensor, retained: Tensor | None, ratio: float) -> tuple[Tensor, int]:
    """An orthogonal R (n x n, float64) whose last `m` columns span the directions where the removed task's
    activation energy exceeds ratio times the retained tasks'; and m."""
    c_removed = _second_moment(removed)
    d = c_removed if retained is None else c_removed - ratio * _second_moment(retained)
    values, vectors = torch.linalg.eigh(d)  # ascending: the removed task's own directions come last
    m = int((values > RELATIVE_TOLERANCE * c_removed.trace().clamp_min(1e-300)).sum())
    return vectors, m


def decay_last_neurons(net: nn.Module, k: int, m: int, decay: float) -> None:
    """Multiply the incoming rows, biases and psi entries of the last m neurons of hidden layer k by `decay`."""
    layer = net.maps[k]
    with torch.no_grad():
        for tensor in (layer.weight, layer.bias, layer.psi):
            if tensor is not None and m:
                tensor[-m:] *= decay


@atomic
def release(net: nn.Module, removed_x: Tensor, retained_x: Tensor | None, *, ratio: float = 4.0, decay: float = 0.1):
    """Rotate every hidden layer so the removed task's own directions are its last neurons, and decay them.

    removed_x / retained_x: probe inputs of the removed task and of the retained ones (None: no task is left,
    every direction the removed task excites is released). Returns the rotations as a Change (for optimiser and
    regulariser state), with the number of released directions per layer in its info.
    """
    check_isotropic(net, "release")
    check_finite(net, "release")
    if not 0 <= decay <= 1 or ratio < 0:
        raise ValueError(f"release: need 0 <= decay <= 1 and ratio >= 0, got decay={decay!r}, ratio={ratio!r}")
    removed = hidden_activations(net, removed_x)
    retained = hidden_activations(net, retained_x) if retained_x is not None and len(retained_x) else None
    steps, released = (), {}
    for k, a_removed in enumerate(removed):
        R, m = task_directions(a_removed, None if retained is None else retained[k], ratio)
        rotation = Rotation(k, R)
        apply_step(net, rotation)
        decay_last_neurons(net, k, m, decay)
        steps += (rotation,)
        released[k] = m
    return Change("release", steps, {"released": released, "decay": decay, "ratio": ratio})


@atomic
def drop_released(net: nn.Module, released: dict[int, int]) -> Change:
    """Remove the last released[k] neurons of every hidden layer k (the ones `release` decayed), absorbing their
    biases as pruning does; at least one neuron stays. Exact when decay was 0; otherwise the error is first-order
    in the decayed rows. For rules whose threshold would not catch the decayed neurons (demand's is relative)."""
    check_isotropic(net, "drop_released")
    steps = ()
    for k, m in sorted(released.items(), reverse=True):  # deepest first, like neuroadapt
        m = min(m, net.sizes[k + 1] - 1)
        if m > 0:
            steps += (_drop_trailing(net, k, m),)
    return Change("drop_released", steps, {"removed": dict(released)})
