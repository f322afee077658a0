"""Where a result comes from, and the fingerprint that decides whether a run folder may be reused or resumed.

Provenance (recorded in summary.json): the isocl version, the git commit of the source tree and whether it had
uncommitted changes, the torch, Avalanche and Python versions, the device, the CPU threads (PyTorch's CPU reductions
depend on their number), the processor (its model and the vector instructions PyTorch's kernels use: another
processor may round differently, and training amplifies the last bits) and the data's digest. The fingerprint
is the part that must match for a rerun to reuse a finished run or resume an unfinished one: the resolved config
(every scenario, strategy and topology parameter, the seed), the data, the code (version and commit) and the
library versions and device. A dirty tree is recorded but not compared (it changes with every edit).
"""

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

import isocl
from isocl.errors import ConfigError

# compile: a compiled step's float rounding may differ from eager's
FINGERPRINT_FIELDS = ("config", "data", "isocl_version", "git_commit", "torch", "avalanche", "device", "compile")


@functools.cache
def _git(*args: str) -> str | None:
    source = Path(isocl.__file__).resolve().parents[1]
    try:
        done = subprocess.run(["git", *args], cwd=source, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_state() -> dict:
    """The git commit of the source tree isocl runs from (None when installed from a wheel) and its dirty flag."""
    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no")) if commit else None
    return {"git_commit": commit, "git_dirty": dirty}


def _cpu_model() -> str:
    """The first `model name` of /proc/cpuinfo (Linux), else the platform's processor name (may be empty)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return models[0] if models else platform.processor()


@functools.cache
def processor() -> str:
    """The CPU model and PyTorch's CPU kernel level, e.g. 'AMD EPYC (AVX512)'; on a CUDA machine the GPU's name
    follows."""
    name = f"{_cpu_model() or platform.machine()} ({torch.backends.cpu.get_cpu_capability()})"
    return name + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")


def provenance(config: dict, data_digest: str, device: str, compile_backend: str | None = None) -> dict:
    return {
        "config": config,
        "data": data_digest,
        "isocl_version": isocl.__version__,
        **code_state(),
        "torch": metadata.version("torch"),
        "avalanche": metadata.version("avalanche-lib"),
        "python": platform.python_version(),
        "device": device,
        "cpu_threads": torch.get_num_threads(),
        "processor": processor(),
        **({"compile": compile_backend} if compile_backend else {}),  # absent: eager (as in earlier summaries)
    }


def fingerprint(record: dict) -> dict:
    return {k: record.get(k) for k in FINGERPRINT_FIELDS}


class StaleRunError(ConfigError):
    """A run folder made under a different fingerprint: reusing or resuming it would mislabel the result."""


def check_same(directory: Path, stored: dict, current: dict, finished: bool) -> None:
    """Raise StaleRunError naming the fields where a folder's stored fingerprint differs from this run's."""
    differing = [k for k in FINGERPRINT_FIELDS if stored.get(k) != current.get(k)]
    if not differing:
        return
    if "config" in differing:
        keys = _differing_keys(stored.get("config") or {}, current["config"])
        differing[differing.index("config")] = f"config ({', '.join(keys)})"
    state = "finished" if finished else "unfinished"
    raise StaleRunError(
        f"{directory} holds a {state} run made with different {'; '.join(differing)}: "
        "write elsewhere with --out, or rerun with --restart to discard it"
    )


def _differing_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _differing_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return keys
