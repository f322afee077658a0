"""Withdrawing a trained experience ("remove: t" in a scenario's events).

`remove_experience` takes the experience's output units out of the model and then lets the strategy and each of
its plugins forget what they kept of it: memories drop its samples, regularisers drop its importances,
distillation stops on its classes. The output removal is a topology change like any other: the optimiser and
every holder of parameter-shaped state follow it (isocl/cl/follow.py) before anything is forgotten. Forgetting
is dispatched on the type of the holder (`forget`); a plugin of one's own supports removal by defining
`forget_experience(strategy, removal)`.

Avalanche keys per-experience state by the order of training (`clock.train_exp_counter`), not by the
experience's id, so a removal carries both: `experience` and its training `slot`.
"""

from dataclasses import dataclass
from functools import singledispatch

from avalanche.benchmarks.utils.data_loader import GroupBalancedInfiniteDataLoader
from avalanche.training import DER, Cumulative
from avalanche.training.plugins import AGEMPlugin, EWCPlugin, GEMPlugin, LwFPlugin, ReplayPlugin
from avalanche.training.storage_policy import ExperienceBalancedBuffer

from isocl.cl.classifier import MASK
from isocl.cl.follow import change_topology
from isocl.topology import Change


@dataclass
class Removal:
    experience: int  # the withdrawn experience (its task label in the task setting)
    classes: list[int]  # its classes, whose output units are gone
    slot: int  # Avalanche's train_exp_counter when it was trained
    change: Change  # the output removal, already applied to the backbone


def remove_experience(strategy, experience: int, classes: list[int], slot: int) -> Removal:
    """Remove the experience's outputs from the model (every holder of state follows, isocl/cl/follow.py), then
    its traces from the strategy and its plugins."""
    change = change_topology(strategy, lambda: strategy.model.remove_class_outputs(classes))
    removal = Removal(experience, list(classes), slot, change)
    forget(strategy, strategy, removal)
    for plugin in strategy.plugins:
        forget(plugin, strategy, removal)
    return removal


@singledispatch
def forget(holder, strategy, removal: Removal) -> None:
    """Drop what `holder` keeps of the removed experience. Default: its own `forget_experience`, if any."""
    method = getattr(holder, "forget_experience", None)
    if method is not None:
        method(strategy, removal)


def _samples_not_in(dataset, classes: list[int]):
    gone = set(classes)
    return dataset.subset([i for i, y in enumerate(dataset.targets) if int(y) not in gone])


@forget.register
def _(holder: Cumulative, strategy, removal: Removal) -> None:
    if holder.dataset is not None:
        holder.dataset = _samples_not_in(holder.dataset, removal.classes)


@forget.register
def _(holder: ReplayPlugin, strategy, removal: Removal) -> None:
    policy = holder.storage_policy
    if isinstance(policy, ExperienceBalancedBuffer):
        # groups are keyed by training slot; re-key them densely so the next experience gets a fresh key and the
        # memory is re-divided over the retained experiences
        groups = [g for key, g in sorted(policy.buffer_groups.items()) if key != removal.slot]
        policy.buffer_groups = dict(enumerate(groups))
        policy._num_exps = len(groups)
    else:  # class-keyed groups
        for c in removal.classes:
            policy.buffer_groups.pop(c, None)


@forget.register
def _(holder: DER, strategy, removal: Removal) -> None:
    """Drop the classes' groups; in the stored logits of the others, the removed classes read MASK, as the model's
    logits now do, so the logit-matching loss does not pull towards outputs that no longer exist."""
    policy = holder.storage_policy
    for c in removal.classes:
        policy.buffer_groups.pop(c, None)
    policy.seen_classes -= set(removal.classes)
    for group in policy.buffer_groups.values():
        for logits in group.buffer._data_attributes["logits"].data:
            logits[removal.classes] = MASK  # rows are views of the stored logit tensors


@forget.register
def _(holder: LwFPlugin, strategy, removal: Removal) -> None:
    gone = set(removal.classes)
    prev = holder.lwf.prev_classes_by_task
    for task in list(prev):
        prev[task] = prev[task] - gone
        if not prev[task]:
            del prev[task]


@forget.register
def _(holder: AGEMPlugin, strategy, removal: Removal) -> None:
    holder.buffers = [b for i, b in enumerate(holder.buffers) if i != removal.slot]
    if not holder.buffers:
        holder.buffer_dataloader, holder.buffer_dliter = None, iter([])
        return
    holder.buffer_dataloader = GroupBalancedInfiniteDataLoader(
        holder.buffers, batch_size=holder.sample_size // len(holder.buffers), num_workers=0
    )
    holder.buffer_dliter = iter(holder.buffer_dataloader)


@forget.register
def _(holder: GEMPlugin, strategy, removal: Removal) -> None:
    # GEM loops over slots 0..train_exp_counter-1: the removed slot keeps a constraint from a retained slot's
    # memory (a duplicate row of G adds no new constraint) rather than leave a hole
    donor = next((s for s in sorted(holder.memory_x) if s != removal.slot), None)
    if donor is None:
        raise ValueError("gem: cannot remove the only trained experience")
    for memory in (holder.memory_x, holder.memory_y, holder.memory_tid):
        memory[removal.slot] = memory[donor]


@forget.register
def _(holder: EWCPlugin, strategy, removal: Removal) -> None:
    if holder.mode == "separate":  # the removed experience's own importances go
        holder.saved_params.pop(removal.slot, None)
        holder.importances.pop(removal.slot, None)
