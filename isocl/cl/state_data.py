"""Plain-data codecs for what strategies keep (isocl/cl/state.py dispatches over the holders that use them).

A tree of tensors and JSON's types (dicts with str keys, lists, str, int, float, bool, None) is all a checkpoint
holds. A memory is a subset of the stream's training set: it is stored as indices into `references["train"]` with
each sample's task label (and DER's logits), and rebuilt as Avalanche datasets over that set, sample for sample
in the same order. Avalanche's ParamData (EWC, SI) is stored as its name, shape, device and tensor.
"""

import torch
from avalanche.benchmarks.utils import _taskaware_classification_subset, concat_datasets, make_avalanche_dataset
from avalanche.benchmarks.utils.data import AvalancheDataset
from avalanche.benchmarks.utils.data_attribute import TensorDataAttribute
from avalanche.benchmarks.utils.flat_data import FlatData
from avalanche.models import MultiTaskModule
from avalanche.training.storage_policy import ClassBalancedBuffer, ExperienceBalancedBuffer, ReservoirSamplingBuffer
from avalanche.training.supervised.der import ClassBalancedBufferWithLogits
from avalanche.training.utils import ParamData
from torch import Tensor


class StateError(ValueError):
    """Stored state that does not fit the strategy it is imported into."""


class UnsupportedHolderError(TypeError):
    """State that no adapter turns into plain data."""


def type_name(holder) -> str:
    return type(holder).__qualname__


