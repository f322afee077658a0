"""A run folder before a run starts: reuse a finished run, resume an unfinished one, or start afresh, decided by
the fingerprint (isocl/harness/provenance.py) and --restart."""

import shutil
from pathlib import Path

from filelock import FileLock, Timeout

from isocl.harness import checkpoint, provenance, store

FINGERPRINT_FILE = "fingerprint.json"


def check_folder(run) -> dict | None:
    """The finished summary to reuse, or None to (re)start or resume; raises StaleRunError on a fingerprint
    mismatch. Called for every run before any training, so a stale folder stops the scenario up front."""
    directory = run.directory
    if run.options.restart:
        return None
    current = run.identity()["fingerprint"]
    summary_file, fingerprint_file = directory / "summary.json", directory / FINGERPRINT_FILE
    if summary_file.exists():
        summary = store.read_json(summary_file)
        provenance.check_same(directory, summary.get("fingerprint") or {}, current, finished=True)
        return summary
    if fingerprint_file.exists():
        provenance.check_same(directory, store.read_json(fingerprint_file), current, finished=False)
    return None


LOCK_FILE = ".lock"


def start_folder(run) -> None:
    """A fresh or resumable folder, under its lock: --restart empties it (all but the lock file this process holds);
    the fingerprint is written before training starts."""
    run.directory.mkdir(parents=True, exist_ok=True)
    if run.options.restart:
        _empty(run.directory)
    store.remove_stale_temps(run.directory)
    store.write_json_atomic(run.directory / FINGERPRINT_FILE, run.identity()["fingerprint"])


def _empty(directory: Path) -> None:
    for path in directory.iterdir():
        if path.name != LOCK_FILE:
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def empty_folder(run) -> None:
    """--restart ahead of a sweep: the folder emptied now, under its lock, so that a job requeued later resumes
    rather than starts again. A folder another process holds is left alone (its job will report it in use)."""
    if not run.directory.is_dir():
        return
    try:
        with FileLock(run.directory / LOCK_FILE, timeout=0):
            _empty(run.directory)
    except Timeout:
        pass


def has_checkpoint(run) -> bool:
    return (run.directory / checkpoint.CHECKPOINT_FILE).is_file()
