"""Where a run's files live, and writing them so that a killed process never leaves half a file."""

import json
import os
import tempfile
from pathlib import Path

from isocl.errors import RunFolderError


def run_dir(out: Path, scenario: str, strategy: str, seed: int) -> Path:
    return Path(out) / scenario / strategy / f"seed{seed}"


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, default=_plain)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)  # mkstemp makes it private; results are meant to be shared
    os.replace(tmp, path)


TEMP_PREFIX = "."  # temporary files are hidden siblings: .<name>.<random>, renamed over <name> when complete


def remove_stale_temps(directory: Path) -> None:
    """Delete temporary files a killed process left in a run folder (the lock file, `.lock`, has no second dot)."""
    for path in Path(directory).glob(f"{TEMP_PREFIX}*.*"):
        if path.is_file():
            path.unlink(missing_ok=True)


def append_jsonl(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, default=_plain) + "\n")
        f.flush()


def plain(data: dict) -> dict:
    """`data` with JSON's types only (tuples as lists, tensors as lists): what writing and reading it back gives."""
    return json.loads(json.dumps(data, default=_plain))


def _unreadable(path: Path, what: str) -> RunFolderError:
    return RunFolderError(f"{path} {what}: delete it, or rerun with --restart to start that run again")


def read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _unreadable(path, f"is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise _unreadable(path, "does not hold a JSON object")
    return data


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file. A torn last line (a process killed while appending it) is dropped: it
    belongs to a step no checkpoint covers, which is redone; a bad line before it is an error."""
    if not path.exists():
        return []
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    records = []
    for n, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if n == len(lines) - 1:
                break
            raise _unreadable(path, f"line {n + 1} is not valid JSON") from None
    return records


def _plain(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