def check_tree(tree, where: str = "state") -> None:
    """Raise unless `tree` holds only tensors and JSON's types."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if not isinstance(key, str):
                raise UnsupportedHolderError(f"{where}: key {key!r} is not a str")
            check_tree(value, f"{where}.{key}")
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            check_tree(value, f"{where}[{i}]")
    elif not (tree is None or isinstance(tree, Tensor | str | int | float)):
        raise UnsupportedHolderError(f"{where} is a {type(tree).__name__}: a checkpoint holds tensors and JSON types")


def pairs(mapping: dict, export=lambda value: value) -> list:
    """An int-keyed dict as [key, value] pairs, in its order."""
    return [[int(key), export(value)] for key, value in mapping.items()]


def export_module(model) -> dict:
    """What a model keeps outside its state dict: Avalanche's known tasks, the backbone's last mean gains."""
    state = {}
    if isinstance(model, MultiTaskModule):
        state["known_tasks"] = [int(t) for t in model.known_train_tasks_labels]
        state["max_class_label"] = int(model.max_class_label)
    gains = getattr(getattr(model, "backbone", None), "mean_gains", None)
    if gains is not None:
        state["mean_gains"] = list(gains)
    return state


def import_module(model, state: dict) -> None:
    if "known_tasks" in state:
        model.known_train_tasks_labels = set(state["known_tasks"])
        model.max_class_label = int(state["max_class_label"])
    if "mean_gains" in state:
        model.backbone.mean_gains = list(state["mean_gains"])


def _root_indices(node, idx: Tensor, train) -> Tensor:
    """Positions `idx` of an Avalanche dataset, as indices into the training set it was drawn from."""
    if node is train:
        return idx
    if isinstance(node, AvalancheDataset):
        return _root_indices(node._flat_data, idx, train)
    if not isinstance(node, FlatData):
        raise UnsupportedHolderError(f"a memory holds samples of a {type(node).__name__}, not of the training set")
    if node._indices is not None:
        idx = torch.as_tensor(list(node._indices), dtype=torch.long)[idx]
    cumulative = torch.as_tensor(node._cumulative_sizes, dtype=torch.long)
    child = torch.searchsorted(cumulative, idx, right=True)
    out = torch.empty_like(idx)
    for d in child.unique().tolist():
        rows = child == d
        out[rows] = _root_indices(node._datasets[d], idx[rows] - (int(cumulative[d - 1]) if d else 0), train)
    return out


def export_dataset(dataset, references: dict) -> dict:
    train = references["train"]
    indices = _root_indices(dataset, torch.arange(len(dataset)), train)
    for i in range(0, len(dataset), max(1, len(dataset) // 16)):  # labels pass unchanged (no class mapping)
        if int(dataset.targets[i]) != int(train[int(indices[i])][1]):
            raise UnsupportedHolderError("a memory's labels differ from the training set's: cannot store indices")
    tasks = torch.tensor([int(t) for t in dataset.targets_task_labels], dtype=torch.long)
    return {"indices": indices, "task_labels": tasks}


def _stream_dataset(train) -> AvalancheDataset:
    """The training set as the stream's benchmark wraps it (nc_benchmark: an identity class mapping, which also
    makes labels come out as ints), so that rebuilt samples are the originals, types included."""
    labels = torch.as_tensor(train.targets if hasattr(train, "targets") else train.tensors[1])
    mapping = list(range(int(labels.max()) + 1)) if len(labels) else []
    return _taskaware_classification_subset(train, class_mapping=mapping, initial_transform_group="train")


def import_dataset(state: dict, references: dict) -> AvalancheDataset:
    """The samples at the stored indices with their task labels, in order (one subset per run of equal labels)."""
    train = references["train"]
    indices, tasks = state["indices"].tolist(), state["task_labels"].tolist()
    if len(indices) != len(tasks) or any(not 0 <= i < len(train) for i in indices):
        raise StateError("a stored memory's indices do not fit the training set")
    root, parts, start = _stream_dataset(train), [], 0
    for end in range(1, len(indices) + 1):
        if end == len(indices) or tasks[end] != tasks[start]:
            parts.append(_taskaware_classification_subset(root, indices=indices[start:end], task_labels=tasks[start]))
            start = end
    if not parts:
        return _taskaware_classification_subset(root, indices=[], task_labels=0)
    return parts[0] if len(parts) == 1 else concat_datasets(parts)


def _export_reservoir(buffer: ReservoirSamplingBuffer, references: dict, logits: bool) -> dict:
    state = {"max_size": int(buffer.max_size), "weights": buffer._buffer_weights}
    state["data"] = export_dataset(buffer.buffer, references)
    if logits:  # DER++: the stored logits, one tensor per sample
        state["logits"] = list(buffer.buffer._data_attributes["logits"].data)
    return state


def _import_reservoir(state: dict, references: dict, logits: bool) -> ReservoirSamplingBuffer:
    buffer = ReservoirSamplingBuffer(int(state["max_size"]))
    data = import_dataset(state["data"], references)
    if logits:
        rows = FlatData([list(state["logits"])], discard_elements_not_in_indices=True)
        attribute = TensorDataAttribute(rows, name="logits", use_in_getitem=True)
        data = make_avalanche_dataset(data, data_attributes=[attribute])
    if len(state["weights"]) != len(data) or (logits and len(state["logits"]) != len(data)):
        raise StateError("a stored memory's weights or logits do not match its samples")
    buffer.buffer, buffer._buffer_weights = data, state["weights"]
    return buffer


BALANCED = (ExperienceBalancedBuffer, ClassBalancedBuffer, ClassBalancedBufferWithLogits)


def export_buffer(policy, references: dict) -> dict:
    """A balanced replay memory (by experience or by class): its groups, each a reservoir of samples."""
    if not isinstance(policy, BALANCED):
        raise UnsupportedHolderError(f"cannot checkpoint a {type_name(policy)} memory: add it to isocl/cl/state.py")
    logits = isinstance(policy, ClassBalancedBufferWithLogits)
    groups = pairs(policy.buffer_groups, lambda g: _export_reservoir(g, references, logits))
    state = {"max_size": int(policy.max_size), "groups": groups}
    if isinstance(policy, ExperienceBalancedBuffer):
        state["num_exps"] = int(policy._num_exps)
    else:
        state["seen_classes"] = [int(c) for c in policy.seen_classes]
    return state


def import_buffer(policy, state: dict, references: dict) -> None:
    logits = isinstance(policy, ClassBalancedBufferWithLogits)
    policy.max_size = int(state["max_size"])
    policy.buffer_groups = {int(k): _import_reservoir(g, references, logits) for k, g in state["groups"]}
    if isinstance(policy, ExperienceBalancedBuffer):
        policy._num_exps = int(state["num_exps"])
    else:
        policy.seen_classes = set()
        for c in state["seen_classes"]:  # in the stored order
            policy.seen_classes.add(int(c))


def export_params(store: dict) -> dict:
    """Avalanche's ParamData (EWC, SI) by parameter name."""
    if not all(isinstance(p, ParamData) for p in store.values()):
        raise UnsupportedHolderError("an importance store holds something other than Avalanche ParamData")
    return {name: {"name": p.name, "shape": list(p.shape), "device": str(p.device), "data": p.data}
            for name, p in store.items()}  # fmt: skip


def import_params(state: dict) -> dict:
    store = {}
    for key, s in state.items():
        store[key] = ParamData(s["name"], init_tensor=s["data"], device=s["device"])
        store[key].shape = torch.Size(s["shape"])
    return store
