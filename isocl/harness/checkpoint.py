"""isocl's own checkpoints, written after every finished experience (Avalanche's dill-pickled strategy
checkpoints fail with current packages).

Two files in the run folder:
- `checkpoint.pt`: the backbone's spec (its current widths), the model and optimiser state dicts and the
  run history so far; plain tensors and containers, loaded with `weights_only=True`.
- `strategy.pkl`: the strategy's plugin objects (memories, importances, the clock), the attributes its builder
  declares, and the RNG states. The model, the optimiser and the stream's data sets are written as references
  and re-bound on load, so a replay memory costs its indices, not a copy of the data set. Only load
  checkpoints you wrote yourself: this file is a pickle.
Each file is written to a temporary name and renamed; `checkpoint.pt` goes last and names the step of the
`strategy.pkl` it belongs with, so a run killed while writing resumes from the previous complete pair.
"""

import io
import os
import pickle
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.plugins.clock import Clock

MODEL_FILE, STRATEGY_FILE = "checkpoint.pt", "strategy.pkl"


@dataclass
class Restored:
    spec: dict
    model_state: dict
    optimizer_state: dict
    history: dict  # RunHistory.to_state()
    strategy_bytes: bytes


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _Pickler(pickle.Pickler):
    def __init__(self, file, references: dict):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.references = {id(obj): key for key, obj in references.items()}

    def persistent_id(self, obj):
        return self.references.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, references: dict):
        super().__init__(file)
        self.references = references

    def persistent_load(self, key):
        return self.references[key]


def _stateful_plugins(strategy, harness_plugins) -> list[tuple[int, object]]:
    skip = tuple(type(p) for p in harness_plugins) + (EvaluationPlugin,)
    return [(i, p) for i, p in enumerate(strategy.plugins) if not isinstance(p, skip)]


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save(
    directory: Path, *, model, optimizer, strategy, attributes, harness_plugins, references, history: dict
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    payload = {
        "plugins": _stateful_plugins(strategy, harness_plugins),
        "attributes": {name: getattr(strategy, name) for name in attributes},
        "rng": rng_state(),
        "step": history["next_step"],
    }
    _Pickler(buffer, {"model": model, "optimizer": optimizer, **references}).dump(payload)
    _write_atomic(directory / STRATEGY_FILE, buffer.getvalue())
    buffer = io.BytesIO()
    torch.save(
        {
            "spec": model.backbone.spec(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "history": history,
        },
        buffer,
    )
    _write_atomic(directory / MODEL_FILE, buffer.getvalue())


def load(directory: Path) -> Restored | None:
    """The last complete checkpoint in `directory`, or None if there is none."""
    model_file, strategy_file = directory / MODEL_FILE, directory / STRATEGY_FILE
    if not model_file.exists() or not strategy_file.exists():
        return None
    state = torch.load(model_file, weights_only=True)
    return Restored(state["spec"], state["model"], state["optimizer"], state["history"], strategy_file.read_bytes())


def restore_strategy(restored: Restored, strategy, references: dict) -> None:
    """Put the pickled plugins and attributes back into a freshly built strategy, and the RNG states."""
    payload = _Unpickler(io.BytesIO(restored.strategy_bytes), references).load()
    if payload["step"] != restored.history["next_step"]:
        raise RuntimeError("checkpoint files belong to different steps; delete the run folder and start again")
    for index, plugin in payload["plugins"]:
        if type(strategy.plugins[index]) is not type(plugin):
            raise RuntimeError(f"checkpoint plugin {index} is a {type(plugin).__name__}, the strategy has another")
        strategy.plugins[index] = plugin
        if isinstance(plugin, Clock):  # the strategy also holds its clock as an attribute
            strategy.clock = plugin
    for name, value in payload["attributes"].items():
        setattr(strategy, name, value)
    set_rng_state(payload["rng"])
    # Avalanche resets the optimiser state on its first make_optimizer call; tell it the parameters are already
    # registered so the restored moments survive
    strategy.optimized_param_id = dict(strategy.model.named_parameters())


def remove(directory: Path) -> None:
    for name in (MODEL_FILE, STRATEGY_FILE):
        (directory / name).unlink(missing_ok=True)
