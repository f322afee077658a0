"""isocl's own checkpoints, written after every finished event (Avalanche's dill-pickled strategy checkpoints fail
with current packages).

One file, `checkpoint.pt` in the run folder: the backbone's spec (its current widths), the model and optimiser
state dicts, the run history so far, the strategy's state (isocl/cl/state.py: its plugins' memories, importances
and counters as tensors and plain data; a memory as indices into the stream's training set) and the RNG states.
It is written with torch.save to a hidden temporary name beside it, fsynced and renamed over the previous one, so
a process killed at any instant leaves either the previous or the new checkpoint, whole. It is read with
`weights_only=True` only: no object is unpickled, so a crafted file cannot run code. A file that cannot be used
(truncated, not a checkpoint, written for another set of plugins) raises CheckpointError naming it and how to
discard it. Temporary files a killed process left go when the next checkpoint is saved or loaded, and with the
checkpoint when the run finishes. `strategy.pkl`, the old format's pickle, is never opened (only deleted).
"""

import io
import os
import random
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from isocl.cl import state
from isocl.errors import RunFolderError
from isocl.harness.history import RunHistory
from isocl.nn import build_backbone

CHECKPOINT_FILE = "checkpoint.pt"
LEGACY_FILES = ("strategy.pkl",)  # the old format's second file
TEMP_PREFIX = f".{CHECKPOINT_FILE}."  # temporary files: .checkpoint.pt.<random>
FORMAT, VERSION = "isocl-checkpoint", 2


class CheckpointError(RunFolderError):
    """A checkpoint file that cannot be used; the message names it and how to discard it."""


@dataclass
class Restored:
    spec: dict
    model_state: dict
    optimizer_state: dict
    history: dict  # RunHistory.to_state()
    strategy_state: dict  # isocl.cl.state.export_strategy()
    rng: dict
    path: Path  # the file it was read from


def _unusable(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"{path} {why}; delete {path} (or rerun with --restart) to start this run again")


def remove_stale_temps(directory: Path) -> None:
    """Delete the temporary files of checkpoints a killed process never renamed."""
    for path in Path(directory).glob(f"{TEMP_PREFIX}*"):
        path.unlink(missing_ok=True)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # the rename itself survives a power cut once the folder is synced
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError:
        pass


def rng_state() -> dict:
    """Python's, NumPy's and torch's generator states as tensors and plain data."""
    key, mt, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    numpy_state = {"key": key, "state": torch.from_numpy(mt.astype(np.int64)), "pos": int(pos)}
    numpy_state |= {"has_gauss": int(has_gauss), "cached_gaussian": float(cached)}
    python_state = {"version": version, "state": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}
    states = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": python_state}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_state(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    n, p = states["numpy"], states["python"]
    mt = n["state"].numpy().astype(np.uint32)
    np.random.set_state((n["key"], mt, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    random.setstate((p["version"], tuple(p["state"].tolist()), p["gauss"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save(
    directory: Path, *, model, optimizer, strategy, attributes, harness_plugins, references, history: dict
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(directory)
    skip = tuple(type(p) for p in harness_plugins)
    references = {"model": model, "optimizer": optimizer, **references}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "spec": model.backbone.spec(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": history,
        "strategy": state.export_strategy(strategy, references, skip=skip, declared=tuple(attributes)),
        "rng": rng_state(),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    _write_atomic(directory / CHECKPOINT_FILE, buffer.getvalue())


def _read(path: Path) -> dict:
    try:
        payload = torch.load(path, weights_only=True)
    except Exception as error:  # whatever torch raises, the file is unusable
        if "Weights only load failed" in str(error):
            why = "holds objects other than tensors and plain data: it is not an isocl checkpoint"
        else:
            why = f"cannot be read ({type(error).__name__}: it is truncated, corrupt or not a checkpoint)"
        raise _unusable(path, why) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise _unusable(path, "is not a checkpoint of this isocl version (an older run's, or another file)")
    if payload.get("version") != VERSION:
        raise _unusable(path, f"has checkpoint format {payload.get('version')!r}; this isocl reads {VERSION}")
    return payload


def _check(path: Path, payload: dict) -> None:
    """The parts the runner uses before restore_strategy, so that their faults name the file too."""
    kinds = {"spec": dict, "model": dict, "optimizer": dict, "history": dict, "strategy": dict, "rng": dict}
    missing = [key for key, kind in kinds.items() if not isinstance(payload.get(key), kind)]
    if missing:
        raise _unusable(path, f"lacks {', '.join(missing)}")
    if set(payload["history"]) != {f.name for f in fields(RunHistory)}:
        raise _unusable(path, "holds a run history of another form")
    if not {"state", "param_groups"} <= set(payload["optimizer"]) or "output_classes" not in payload["model"]:
        raise _unusable(path, "lacks parts of the model or optimiser state")
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in build_backbone(payload["spec"]).state_dict().items()}
    except Exception as error:
        raise _unusable(path, f"holds a backbone spec that builds no network ({error})") from None
    stored = {k.removeprefix("backbone."): v for k, v in payload["model"].items() if k.startswith("backbone.")}
    if {k: tuple(getattr(v, "shape", ())) for k, v in stored.items()} != expected:
        raise _unusable(path, "holds model weights that do not match its backbone spec")


def load(directory: Path) -> Restored | None:
    """The checkpoint in `directory`, or None if there is none; CheckpointError if it cannot be used."""
    path = Path(directory) / CHECKPOINT_FILE
    remove_stale_temps(directory)
    if not path.exists():
        return None
    payload = _read(path)
    _check(path, payload)
    p = payload
    return Restored(p["spec"], p["model"], p["optimizer"], p["history"], p["strategy"], p["rng"], path)


def restore_strategy(restored: Restored, strategy, references: dict) -> None:
    """Put the stored state into a freshly built strategy (its plugins and declared attributes), and the RNG states."""
    try:
        state.import_strategy(strategy, restored.strategy_state, references)
        set_rng_state(restored.rng)
    except (state.StateError, KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as error:
        detail = f"{type(error).__name__}: {error}" if not isinstance(error, state.StateError) else str(error)
        raise _unusable(restored.path, f"does not fit this run's strategy ({detail})") from None
    # Avalanche resets the optimiser state on its first make_optimizer call; tell it the parameters are already
    # registered so the restored moments survive
    strategy.optimized_param_id = dict(strategy.model.named_parameters())


def remove(directory: Path) -> None:
    """A finished run's checkpoint, its stale temporary files and the old format's file."""
    for name in (CHECKPOINT_FILE, *LEGACY_FILES):
        (Path(directory) / name).unlink(missing_ok=True)
    remove_stale_temps(directory)
