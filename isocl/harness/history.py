"""A run's history, typed: what each step produced, the records written as it goes, and the summary at the end.

Everything in summary.json is computed from the history (and the accuracy matrix in it): nothing is read back
from files. The history is also what a checkpoint stores to resume a run.
"""

import dataclasses
from dataclasses import dataclass, field

from isocl.harness.metrics import mean_over, removal_accuracies, retained, summarise

NO_METRICS = ("average_accuracy", "forgetting", "bwt", "accuracy_seen")


@dataclass
class RunHistory:
    next_step: int = 0  # the first event not yet done
    matrix: list[list[float]] = field(default_factory=list)  # one accuracy row per event
    train_seconds: float = 0.0
    widths: list[list[int]] = field(default_factory=list)  # after each event
    widths_history: list[dict] = field(default_factory=list)  # start, epoch records and removal markers, in order
    removals: list[dict] = field(default_factory=list)  # one entry per removal event (end values added at the end)

    def to_state(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_state(cls, state: dict) -> "RunHistory":
        return cls(**state)

    @property
    def epochs_logged(self) -> int:
        """The W&B step: it counts epochs (and removal markers)."""
        return len(self.widths_history)

    def add_start(self, size: dict) -> dict:
        """The widths the run starts with (so a change in the first epoch shows)."""
        record = {"event": "start", "step": 0, "epoch": None, **size}
        self.widths_history.append(record)
        return record

    def add_epoch(self, step: int, epoch: dict) -> dict:
        record = {"event": "epoch", "step": step, **epoch}
        self.widths_history.append(record)
        return record

    def add_removal(self, step: int, experience: int, before: dict, after: dict) -> dict:
        self.removals.append({"experience": experience, "step": step, "before": before, "after": after})
        marker = {"event": "remove", "step": step, "experience": experience, "epoch": None, **after}
        self.widths_history.append(marker)
        return marker

    def add_evaluation(self, step: int, event: tuple, row: list[float], size: dict, events: list) -> dict:
        """Record the accuracy row after event `step`; returns its metrics.jsonl record."""
        kind, exp = event
        self.matrix.append(row)
        self.widths.append(size["widths"])
        self.next_step = step + 1
        return {
            "event": "eval",
            "step": step,
            ("trained" if kind == "train" else "removed"): "all" if isinstance(exp, list) else exp,
            "accuracy": row,
            "average_accuracy_seen": mean_over(row, retained(events, step)),
            **size,
            "train_seconds": self.train_seconds,
        }

    def summary(self, identity: dict, events: list, end: dict) -> dict:
        """summary.json: identity (scenario, strategy, seed, config, ...), metrics, widths and removals. A run that
        stopped early (diverged) has metrics over the events it finished."""
        done = events[: len(self.matrix)]
        removals = [
            {**r, **removal_accuracies(self.matrix, done, r["step"], r["experience"]), "end": end}
            for r in self.removals
        ]
        metrics = summarise(self.matrix, done) if self.matrix else dict.fromkeys(NO_METRICS)
        return {
            **identity,
            "events": [{kind: exp} for kind, exp in events],
            "accuracy_matrix": self.matrix,
            **metrics,
            "removals": removals,
            "params": end["params"],
            "widths": self.widths,
            "widths_history": self.widths_history,
            "train_seconds": self.train_seconds,
        }
