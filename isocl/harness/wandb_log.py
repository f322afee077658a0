"""Weights & Biases logging that can never cost a run its local results.

One W&B run per (scenario, strategy, seed), grouped by scenario. Offline by default (files under the run's
folder, `wandb sync` uploads them later); `online` needs an account; `disabled` skips W&B entirely. wandb is
imported lazily, and every W&B error becomes a warning. Online start and finish wait at most `timeout` seconds; a
start that fails online falls back to offline with one warning. A resumed run replays its local records first
(isocl/harness/runner.py), so its W&B history is complete even though the killed process never finished its own.
"""

import re
import shutil
import warnings
from pathlib import Path

WANDB_MODES = ("offline", "online", "disabled")


class WandbRun:
    def __init__(
        self, mode: str, directory: Path, *, project: str, group: str, name: str, config: dict, timeout: float = 15.0
    ):
        self.run = None
        if mode == "disabled":
            return
        settings = dict(project=project, group=group, name=name, config=config)
        try:
            self.run = _start(mode, directory, timeout, **settings)
        except Exception as error:  # noqa: BLE001 - W&B must never stop a run
            if mode != "online":
                self._warn("start", error)
                return
            self._warn("online start", error, "logging offline instead")
            try:
                self.run = _start("offline", directory, timeout, **settings)
            except Exception as again:  # noqa: BLE001
                self._warn("start", again)

    def _warn(self, what: str, error: Exception, then: str = "") -> None:
        then = f"; {then}" if then else ""
        warnings.warn(f"W&B {what} failed ({error}){then}; local results are unaffected", stacklevel=3)

    def log(self, metrics: dict, step: int) -> None:
        self._call("log", lambda: self.run.log(metrics, step=step))

    def log_matrix(self, key: str, matrix: list[list[float]], step: int) -> None:
        def log():
            import wandb

            columns = ["trained"] + [f"exp{j}" for j in range(len(matrix[0]))]
            rows = [[i, *row] for i, row in enumerate(matrix)]
            self.run.log({key: wandb.Table(columns=columns, data=rows)}, step=step)

        self._call("table", log)

    def summarise(self, summary: dict) -> None:
        self._call("summary", lambda: self.run.summary.update(summary))

    def finish(self) -> None:
        self._call("finish", lambda: self.run.finish())
        self.run = None

    def _call(self, what: str, fn) -> None:
        if self.run is None:
            return
        try:
            fn()
        except Exception as error:  # noqa: BLE001
            self._warn(what, error)


def _start(mode: str, directory: Path, timeout: float, **settings):
    import wandb

    directory.mkdir(parents=True, exist_ok=True)
    return wandb.init(
        mode=mode,
        dir=str(directory),
        id=re.sub(r"[^A-Za-z0-9_-]", "-", settings["name"]),  # stable, so a resumed run continues the same one
        resume="allow",
        reinit="finish_previous",
        settings=wandb.Settings(console="off", silent=True, init_timeout=timeout, finish_timeout=timeout),
        **settings,
    )


def discard_unfinished(directory: Path) -> None:
    """Remove the offline W&B files of a killed attempt: they hold only part of the history, which a resumed run
    replays in full."""
    for folder in (directory / "wandb").glob("offline-run-*"):
        shutil.rmtree(folder, ignore_errors=True)
