"""Scheduled-task scenario files (`kind: scheduled`, isocl/harness/scheduled.py): read and checked, each mistake
one line naming the field."""

import dataclasses
from dataclasses import dataclass, field

from isocl.cl.policy import TopologyPolicy
from isocl.errors import ConfigError
from isocl.harness.config import (
    OptimizerConfig,
    _check_keys,
    _one_of,
    _optimizer,
    _positive_int,
    _seeds,
)

POLICIES = ("author", "demand", "static", "equal")
FIXED = ("static", "equal")  # the controls: no topology change
BLOCK_DATASETS = ("mnist", "fashion_mnist")


@dataclass(frozen=True)
class ScheduledScenario:
    name: str
    kind: str  # scheduled
    blocks: tuple  # per task: {dataset: mnist | fashion_mnist, permuted: bool}
    phases: tuple  # per phase: the active tasks
    epochs_per_phase: int = 10
    train_size: int = 10_000  # each task's training set truncated to this (the loaders run in lockstep)
    test_size: int = 10_000
    hidden_range: tuple = (100, 300)  # initial widths ~ U[low, high] per layer and seed (the author: 500, 2500)
    n_hidden: int = 3
    optimizer: OptimizerConfig = OptimizerConfig()
    batch_size: int = 48
    seeds: tuple = (0,)
    policies: tuple = POLICIES
    topology: dict = field(default_factory=dict)  # TopologyPolicy fields (threshold, n_scaffold, ...)
    n_probe: int = 256  # demand: samples of the switched-on task that measure its gradient

    def topology_policy(self, policy: str) -> TopologyPolicy:
        return TopologyPolicy(**{**self.topology, "policy": "frozen" if policy in FIXED else policy})


def _blocks(source: str, raw) -> tuple:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}.blocks must list the tasks' inputs, e.g. [{{dataset: mnist}}, ...]")
    for i, block in enumerate(raw):
        where = f"{source}.blocks[{i}]"
        if not isinstance(block, dict) or set(block) - {"dataset", "permuted"}:
            raise ConfigError(f"{where} must be {{dataset: mnist | fashion_mnist, permuted: true | false}}")
        _one_of(where, "dataset", block.get("dataset"), BLOCK_DATASETS)
        if not isinstance(block.get("permuted", False), bool):
            raise ConfigError(f"{where}.permuted={block['permuted']!r} must be true or false")
    return tuple(dict(b) for b in raw)


def _phases(source: str, raw, n_tasks: int) -> tuple:
    valid = isinstance(raw, list) and raw and all(isinstance(p, list) and p for p in raw)
    if not valid or not all(isinstance(t, int) and 0 <= t < n_tasks for p in raw for t in p):
        raise ConfigError(f"{source}.phases={raw!r} must list the active tasks (0..{n_tasks - 1}) of each phase")
    return tuple(tuple(p) for p in raw)


def _range(source: str, raw) -> tuple:
    if (
        not (isinstance(raw, list) and len(raw) == 2 and all(isinstance(w, int) and w > 0 for w in raw))
        or raw[0] > raw[1]
    ):
        raise ConfigError(f"{source}.hidden_range={raw!r} must be [low, high], positive widths, low <= high")
    return tuple(raw)


def scheduled_from_dict(raw: dict, source: str) -> ScheduledScenario:
    _check_keys(source, raw, ScheduledScenario)
    values = dict(raw)
    values["blocks"] = _blocks(source, values["blocks"])
    values["phases"] = _phases(source, values["phases"], len(values["blocks"]))
    for key in ("epochs_per_phase", "train_size", "test_size", "n_hidden", "batch_size", "n_probe"):
        if key in values:
            _positive_int(source, key, values[key])
    values["hidden_range"] = _range(source, values.get("hidden_range", [100, 300]))
    values["optimizer"] = _optimizer(f"{source}.optimizer", values.get("optimizer"))
    values["seeds"] = _seeds(source, values.get("seeds", [0]))
    policies = values.get("policies", list(POLICIES))
    for policy in policies:
        _one_of(source, "policies", policy, POLICIES)
    if "equal" in policies and "demand" not in policies[: policies.index("equal")]:
        raise ConfigError(f"{source}.policies: 'equal' trains demand's final widths; list 'demand' before it")
    values["policies"] = tuple(policies)
    unknown = set(values.get("topology") or {}) - {f.name for f in dataclasses.fields(TopologyPolicy)} - {"policy"}
    if unknown:
        raise ConfigError(f"{source}.topology: unknown field(s) {sorted(unknown)}; allowed: the iso strategies' own")
    return ScheduledScenario(**values)
