"""PNG plots from the summaries of one scenario (grouped by strategy): accuracy matrices, curves and widths.

Everything is drawn from `summary.json` contents; matplotlib is imported only when a plot is made.
"""

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Lay out, write (PNG, 110 dpi) and close a figure; its path."""
    plt = _pyplot()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_scenario(scenario: str, strategies: dict, out: Path) -> list[Path]:
    """The accuracy matrices (mean over seeds) and the accuracy curves with a forgetting bar chart."""
    return [_plot_matrices(scenario, strategies, out), _plot_curves(scenario, strategies, out)]


def _plot_matrices(scenario: str, strategies: dict, out: Path) -> Path:
    plt = _pyplot()
    names = sorted(strategies)
    cols = min(len(names), 5)
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        matrix = np.mean([r["accuracy_matrix"] for r in strategies[name]], axis=0)
        ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, f"{100 * value:.0f}", ha="center", va="center", fontsize=6, color="white")
        ax.set_xticks(range(matrix.shape[1]))
        ax.set_yticks(range(matrix.shape[0]), ["all"] if matrix.shape[0] == 1 else range(matrix.shape[0]))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("tested exp", fontsize=7)
        ax.set_ylabel("after training", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle(f"{scenario}: accuracy matrices (mean over seeds)")
    return save_figure(fig, out / f"{scenario}-accuracy-matrices.png")


def _plot_curves(scenario: str, strategies: dict, out: Path) -> Path:
    plt = _pyplot()
    names = sorted(strategies)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name in names:
        curve = 100 * np.mean([r["accuracy_seen"] for r in strategies[name]], axis=0)
        if len(curve) == 1:  # joint training: one evaluation, drawn as a reference line
            left.axhline(curve[0], linestyle="--", color="gray", label=f"{name} (all at once)")
        else:
            left.plot(np.arange(1, len(curve) + 1), curve, marker="o", label=name)
    left.set_xlabel("experiences trained")
    left.set_ylabel("average accuracy on seen experiences (%)")
    left.legend(fontsize=7)
    forgetting = [np.mean([r["forgetting"] or 0 for r in strategies[n]]) * 100 for n in names]
    right.bar(names, forgetting)
    right.set_ylabel("forgetting (%)")
    right.tick_params(axis="x", rotation=45, labelsize=8)
    fig.suptitle(scenario)
    return save_figure(fig, out / f"{scenario}-accuracy-and-forgetting.png")


def hidden_widths_change(run: dict) -> bool:
    """Whether a run's hidden widths (all but the input and output widths) ever changed, by its widths_history."""
    return len({tuple(e["widths"][1:-1]) for e in run.get("widths_history", [])}) > 1


def plot_widths(scenario: str, strategies: dict, out: Path) -> list[Path]:
    """Hidden widths after every epoch, for runs whose topology changed; dotted lines mark appended experiences,
    dashed red lines removed ones (the width right after a removal is drawn at the line)."""
    changing = {
        name: runs[0]["widths_history"] for name, runs in sorted(strategies.items()) if hidden_widths_change(runs[0])
    }
    if not changing:
        return []
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    colours = plt.get_cmap("tab10" if len(changing) <= 10 else "tab20").colors
    styles = ("-", "--", ":", "-.")  # one colour per strategy, one line style per hidden layer
    for i, (name, history) in enumerate(changing.items()):
        x = epoch_axis(history)
        for k in range(len(history[0]["widths"]) - 2):
            widths = [e["widths"][k + 1] for e in history]
            ax.plot(x, widths, color=colours[i % len(colours)], linestyle=styles[k % 4], label=f"{name} hidden {k}")
    history = next(iter(changing.values()))
    x = epoch_axis(history)
    for i in range(1, len(history)):
        if history[i].get("event") == "remove":
            ax.axvline(x[i], color="red", linestyle="--", linewidth=1)
        elif history[i]["step"] != history[i - 1]["step"]:
            ax.axvline(x[i] - 0.5, color="gray", linestyle=":", linewidth=1)
    ax.set_xlabel("epoch (dotted: experience appended; dashed red: experience removed)")
    ax.set_ylabel("width (neurons)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(f"{scenario}: hidden widths (seed {strategies[next(iter(changing))][0]['seed']})")
    return [save_figure(fig, out / f"{scenario}-widths.png")]


def epoch_axis(history: list[dict]) -> list[float]:
    """x of each widths record: the start is 0, epochs count 1, 2, ...; a removal sits half-way between two epochs."""
    x, epochs = [], 0
    for record in history:
        if record.get("event") == "start":
            x.append(0)
        elif record.get("event") == "remove":
            x.append(epochs + 0.5)
        else:
            epochs += 1
            x.append(epochs)
    return x
