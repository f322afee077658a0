"""A strategy's state between experiences as plain data, for checkpoints: no pickle of objects.

`export_state(holder, references) -> dict` and `import_state(holder, state, references)` dispatch on the holder's
type: the strategy object itself (the attributes its builder declares with `register_strategy(state=...)`), then
each of its plugins except isocl's bookkeeping ones and Avalanche's EvaluationPlugin. The state is a tree of
tensors and JSON's types (isocl/cl/state_data.py: the codecs for memories and importances). A plugin of one's own
either gets an adapter here or defines `state_dict()` / `load_state_dict(state)` over such a tree; a holder with
attributes and neither is refused when the checkpoint is written, and one that keeps nothing between experiences
is registered with `stateless(cls)`. `references` holds the run's model, optimiser and stream data sets ("train").

Avalanche keys per-experience state by training slot (`clock.train_exp_counter`); those dicts are stored as
[key, value] pairs in their order. What a plugin rebuilds from the scenario (the topology policy, AGEM's data
loader) or recomputes every step (GEM's and AGEM's reference gradients) is not stored.
"""

import copy
from collections import defaultdict
from functools import singledispatch

from avalanche.benchmarks.utils.data_loader import GroupBalancedInfiniteDataLoader
from avalanche.training import DER, Cumulative
from avalanche.training.plugins import AGEMPlugin, EvaluationPlugin, EWCPlugin, GEMPlugin, LwFPlugin, ReplayPlugin
from avalanche.training.plugins import SynapticIntelligencePlugin as SIPlugin
from avalanche.training.plugins.clock import Clock
from avalanche.training.templates import BaseTemplate
from avalanche.training.templates.base_sgd import PeriodicEval

from isocl.cl.ewc import FactoredEWC, FisherFactors
from isocl.cl.head import IncrementalHead
from isocl.cl.policy import TopologyPlugin
from isocl.cl.state_data import (
    StateError,
    UnsupportedHolderError,
    check_tree,
    export_buffer,
    export_dataset,
    export_module,
    export_params,
    import_buffer,
    import_dataset,
    import_module,
    import_params,
    pairs,
    type_name,
)
from isocl.nn import build_backbone

__all__ = ["StateError", "UnsupportedHolderError", "export_state", "export_strategy", "import_state"]
__all__ += ["import_strategy", "stateless"]


def _has_protocol(holder) -> bool:
    return callable(getattr(holder, "state_dict", None)) and callable(getattr(holder, "load_state_dict", None))


@singledispatch
def export_state(holder, references: dict) -> dict:
    """What `holder` keeps between experiences. Default: its own state_dict(); nothing if it has no attributes."""
    if _has_protocol(holder):
        return holder.state_dict()
    if getattr(holder, "__dict__", None):
        raise UnsupportedHolderError(
            f"cannot checkpoint a {type_name(holder)} (attributes: {', '.join(sorted(vars(holder)))}): add an "
            "adapter for it in isocl/cl/state.py (export_state/import_state, or stateless(cls) if it keeps nothing "
            "between experiences), or give it state_dict() and load_state_dict(state) over tensors, lists, "
            "str-keyed dicts, str, int, float, bool and None"
        )
    return {}


@singledispatch
def import_state(holder, state: dict, references: dict) -> None:
    """Put `state` back into a freshly built `holder`."""
    if _has_protocol(holder):
        holder.load_state_dict(state)
    elif state:
        raise StateError(f"it holds state for a {type_name(holder)}, which keeps none")


def stateless(cls):
    """Register `cls` as keeping nothing between experiences."""
    export_state.register(cls)(lambda holder, references: {})
    import_state.register(cls)(import_state.dispatch(object))
    return cls


stateless(BaseTemplate)  # a strategy's own state is what the adapters of its subclasses below export
stateless(PeriodicEval)


def _stateful(strategy, skip: set[str]) -> list:
    return [p for p in strategy.plugins if not isinstance(p, EvaluationPlugin) and type_name(p) not in skip]


def export_strategy(strategy, references: dict, *, skip: tuple = (), declared: tuple = ()) -> dict:
    """The state of the strategy, of its plugins (not those of the types in `skip`) and its model's extras."""
    own = export_state(strategy, references)
    missing = [name for name in declared if name not in own]
    if missing:
        raise UnsupportedHolderError(
            f"{type_name(strategy)} declares state {missing} (register_strategy(state=...)) that no adapter in "
            "isocl/cl/state.py exports: add one there"
        )
    skipped = sorted({p.__qualname__ for p in skip})
    plugins = [{"type": type_name(p), "state": export_state(p, references)} for p in _stateful(strategy, set(skipped))]
    tree = {"type": type_name(strategy), "state": own, "skip": skipped, "plugins": plugins}
    tree["model"] = export_module(strategy.model)
    check_tree(tree, "strategy")
    return tree


def import_strategy(strategy, tree: dict, references: dict) -> None:
    """Put an exported state back into a strategy freshly built with the same plugins."""
    plugins = _stateful(strategy, set(tree["skip"]))
    stored, built = [entry["type"] for entry in tree["plugins"]], [type_name(p) for p in plugins]
    if tree["type"] != type_name(strategy) or stored != built:
        raise StateError(f"it holds a {tree['type']} with plugins {stored}; this run, a {type_name(strategy)} {built}")
    import_state(strategy, tree["state"], references)
    for plugin, entry in zip(plugins, tree["plugins"], strict=True):
        import_state(plugin, entry["state"], references)
    import_module(strategy.model, tree["model"])


CLOCK = ("train_iterations", "train_exp_counter", "train_exp_epochs", "train_exp_iterations")
CLOCK += ("train_epoch_iterations", "total_iterations")


