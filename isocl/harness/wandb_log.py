"""Weights & Biases logging that can never cost a run its local results.

One W&B run per (scenario, strategy, seed), grouped by scenario. Offline by default (files under the run's
folder, `wandb sync` uploads them later); `online` needs an account; `disabled` skips W&B entirely. wandb is
imported lazily, and every W&B error becomes a warning.
"""

import re
import warnings
from pathlib import Path

WANDB_MODES = ("offline", "online", "disabled")


class WandbRun:
    def __init__(self, mode: str, directory: Path, *, project: str, group: str, name: str, config: dict):
        self.run = None
        if mode == "disabled":
            return
        try:
            import wandb

            directory.mkdir(parents=True, exist_ok=True)
            self.run = wandb.init(
                mode=mode,
                dir=str(directory),
                project=project,
                group=group,
                name=name,
                id=re.sub(r"[^A-Za-z0-9_-]", "-", name),  # stable, so a resumed run continues the same one
                resume="allow",
                config=config,
                reinit="finish_previous",
                settings=wandb.Settings(console="off", silent=True),
            )
        except Exception as error:  # noqa: BLE001 - W&B must never stop a run
            self._warn("start", error)

    def _warn(self, what: str, error: Exception) -> None:
        warnings.warn(f"W&B {what} failed ({error}); local results are unaffected", stacklevel=3)

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
