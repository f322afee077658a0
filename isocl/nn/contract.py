"""The backbone contract: what topology, cl and the harness may assume of a network, declared once.

Layers are numbered as everywhere in isocl: maps k = 0..L, hidden layers k = 0..L-1 (hidden layer k is the output
of map k) and layer L the outputs; the input layer never changes. A backbone is anything that meets `Backbone`;
the topology operations that rotate hidden layers also need `IsotropicBackbone`.
"""

from collections.abc import Iterator
from typing import NamedTuple, Protocol, runtime_checkable

from torch import Tensor, nn

Axes = dict[int, int]  # tensor axis -> layer index


class MapTrace(NamedTuple):
    """What map k saw in a forward pass: per-sample dL/dW_k = delta_k inputs^T, dL/db_k = delta_k and
    dL/dpsi_k = gain delta_k, where delta_k = dL/dpreactivation."""

    inputs: Tensor  # (B, n_{k-1}): the flattened input for k = 0, hidden layer k-1's activation otherwise
    preactivation: Tensor  # (B, n_k)
    gain: Tensor | None  # (B, 1) for maps with psi terms


@runtime_checkable
class Backbone(Protocol):
    """A network whose hidden layers topology may reshape and whose state cl and the harness may follow.

    sizes: widths [n_in, n_0, ..., n_{L-1}, n_out], current (they change under topology operations); n_in is the
        product of `input_shape`. Read by the harness (widths records), cl (heads) and topology (range checks).
    input_shape: the shape of one sample, e.g. (3, 32, 32) or (64,); forward also accepts it flattened.
    n_hidden: L, the number of hidden layers; topology's layer indices run over 0..n_hidden-1.
    isotropic: True when every orthogonal change of basis of every hidden layer is an exact symmetry of the
        function. Only then may topology rotate, grow, prune or release hidden layers (output changes need not).
    parameter_axes(): (name, parameter, {tensor_axis: layer_index}) for every parameter whose shape depends on a
        width, names as in named_parameters(). The one place that says which axis follows which layer: topology
        moves parameters, optimiser moments and regulariser state along these axes.
    forward(x, trace=None): logits (B, n_out) for x of shape (B, *input_shape); with a list `trace`, also appends
        one `MapTrace` per map, in map order (iso-ewc's per-sample gradients, release's hidden activations).
    spec(): the constructor arguments, "type" included, that rebuild a backbone of the current shape
        (`build_backbone(spec)`, then load_state_dict): what a checkpoint stores.
    penalty(): a scalar regulariser to add to the training loss (zero when the backbone has none).
    fuse(backend): run trace-less forwards through torch.compile(backend), or eagerly again with None; the
        function is the same (the harness's `--compile`).
    """

    sizes: list[int]
    input_shape: tuple[int, ...]
    n_hidden: int
    isotropic: bool

    def parameter_axes(self) -> Iterator[tuple[str, nn.Parameter, Axes]]: ...

    def forward(self, x: Tensor, trace: list[MapTrace] | None = None) -> Tensor: ...

    def spec(self) -> dict: ...

    def penalty(self) -> Tensor: ...

    def fuse(self, backend: str | None) -> None: ...


@runtime_checkable
class IsotropicBackbone(Backbone, Protocol):
    """What the exact surgery of isocl.topology (diagonalise, prune, neuroadapt, release) reads beyond `Backbone`.

    maps: map k has `weight` (n_k, n_{k-1}), `bias` (n_k,) and `psi` (n_k,) or None; hidden layer k is
        diagonalised through maps[k].weight, and pruning moves a dropped neuron's bias into maps[k+1].psi.
    intrinsic_length(k) / set_intrinsic_length(k, value): o_k of hidden layer k, which absorbs |dropped bias|^2.
    psi_mode, mean_gains: with psi_mode "expectation", pruning folds the correction into the next bias using
        mean_gains[k], the last training batch's E[g_k].
    """

    maps: nn.ModuleList
    psi_mode: str
    mean_gains: list[Tensor | None]

    def intrinsic_length(self, k: int) -> Tensor | float: ...

    def set_intrinsic_length(self, k: int, value: float | Tensor) -> None: ...
