"""Tables (mean +- std over seeds) and plots from the summaries in a results folder.

Everything is computed from `summary.json` files: the report never reaches back into training.
"""

from collections import defaultdict
from pathlib import Path

import numpy as np

from isocl.harness.store import read_json

COLUMNS = (
    ("average_accuracy", "avg acc", 100),
    ("forgetting", "forgetting", 100),
    ("bwt", "BWT", 100),
)


def find_summaries(directory: Path) -> list[dict]:
    summaries = [read_json(p) for p in sorted(Path(directory).rglob("summary.json"))]
    if not summaries:
        raise FileNotFoundError(f"no summary.json under {directory}; run `isocl run` with --out {directory} first")
    return summaries


def _mean_std(values: list) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def _grouped(summaries: list[dict]) -> dict:
    groups = defaultdict(lambda: defaultdict(list))
    for s in summaries:
        groups[s["scenario"]][s["strategy"]].append(s)
    return groups


def comparison_table(summaries: list[dict]) -> str:
    """A markdown table per scenario: one row per strategy, mean ± std over seeds (percent)."""
    blocks = []
    for scenario, strategies in _grouped(summaries).items():
        backbone = next(iter(strategies.values()))[0]["config"]["backbone"]["type"]
        lines = [
            f"### {scenario} ({backbone})",
            "",
            "| strategy | seeds | avg acc (%) | forgetting (%) | BWT (%) | params | train s |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, runs in sorted(strategies.items(), key=lambda kv: -np.mean([r["average_accuracy"] for r in kv[1]])):
            cells = [
                _mean_std([r[key] * scale if r[key] is not None else None for r in runs]) for key, _, scale in COLUMNS
            ]
            params = int(np.mean([r["params"] for r in runs]))
            seconds = _mean_std([r["train_seconds"] for r in runs])
            lines.append(f"| {name} | {len(runs)} | {' | '.join(cells)} | {params:,} | {seconds} |")
        blocks.append("\n".join(lines))
        if any(r.get("removals") for runs in strategies.values() for r in runs):
            blocks.append(removal_table(strategies))
    return "\n\n".join(blocks)


def removal_table(strategies: dict) -> str:
    """Per removal: accuracy on the experiences retained at that moment just before, just after and at the end,
    the removed experience's accuracy before, and parameter counts before, right after and at the end."""
    lines = [
        "| strategy | removed | retained acc before / after / end (%) | removed acc before (%) "
        "| params before / after / end |",
        "|---|---|---|---|---|",
    ]
    for name, runs in sorted(strategies.items()):
        for n, first in enumerate(runs[0].get("removals", [])):
            entries = [r["removals"][n] for r in runs]

            def pct(key, entries=entries):
                return _mean_std([e[key] * 100 if e[key] is not None else None for e in entries])

            accs = " / ".join(pct(k) for k in ("retained_accuracy_before", "retained_accuracy_after"))
            counts = [int(np.mean([e[k]["params"] for e in entries])) for k in ("before", "after", "end")]
            params = " / ".join(f"{c:,}" for c in counts)
            lines.append(
                f"| {name} | {first['experience']} | {accs} / {pct('retained_accuracy_end')} "
                f"| {pct('removed_accuracy_before')} | {params} |"
            )
    return "Removals (retained: the experiences kept at the removal)\n\n" + "\n".join(lines)


def _plot_scenario(scenario: str, strategies: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(strategies)
    matrices = {n: np.mean([r["accuracy_matrix"] for r in strategies[n]], axis=0) for n in names}
    paths = []

    cols = min(len(names), 5)
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        matrix = matrices[name]
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
    fig.tight_layout()
    paths.append(out / f"{scenario}-accuracy-matrices.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

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
    fig.tight_layout()
    paths.append(out / f"{scenario}-accuracy-and-forgetting.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def _plot_widths(scenario: str, strategies: dict, out: Path) -> list[Path]:
    """Hidden widths after every epoch, for runs whose topology changed; dotted lines mark appended experiences,
    dashed red lines removed ones (the width right after a removal is drawn at the line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    changing = {
        name: runs[0]["widths_history"]
        for name, runs in sorted(strategies.items())
        if len({tuple(e["widths"][1:-1]) for e in runs[0].get("widths_history", [])}) > 1  # hidden widths
    }
    if not changing:
        return []
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, history in changing.items():
        x = _epoch_axis(history)
        for k in range(len(history[0]["widths"]) - 2):
            ax.plot(x, [e["widths"][k + 1] for e in history], label=f"{name} hidden {k}")
    history = next(iter(changing.values()))
    x = _epoch_axis(history)
    for i in range(1, len(history)):
        if history[i].get("event") == "remove":
            ax.axvline(x[i], color="red", linestyle="--", linewidth=1)
        elif history[i]["step"] != history[i - 1]["step"]:
            ax.axvline(x[i] - 0.5, color="gray", linestyle=":", linewidth=1)
    ax.set_xlabel("epoch (dotted: experience appended; dashed red: experience removed)")
    ax.set_ylabel("width (neurons)")
    ax.legend(fontsize=7)
    ax.set_title(f"{scenario}: hidden widths (seed {strategies[next(iter(changing))][0]['seed']})")
    fig.tight_layout()
    path = out / f"{scenario}-widths.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def _epoch_axis(history: list[dict]) -> list[float]:
    """x of each widths record: epochs count 1, 2, ...; a removal sits half-way between two epochs."""
    x, epochs = [], 0
    for record in history:
        if record.get("event") == "remove":
            x.append(epochs + 0.5)
        else:
            epochs += 1
            x.append(epochs)
    return x


def write_report(directory: Path, out: Path) -> Path:
    """report.md (tables and plot links) plus PNG plots, written to `out`."""
    summaries = find_summaries(directory)
    out.mkdir(parents=True, exist_ok=True)
    sections = ["# isocl report", "", comparison_table(summaries), ""]
    for scenario, strategies in _grouped(summaries).items():
        for path in _plot_scenario(scenario, strategies, out) + _plot_widths(scenario, strategies, out):
            sections.append(f"![{path.stem}]({path.name})")
    report = out / "report.md"
    report.write_text("\n".join(sections) + "\n")
    return report
