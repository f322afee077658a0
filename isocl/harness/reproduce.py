"""`isocl reproduce SUMMARY.json`: run a summary's config again and say whether its accuracy matrix comes out bit
for bit the same."""

import tempfile
from dataclasses import replace
from pathlib import Path

from isocl.errors import ConfigError
from isocl.harness import store
from isocl.harness.config import scenario_from_dict
from isocl.harness.runner import RunOptions, run_scenario

RUN_FIELDS = ("strategy", "strategy_params", "seed")
PROVENANCE_KEYS = (  # named when they differ between a summary and its re-run
    "git_commit",
    "git_dirty",
    "isocl_version",
    "torch",
    "avalanche",
    "python",
    "device",
    "cpu_threads",
    "processor",
    "data",
)


def scenario_of(summary: dict, source: str):
    """The one-run scenario a summary's resolved config describes."""
    config = dict(summary.get("config") or {})
    if config.get("kind") in ("scheduled", "abundance"):
        raise ConfigError(
            f"{source}: a run of the {config['kind']} experiment {config.get('name')!r}, which reproduce does not "
            f"take; run it again with `isocl run {config.get('name')} --out OTHER_FOLDER` and compare"
        )
    if any(k not in config for k in RUN_FIELDS):
        raise ConfigError(f"{source}: not an isocl summary (its config lacks {list(RUN_FIELDS)})")
    raw = {k: v for k, v in config.items() if k not in RUN_FIELDS}
    raw["strategies"] = {config["strategy"]: config["strategy_params"]}
    raw["seeds"] = [config["seed"]]
    if raw.get("events") is None:
        raw.pop("events", None)
    return scenario_from_dict(raw, source)


def first_difference(a: list[list[float]], b: list[list[float]]) -> str | None:
    if len(a) != len(b):
        return f"{len(a)} rows vs {len(b)}"
    for r, (row_a, row_b) in enumerate(zip(a, b, strict=True)):
        for j, (x, y) in enumerate(zip(row_a, row_b, strict=True)):
            if x != y:
                return f"row {r}, experience {j}: {x!r} vs {y!r}"
    return None


def reproduce(path: Path, options: RunOptions) -> tuple[bool, list[str]]:
    """Re-run the summary at `path` in a fresh folder; (identical, lines to print)."""
    summary = store.read_json(path)
    scenario = scenario_of(summary, str(path))
    with tempfile.TemporaryDirectory(prefix="isocl-reproduce-") as folder:
        (again,) = run_scenario(scenario, replace(options, out=Path(folder), restart=True))
    changes = _provenance_changes(summary, again)
    lines = [f"provenance {k}: {summary.get(k)!r} then, {again.get(k)!r} now" for k in changes]
    difference = first_difference(summary["accuracy_matrix"], again["accuracy_matrix"])
    if difference is None:
        return True, [*lines, f"{path}: the accuracy matrix is reproduced bit for bit"]
    lines.append(f"{path}: the accuracy matrix differs ({difference})")
    if "processor" in changes:  # the same code and libraries still round differently on another processor
        lines.append("it was made on another processor (or one not recorded): compare on the processor it names")
    return False, lines


def _provenance_changes(old: dict, new: dict) -> list[str]:
    return [k for k in PROVENANCE_KEYS if old.get(k) != new.get(k)]
