"""Change records: what a topology operation did to which layer, in the order it did it.

Layers are numbered as in `isocl.nn`: hidden layer k (0 <= k < L) is the output of map k, layer L is the
output layer, and the input layer never changes. Anything that holds state shaped like the parameters
(optimiser moments, EWC importances and anchors, checkpoints) replays the steps of a `Change` to follow it.
"""

from dataclasses import dataclass, field

from torch import Tensor


@dataclass(frozen=True)
class Rotation:
    """Layer `layer` re-expressed in an orthonormal basis: new coordinates = matrix.T @ old coordinates."""

    layer: int
    matrix: Tensor  # (n, n) orthogonal


@dataclass(frozen=True)
class Reindex:
    """Layer `layer` keeps old neurons `kept` (in that order), then gains `appended` new neurons at the end."""

    layer: int
    kept: Tensor  # long indices into the old layer
    appended: int = 0


Step = Rotation | Reindex


@dataclass(frozen=True)
class Change:
    """The record a topology operation returns: its name, its steps and what it measured on the way."""

    op: str
    steps: tuple[Step, ...] = ()
    info: dict = field(default_factory=dict)

    def __add__(self, other: "Change") -> "Change":
        return Change(f"{self.op}+{other.op}", self.steps + other.steps, {**self.info, **other.info})

    @property
    def changes_shapes(self) -> bool:
        return any(isinstance(s, Reindex) for s in self.steps)
