"""Neuro-abundance scenario files (`kind: abundance`, isocl/harness/abundance.py): read and checked, each mistake
one line naming the field."""

from dataclasses import dataclass

import numpy as np

from isocl.errors import ConfigError
from isocl.harness.config import OptimizerConfig, _check_keys, _one_of, _optimizer, _positive_int, _seeds

DATASETS = ("cifar10", "mnist", "fashion_mnist")
STAGES = ("start", "schedule", "end")


@dataclass(frozen=True)
class AbundanceScenario:
    name: str
    kind: str  # abundance
    pairs: tuple  # (start width, end width) of every hidden layer; each pair is run beside a static end-width net
    dataset: str = "cifar10"
    n_hidden: int = 2
    epochs: tuple = (15, 75, 10)  # at the start width, on the linear schedule, at the end width (the author's)
    train_size: int | None = None  # None: the whole training set
    test_size: int | None = None
    optimizer: OptimizerConfig = OptimizerConfig()
    batch_size: int = 48
    seeds: tuple = (0,)

    def arms(self) -> dict[str, tuple[int, int]]:
        """Every network trained, by name: `A-to-B` moves from width A to B, `static-B` stays at B throughout."""
        arms = {}
        for start, end in self.pairs:
            arms[f"{start}-to-{end}"] = (start, end)
            arms[f"static-{end}"] = (end, end)
        return arms

    def width_plan(self, start: int, end: int) -> list[int]:
        """The width of every epoch: the start width, then round(linspace(start, end, S + 1))[1:] over the S
        scheduled epochs (the author's np.rint), then the end width. A static arm is start == end."""
        at_start, scheduled, at_end = self.epochs
        ramp = np.rint(np.linspace(start, end, scheduled + 1))[1:].astype(int).tolist()
        return [start] * at_start + ramp + [end] * at_end


def _pairs(source: str, raw) -> tuple:
    valid = isinstance(raw, list) and raw and all(isinstance(p, list) and len(p) == 2 for p in raw)
    if not valid or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for p in raw for w in p):
        raise ConfigError(f"{source}.pairs={raw!r} must list [start width, end width] pairs, e.g. [[100, 25]]")
    if any(a == b for a, b in raw):
        raise ConfigError(f"{source}.pairs={raw!r}: a pair's widths must differ (its static arm is the control)")
    return tuple(tuple(p) for p in raw)


def _epochs(source: str, raw) -> tuple:
    if not isinstance(raw, dict) or set(raw) != set(STAGES):
        raise ConfigError(f"{source}.epochs must be {{start: N, schedule: N, end: N}} (epochs per stage)")
    for stage in STAGES:
        value = raw[stage]
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if stage == "schedule" else 0):
            raise ConfigError(f"{source}.epochs.{stage}={value!r} must be an integer >= {int(stage == 'schedule')}")
    return tuple(raw[s] for s in STAGES)


def _size(source: str, key: str, raw) -> int | None:
    if raw is not None:
        _positive_int(source, key, raw)
    return raw


def abundance_from_dict(raw: dict, source: str) -> AbundanceScenario:
    _check_keys(source, raw, AbundanceScenario)
    values = dict(raw)
    values["pairs"] = _pairs(source, values["pairs"])
    _one_of(source, "dataset", values.setdefault("dataset", "cifar10"), DATASETS)
    values["epochs"] = _epochs(source, values.get("epochs", dict(zip(STAGES, (15, 75, 10), strict=True))))
    for key in ("n_hidden", "batch_size"):
        if key in values:
            _positive_int(source, key, values[key])
    for key in ("train_size", "test_size"):
        values[key] = _size(source, key, values.get(key))
    values["optimizer"] = _optimizer(f"{source}.optimizer", values.get("optimizer"))
    values["seeds"] = _seeds(source, values.get("seeds", [0]))
    return AbundanceScenario(**values)