@export_state.register
def _(holder: Clock, references):  # the strategy holds it as `strategy.clock` too: restored in place
    return {name: int(getattr(holder, name)) for name in CLOCK}


@import_state.register
def _(holder: Clock, state, references):
    for name in CLOCK:
        setattr(holder, name, int(state[name]))


@export_state.register
def _(holder: ReplayPlugin | DER, references):  # both keep their memory in a storage policy
    return {"storage_policy": export_buffer(holder.storage_policy, references)}


@import_state.register
def _(holder: ReplayPlugin | DER, state, references):
    import_buffer(holder.storage_policy, state["storage_policy"], references)


@export_state.register
def _(holder: Cumulative, references):
    return {"dataset": None if holder.dataset is None else export_dataset(holder.dataset, references)}


@import_state.register
def _(holder: Cumulative, state, references):
    holder.dataset = None if state["dataset"] is None else import_dataset(state["dataset"], references)


@export_state.register
def _(holder: AGEMPlugin, references):
    return {"buffers": [export_dataset(b, references) for b in holder.buffers]}


@import_state.register
def _(holder: AGEMPlugin, state, references):
    """The memory, and its loader and iterator as update_memory makes them (the iterator draws nothing yet)."""
    holder.buffers = [import_dataset(b, references) for b in state["buffers"]]
    holder.buffer_dataloader, holder.buffer_dliter = None, iter([])
    if holder.buffers:
        holder.buffer_dataloader = GroupBalancedInfiniteDataLoader(
            holder.buffers, batch_size=holder.sample_size // len(holder.buffers), num_workers=0, pin_memory=False
        )
        holder.buffer_dliter = iter(holder.buffer_dataloader)


@export_state.register
def _(holder: GEMPlugin, references):
    return {"memory": [[int(slot), {"x": x, "y": holder.memory_y[slot], "tid": holder.memory_tid[slot]}]
                       for slot, x in holder.memory_x.items()]}  # fmt: skip


@import_state.register
def _(holder: GEMPlugin, state, references):
    holder.memory_x, holder.memory_y, holder.memory_tid = {}, {}, {}
    for slot, memory in state["memory"]:
        holder.memory_x[slot], holder.memory_y[slot], holder.memory_tid[slot] = memory["x"], memory["y"], memory["tid"]


@export_state.register
def _(holder: LwFPlugin, references):
    lwf, prev = holder.lwf, holder.lwf.prev_model
    state = {"expcount": int(lwf.expcount), "prev_model": None}
    state["prev_classes_by_task"] = pairs(lwf.prev_classes_by_task, lambda classes: [int(c) for c in classes])
    if prev is not None:  # its shape may differ from the current model's after topology changes
        spec = {k: list(v) if isinstance(v, tuple) else v for k, v in prev.backbone.spec().items()}
        extras = export_module(prev)
        state["prev_model"] = {"spec": spec, "state": prev.state_dict(), "extras": extras, "training": prev.training}
    return state


@import_state.register
def _(holder: LwFPlugin, state, references):
    lwf = holder.lwf
    lwf.expcount, lwf.prev_model = int(state["expcount"]), None
    lwf.prev_classes_by_task = defaultdict(set)
    for task, classes in state["prev_classes_by_task"]:
        for c in classes:  # in the stored order
            lwf.prev_classes_by_task[task].add(c)
    stored = state["prev_model"]
    if stored is not None:
        model = references["model"]
        prev = copy.deepcopy(model)
        prev.backbone = build_backbone(stored["spec"]).to(next(model.parameters()).device)
        prev.output_classes = stored["state"]["output_classes"].clone()
        prev.load_state_dict(stored["state"])
        prev.train(stored["training"])
        import_module(prev, stored["extras"])
        lwf.prev_model = prev


@export_state.register
def _(holder: EWCPlugin, references):
    return {name: pairs(getattr(holder, name), export_params) for name in ("saved_params", "importances")}


@import_state.register
def _(holder: EWCPlugin, state, references):
    for name in ("saved_params", "importances"):
        setattr(holder, name, defaultdict(dict, {int(slot): import_params(s) for slot, s in state[name]}))


@export_state.register
def _(holder: SIPlugin, references):
    state = {"ewc_data": [export_params(d) for d in holder.ewc_data]}
    state["syn_data"] = {key: export_params(d) for key, d in holder.syn_data.items()}
    if hasattr(holder, "shapes"):  # isocl's CopyingSIPlugin: the shapes its flattened state had
        state["shapes"] = {name: list(shape) for name, shape in holder.shapes.items()}
    return state


@import_state.register
def _(holder: SIPlugin, state, references):
    holder.ewc_data = tuple(import_params(d) for d in state["ewc_data"])
    holder.syn_data = {key: import_params(d) for key, d in state["syn_data"].items()}
    if "shapes" in state:
        holder.shapes = {name: tuple(shape) for name, shape in state["shapes"].items()}


@export_state.register
def _(holder: FactoredEWC, references):
    factors = pairs(holder.factors, lambda f: [list(m) for m in f.maps])
    return {"anchor": dict(holder.anchor), "factors": factors}


@import_state.register
def _(holder: FactoredEWC, state, references):
    holder.anchor = dict(state["anchor"])
    holder.factors = {int(slot): FisherFactors([tuple(m) for m in maps]) for slot, maps in state["factors"]}


@export_state.register
def _(holder: TopologyPlugin, references):  # its policy comes from the scenario
    return {"probes": pairs(holder.probes)}


@import_state.register
def _(holder: TopologyPlugin, state, references):
    holder.probes = {int(exp): probes for exp, probes in state["probes"]}


@export_state.register
def _(holder: IncrementalHead, references):
    return {"started": bool(holder.started)}


@import_state.register
def _(holder: IncrementalHead, state, references):
    holder.started = bool(state["started"])
