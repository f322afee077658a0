"""Where a run's records go as they are made: metrics.jsonl (one line per epoch, removal and evaluation) and W&B.

A resumed run first trims metrics.jsonl to the steps its checkpoint covers (a step cut off before its checkpoint is
redone) and replays the kept records into W&B, so both end complete.
"""

from pathlib import Path

from isocl.harness import store
from isocl.harness.history import RunHistory
from isocl.harness.wandb_log import WandbRun, discard_unfinished


def _metrics_file_upto(directory: Path, next_step: int) -> Path:
    """metrics.jsonl holding only the steps a checkpoint covers (a step cut off before its checkpoint is redone)."""
    path = directory / "metrics.jsonl"
    kept = [r for r in store.read_jsonl(path) if r["step"] < next_step]
    path.unlink(missing_ok=True)
    for record in kept:
        store.append_jsonl(path, record)
    return path


def _wandb_run(run) -> WandbRun:
    identity = run.identity()
    return WandbRun(
        run.options.wandb,
        run.directory,
        project=run.options.wandb_project,
        group=run.scenario.name,
        name=f"{run.scenario.name}-{run.strategy_name}-seed{run.seed}",
        config=identity["config"],
        timeout=run.options.wandb_timeout,
    )


class RunLog:
    """Where a run's records go as they are made: metrics.jsonl and W&B."""

    def __init__(self, run, history: RunHistory):
        self.metrics = _metrics_file_upto(run.directory, history.next_step)
        self.history = history
        if history.next_step:
            discard_unfinished(run.directory)
        self.wandb = _wandb_run(run)
        self._replay(store.read_jsonl(self.metrics))

    def _replay(self, records: list[dict]) -> None:
        """Log a resumed run's earlier records again, with the W&B steps they had (the epochs logged so far)."""
        logged = 0
        for record in records:
            if record["event"] in ("start", "epoch", "remove"):
                logged += 1
            if record["event"] == "epoch":
                self.wandb.log({"params": record["params"], **_widths(record["widths"])}, step=logged)
            elif record["event"] == "eval":
                self.wandb.log(_eval_numbers(record), step=logged)

    def epoch(self, record: dict) -> None:
        store.append_jsonl(self.metrics, record)
        self.wandb.log({"params": record["params"], **_widths(record["widths"])}, step=self.history.epochs_logged)

    def marker(self, record: dict) -> None:
        store.append_jsonl(self.metrics, record)

    def evaluation(self, record: dict) -> None:
        store.append_jsonl(self.metrics, record)
        self.wandb.log(_eval_numbers(record), step=self.history.epochs_logged)

    def finish(self, summary: dict) -> None:
        self.wandb.log_matrix("accuracy_matrix", summary["accuracy_matrix"], step=self.history.epochs_logged)
        self.wandb.summarise({k: summary[k] for k in ("average_accuracy", "forgetting", "bwt", "params")})
        self.wandb.finish()


def _eval_numbers(record: dict) -> dict:
    """An evaluation record as W&B series: its scalars, widths and the accuracy on each experience."""
    scalars = {k: v for k, v in record.items() if isinstance(v, int | float) and k != "step"}
    per_experience = {f"accuracy/exp{j}": acc for j, acc in enumerate(record["accuracy"])}
    return {"experience": record["step"], **scalars, **_widths(record["widths"]), **per_experience}


def _widths(sizes: list[int]) -> dict:
    return {f"width/hidden{k}": w for k, w in enumerate(sizes[1:-1])}
