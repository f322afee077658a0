"""The scheduled-task experiment's report: per-task test accuracy and widths over epochs with the phases marked
(mean over seeds, one column per policy), and a table of each phase's end (mean, 95% CI over seeds)."""

from collections import defaultdict
from pathlib import Path

import numpy as np

from isocl.harness.plots import _pyplot, save_figure
from isocl.harness.stats import mean_ci


def by_policy(summaries: list[dict]) -> dict[str, list[dict]]:
    groups = defaultdict(list)
    for s in summaries:
        groups[s["policy"]].append(s)
    return dict(groups)


def _series(runs: list[dict], key: str) -> np.ndarray:
    """(epochs, ...) mean over seeds of the per-epoch `key` (accuracy per task, widths per layer)."""
    return np.mean([[e[key] for e in r["epochs"]] for r in runs], axis=0)


def _phase_starts(run: dict) -> list[int]:
    return [e["epoch"] for i, e in enumerate(run["epochs"]) if i == 0 or e["phase"] != run["epochs"][i - 1]["phase"]]


def plot(name: str, groups: dict, out: Path) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(2, len(groups), figsize=(4.2 * len(groups), 6), squeeze=False, sharex=True)
    for col, (policy, runs) in enumerate(sorted(groups.items())):
        accuracy, widths = _series(runs, "accuracy"), _series(runs, "widths")
        epochs = np.arange(1, len(accuracy) + 1)
        for t in range(accuracy.shape[1]):
            axes[0, col].plot(epochs, 100 * accuracy[:, t], label=f"task {t}")
        for k in range(widths.shape[1]):
            axes[1, col].plot(epochs, widths[:, k], label=f"hidden {k}")
        for ax in axes[:, col]:
            for start in _phase_starts(runs[0])[1:]:
                ax.axvline(start + 0.5, color="grey", linestyle=":", linewidth=1)
        axes[0, col].set_title(f"{policy} ({len(runs)} seeds)", fontsize=10)
        axes[0, col].set_ylim(0, 100)
        axes[1, col].set_xlabel("epoch (dotted: phase starts)")
    axes[0, 0].set_ylabel("test accuracy (%)")
    axes[1, 0].set_ylabel("width")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    fig.suptitle(f"{name}: per-task accuracy and widths (mean over seeds)")
    return save_figure(fig, Path(out) / f"{name}-accuracy-and-widths.png")


def _cell(values: list[float]) -> str:
    mean, _, half = mean_ci(values)
    return f"{mean:.1f}" + (f" ± {half:.1f}" if half is not None else "")


def phase_table(groups: dict) -> str:
    """Accuracy (%) of every task at the end of every phase, width and parameters there: mean ± 95% CI half-width."""
    first = next(iter(groups.values()))[0]
    n_tasks = len(first["epochs"][0]["accuracy"])
    head = "| policy | phase (active) | " + " | ".join(f"task {t} (%)" for t in range(n_tasks)) + " | widths | params |"
    lines = [head, "|" + "---|" * (n_tasks + 4)]
    for policy, runs in sorted(groups.items()):
        ends = [
            i
            for i, e in enumerate(first["epochs"])
            if i + 1 == len(first["epochs"]) or first["epochs"][i + 1]["phase"] != e["phase"]
        ]
        for i in ends:
            epoch = [r["epochs"][i] for r in runs]
            tasks = " | ".join(_cell([100 * e["accuracy"][t] for e in epoch]) for t in range(n_tasks))
            widths = "/".join(f"{np.mean([e['widths'][k] for e in epoch]):.0f}" for k in range(len(epoch[0]["widths"])))
            params = f"{np.mean([e['params'] for e in epoch]):,.0f}"
            lines.append(f"| {policy} | {epoch[0]['phase']} ({epoch[0]['active']}) | {tasks} | {widths} | {params} |")
    return "\n".join(lines)


def write_report(name: str, summaries: list[dict], out: Path) -> Path:
    groups = by_policy(summaries)
    figure = plot(name, groups, out)
    commits = sorted({str(s.get("git_commit")) for s in summaries})
    text = [
        f"# {name}",
        "",
        phase_table(groups),
        "",
        f"![accuracy and widths]({figure.name})",
        "",
        f"Made by commit(s) {', '.join(commits)}.",
    ]
    path = Path(out) / "report.md"
    path.write_text("\n".join(text) + "\n")
    return path
