"""The neuro-abundance experiment's report: final test accuracy of every arm (mean, 95% CI over seeds), each moving
arm against the static network of its end width (paired by seed: mean difference, 95% CI, paired t-test), and
accuracy and width over epochs."""

from collections import defaultdict
from pathlib import Path

import numpy as np

from isocl.harness.plots import _pyplot, save_figure
from isocl.harness.stats import mean_ci, paired_difference


def by_arm(summaries: list[dict]) -> dict[str, list[dict]]:
    groups = defaultdict(list)
    for s in sorted(summaries, key=lambda s: s["seed"]):
        groups[s["arm"]].append(s)
    return dict(groups)


def final_accuracy(run: dict) -> float:
    return 100 * run["epochs"][-1]["accuracy"]


def largest_resize_drop(run: dict) -> float:
    """The largest fall of test accuracy (points) from one epoch's end to just after the next epoch's resize."""
    epochs = run["epochs"]
    drops = [
        100 * (before["accuracy"] - after["accuracy_after_resize"])
        for before, after in zip(epochs, epochs[1:], strict=False)
        if after["accuracy_after_resize"] is not None
    ]
    return max(drops, default=0.0)


def _cell(values: list[float]) -> str:
    mean, _, half = mean_ci(values)
    return f"{mean:.2f}" + (f" ± {half:.2f}" if half is not None else "")


def arm_table(groups: dict) -> str:
    """Final accuracy (%): mean ± 95% CI half-width; parameters at the end; training seconds per run."""
    lines = ["| arm | widths | seeds | final test acc (%) | largest drop at a resize (pts) | params at end | train s |"]
    lines.append("|---|---|---|---|---|---|---|")
    for arm, runs in sorted(groups.items(), key=lambda kv: (kv[1][0]["end"], kv[1][0]["start"] == kv[1][0]["end"])):
        first = runs[0]
        seconds = np.mean([sum(e["seconds"] for e in r["epochs"]) for r in runs])
        drop = np.mean([largest_resize_drop(r) for r in runs])
        lines.append(
            f"| {arm} | {first['start']} -> {first['end']} | {len(runs)} | {_cell([final_accuracy(r) for r in runs])}"
            f" | {drop:.2f} | {first['epochs'][-1]['params']:,} | {seconds:.0f} |"
        )
    return "\n".join(lines)


def paired_table(groups: dict) -> str:
    """Each moving arm minus `static-<end>` over the seeds both have (a run is paired with the same seed)."""
    lines = ["| arm - static of its end width | pairs | mean difference (pts) | 95% CI | p (paired t) |"]
    lines.append("|---|---|---|---|---|")
    for arm, runs in sorted(groups.items()):
        control = {r["seed"]: r for r in groups.get(f"static-{runs[0]['end']}", [])}
        pairs = [(final_accuracy(r), final_accuracy(control[r["seed"]])) for r in runs if r["seed"] in control]
        if runs[0]["start"] == runs[0]["end"] or len(pairs) < 2:
            continue
        d = paired_difference(*zip(*pairs, strict=True))
        lines.append(
            f"| {arm} - static-{runs[0]['end']} | {d['n']} | {d['mean']:+.2f} | [{d['ci_low']:+.2f}, "
            f"{d['ci_high']:+.2f}] | {d['p_value']:.3f} |"
        )
    return "\n".join(lines)


def plot(name: str, groups: dict, out: Path) -> Path:
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for arm, runs in sorted(groups.items()):
        accuracy = 100 * np.mean([[e["accuracy"] for e in r["epochs"]] for r in runs], axis=0)
        epochs = np.arange(1, len(accuracy) + 1)
        (line,) = top.plot(epochs, accuracy, label=f"{arm} ({len(runs)} seeds)")
        bottom.plot(epochs, [e["width"] for e in runs[0]["epochs"]], color=line.get_color())
    top.set_ylabel("test accuracy (%)")
    bottom.set_ylabel("hidden width (each layer)")
    bottom.set_xlabel("epoch")
    top.legend(fontsize=7)
    fig.suptitle(f"{name}: accuracy and width over epochs (mean over seeds)")
    return save_figure(fig, Path(out) / f"{name}-accuracy-and-widths.png")


def sections(name: str, summaries: list[dict], out: Path) -> list[str]:
    groups = by_arm(summaries)
    figure = plot(name, groups, out)
    commits = sorted({str(s.get("git_commit")) for s in summaries})
    return [
        arm_table(groups),
        "",
        paired_table(groups),
        "",
        f"![accuracy and widths]({figure.name})",
        "",
        f"Made by commit(s) {', '.join(commits)}.",
    ]


def write_report(name: str, summaries: list[dict], out: Path) -> Path:
    path = Path(out) / "report.md"
    path.write_text("\n".join([f"# {name}", "", *sections(name, summaries, out)]) + "\n")
    return path
