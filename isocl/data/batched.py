"""Batched sample fetching for Avalanche datasets built on tensors.

PyTorch's DataLoader asks a dataset for a whole minibatch through `__getitems__` when the dataset has one;
Avalanche 0.6's datasets do not, so every sample walks alone through four or five layers of subsets,
concatenations and transform groups (about half of the harness's overhead over a bare loop, see
benchmarks/harness.py). `gather` resolves a whole index tensor through the same layers with tensor indexing.

Invariant: `fetch_many(dataset, indices)` returns exactly the samples `[dataset[i] for i in indices]`. Where a
layer is one `gather` cannot see through (a transform in the active group, a leaf that is not a tensor data set,
a constant sequence or a label attribute), it falls back to that per-sample list.
"""

import weakref
from collections import defaultdict
from functools import partial

import torch
from avalanche.benchmarks.utils.classification_dataset import lookup
from avalanche.benchmarks.utils.data import AvalancheDataset, _FlatDataWithTransform
from avalanche.benchmarks.utils.data_attribute import DataAttribute
from avalanche.benchmarks.utils.flat_data import ConstantSequence, FlatData
from avalanche.benchmarks.utils.transforms import TupleTransform
from torch import Tensor
from torch.utils.data import TensorDataset


class OpaqueLayerError(Exception):
    """A layer gather cannot see through: the caller fetches sample by sample."""


# per FlatData node (by id; FlatData is unhashable), its subset indices and cumulative sizes as tensors. An entry
# is used only while the node is alive and still holds the same index and size lists it was made from.
_INDEX_CACHE: dict[int, tuple] = {}


def _index_tensors(node: FlatData) -> tuple[Tensor | None, Tensor]:
    entry = _INDEX_CACHE.get(id(node))
    stale = entry is None or entry[0]() is not node
    if stale or entry[1] is not node._indices or entry[2] is not node._cumulative_sizes:
        indices = None if node._indices is None else torch.as_tensor(list(node._indices), dtype=torch.long)
        tensors = (indices, torch.as_tensor(node._cumulative_sizes, dtype=torch.long))
        entry = (weakref.ref(node), node._indices, node._cumulative_sizes, tensors)
        _INDEX_CACHE[id(node)] = entry
        weakref.finalize(node, _INDEX_CACHE.pop, id(node), None)
    return entry[3]


def _group_transform(groups, group: str):
    """The transform a TransformGroups applies in `group` (Avalanche's default groups are defaultdicts)."""
    table = groups.transform_groups
    if group in table:
        return table[group]
    return table.default_factory() if isinstance(table, defaultdict) else None


def _apply_field_transform(transform, field: Tensor) -> Tensor:
    if transform is None:
        return field
    if isinstance(transform, partial) and transform.func is lookup and len(transform.args) == 1:
        return torch.as_tensor(transform.args[0], dtype=torch.long)[field]  # Avalanche's class-id remapping
    raise OpaqueLayerError(f"transform {transform!r}")


def _apply_transforms(node: _FlatDataWithTransform, fields: list[Tensor], group: str) -> list[Tensor]:
    """The node's frozen, then current, transforms of `group`, as its per-sample path applies them."""
    for groups in (node._frozen_transform_groups, node._transform_groups):
        transform = None if groups is None else _group_transform(groups, group)
        if transform is None:
            continue
        if not isinstance(transform, TupleTransform) or len(transform.transforms) > len(fields):
            raise OpaqueLayerError(f"transform {transform!r}")
        fields = [_apply_field_transform(t, f) for t, f in zip(transform.transforms, fields, strict=False)] + fields[
            len(transform.transforms) :
        ]
    return fields


def _gather_flat(node: FlatData, idx: Tensor, group: str) -> list[Tensor]:
    """Concatenation and subset: route each index to its child and put the children's rows back in order."""
    indices, cumulative = _index_tensors(node)
    if indices is not None:
        idx = indices[idx]
    if len(node._datasets) == 1:
        fields = gather(node._datasets[0], idx, group)
        return _apply_transforms(node, fields, group) if isinstance(node, _FlatDataWithTransform) else fields
    child = torch.searchsorted(cumulative, idx, right=True)
    starts = torch.cat([cumulative.new_zeros(1), cumulative[:-1]])
    fields: list[Tensor] | None = None
    for d in child.unique().tolist():
        rows = (child == d).nonzero().squeeze(1)
        part = gather(node._datasets[d], idx[rows] - starts[d], group)
        if fields is None:
            fields = [p.new_empty((len(idx), *p.shape[1:])) for p in part]
        for field, values in zip(fields, part, strict=True):
            field[rows] = values
    return _apply_transforms(node, fields, group) if isinstance(node, _FlatDataWithTransform) else fields


def gather(node, idx: Tensor, group: str = "train") -> list[Tensor]:
    """The fields of the samples at `idx` (one tensor per field, first axis the batch); raises OpaqueLayerError
    where the node has a layer this cannot see through."""
    if isinstance(node, AvalancheDataset):
        fields = gather(node._flat_data, idx, group)
        extra = [gather(a, idx, group)[0] for a in node._data_attributes.values() if a.use_in_getitem]
        return fields + extra
    if isinstance(node, DataAttribute):
        return gather(node.data, idx, group)
    if isinstance(node, FlatData):
        return _gather_flat(node, idx, group)
    if isinstance(node, TensorDataset):
        return [t[idx] for t in node.tensors]
    if isinstance(node, ConstantSequence) and isinstance(node._constant_value, int):
        return [torch.full((len(idx),), node._constant_value, dtype=torch.long)]
    raise OpaqueLayerError(type(node).__name__)


def fetch_many(dataset: AvalancheDataset, indices) -> list:
    """DataLoader's batch fetch: the samples at `indices`, as the per-sample path would return them."""
    group = dataset._flat_data._transform_groups.current_group
    try:
        fields = gather(dataset, torch.as_tensor(indices, dtype=torch.long), group)
    except OpaqueLayerError:
        return [dataset[i] for i in indices]
    return [list(sample) for sample in zip(*fields, strict=True)]


def install() -> None:
    """Give Avalanche's datasets the batched fetch (idempotent)."""
    AvalancheDataset.__getitems__ = fetch_many
