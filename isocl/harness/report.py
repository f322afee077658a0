"""Tables (mean ± std over seeds, 95% intervals, paired comparisons) and plots from a results folder.

Everything is computed from `summary.json` files: the report never reaches back into training. Spreads are sample
standard deviations over seeds (ddof 1) and intervals Student-t 95% intervals of the mean (isocl.harness.stats).
"""

from collections import defaultdict
from pathlib import Path

import numpy as np

from isocl.harness import abundance_report, scheduled_report
from isocl.harness.plots import epoch_axis, hidden_widths_change, plot_scenario, plot_widths
from isocl.harness.stats import holm_where_tested, mean_ci, paired_difference
from isocl.harness.store import read_json

_epoch_axis = epoch_axis  # the name older callers import

COLUMNS = (
    ("average_accuracy", "avg acc", 100),
    ("forgetting", "forgetting", 100),
    ("bwt", "BWT", 100),
)
NO_INTERVAL = "n=1: no interval"

# iso names that are not iso-<control> (the aliases of isocl/cl/strategy.py: iso = iso-naive, iso-ewc =
# iso-ewc-factored, iso-ewc-diag = Avalanche's EWC on an adaptive network); iso-ewc also against Avalanche's ewc,
# its only control in results written before ewc-factored existed
LEGACY_CONTROLS = {"iso": ["naive"], "iso-ewc": ["ewc-factored", "ewc"], "iso-ewc-diag": ["ewc"]}


def find_summaries(directory: Path) -> list[dict]:
    summaries = [read_json(p) for p in sorted(Path(directory).rglob("summary.json"))]
    if not summaries:
        raise FileNotFoundError(f"no summary.json under {directory}; run `isocl run` with --out {directory} first")
    return summaries


def _present(values: list) -> list:
    return [v for v in values if v is not None]


def _mean_std(values: list) -> str:
    """mean ± sample std (ddof 1); one value alone; none: n/a."""
    values = _present(values)
    if not values:
        return "n/a"
    mean, std, _ = mean_ci(values)
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def _interval(values: list) -> str:
    """The 95% t interval of the mean as [lo, hi]; one value: no interval."""
    values = _present(values)
    if not values:
        return "n/a"
    mean, _, half = mean_ci(values)
    return NO_INTERVAL if half is None else f"[{mean - half:.2f}, {mean + half:.2f}]"


def _grouped(summaries: list[dict]) -> dict:
    """scenario -> strategy -> finished runs (failed runs are listed apart, never averaged in)."""
    groups = defaultdict(lambda: defaultdict(list))
    for s in summaries:
        if s.get("status", "finished") == "finished":
            groups[s["scenario"]][s["strategy"]].append(s)
    return groups


def failed_runs(summaries: list[dict]) -> str:
    failed = [s for s in summaries if s.get("status") == "failed"]
    if not failed:
        return ""
    lines = ["### Failed runs (not in the tables)", "", "| scenario | strategy | seed | reason |", "|---|---|---|---|"]
    lines += [f"| {s['scenario']} | {s['strategy']} | {s['seed']} | {s.get('failure', '')} |" for s in failed]
    return "\n".join(lines)


def control_of(name: str) -> list[str]:
    """The strategies an isotropic strategy is compared with, most direct first: `iso-X` -> X, the same strategy,
    backbone and head with the topology frozen (aliases: `iso` -> naive, `iso-ewc` -> ewc-factored and ewc,
    `iso-ewc-diag` -> ewc); then `X#equal-LABEL` (or `X#equal`), a fixed network of the iso network's final widths
    (`hidden:`). A label after `#` is otherwise ignored. Strategies not named iso or iso-* have none; a frozen
    iso strategy (`iso-X#frozen`) is a control itself. The report keeps the controls present in the same scenario."""
    name, _, label = name.partition("#")  # a labelled variant (iso-naive#demand) has its unlabelled controls
    if label == "frozen" or not (name == "iso" or name.startswith("iso-")):
        return []
    direct = LEGACY_CONTROLS.get(name, [name.removeprefix("iso-")])
    equal = [f"{c}#equal" + (f"-{label}" if label else "") for c in direct]  # a fixed net of iso-X's final widths
    return list(dict.fromkeys([*direct, *equal]))


def _largest_fixed_params(strategies: dict) -> int | None:
    """The largest final parameter count among the scenario's runs whose hidden widths never changed."""
    fixed = [r["params"] for runs in strategies.values() for r in runs if not hidden_widths_change(r)]
    return max(fixed) if fixed else None


def _strategy_row(name: str, runs: list[dict], largest_fixed: int | None) -> str:
    cells = [_mean_std([r[key] * scale if r[key] is not None else None for r in runs]) for key, _, scale in COLUMNS]
    ci = _interval([r["average_accuracy"] * 100 for r in runs])
    params = float(np.mean([r["params"] for r in runs]))
    ratio = f"{params / largest_fixed:.2f}" if largest_fixed else "n/a"
    seconds = _mean_std([r["train_seconds"] for r in runs])
    rest = " | ".join(cells[1:])
    return f"| {name} | {len(runs)} | {cells[0]} | {ci} | {rest} | {int(params):,} | {ratio} | {seconds} |"


def comparison_table(summaries: list[dict]) -> str:
    """A markdown table per scenario: one row per strategy, mean ± std over seeds (percent), the 95% interval of the
    average accuracy, the final parameters and their ratio to the scenario's largest fixed-topology run; then the
    removal table (if any removal) and the paired "does topology help?" table (if any iso strategy has a control)."""
    blocks = []
    for scenario, strategies in _grouped(summaries).items():
        backbone = next(iter(strategies.values()))[0]["config"]["backbone"]["type"]
        lines = [
            f"### {scenario} ({backbone})",
            "",
            "| strategy | seeds | avg acc (%) | avg acc 95% CI (%) | forgetting (%) | BWT (%) | params "
            "| params / largest fixed | train s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        largest_fixed = _largest_fixed_params(strategies)
        for name, runs in sorted(strategies.items(), key=lambda kv: -np.mean([r["average_accuracy"] for r in kv[1]])):
            lines.append(_strategy_row(name, runs, largest_fixed))
        blocks.append("\n".join(lines))
        if any(r.get("removals") for runs in strategies.values() for r in runs):
            blocks.append(removal_table(strategies))
        if widths := widths_table(strategies):
            blocks.append(widths)
        if topology := topology_table(strategies):
            blocks.append(topology)
    if failed := failed_runs(summaries):
        blocks.append(failed)
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


def _event_label(event: dict) -> str:
    return " ".join(f"{kind} {value}" for kind, value in event.items())


def widths_table(strategies: dict) -> str:
    """Mean hidden widths over seeds at the start and after every event, for the strategies whose widths change:
    whether a width follows the work (rises at appends, falls at removals) reads off one row."""
    changing = {name: runs for name, runs in sorted(strategies.items()) if any(map(hidden_widths_change, runs))}
    if not changing:
        return ""
    events = next(iter(changing.values()))[0]["events"]  # as run: a scenario without `events` trains in order
    labels = ["start", *map(_event_label, events)]
    lines = ["| strategy | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for name, runs in changing.items():
        rows = [[r["widths_history"][0]["widths"], *r["widths"]] for r in runs]  # (seed, point, layer widths)
        means = np.mean([[w[1:-1] for w in row] for row in rows], axis=0)
        cells = ["/".join(f"{w:.0f}" for w in point) for point in means]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "Hidden widths (mean over seeds) at the start and after each event\n\n" + "\n".join(lines)


def paired_comparison(runs: list[dict], controls: list[dict]) -> dict:
    """iso minus control, per seed: the final average accuracy difference in percentage points (stats of
    `paired_difference` when n >= 2, else mean only) and the ratio of mean final parameters, over the seeds present
    in both (a seed run twice counts once: its last summary). `dropped`: the seeds without a partner."""
    mine, theirs = ({r["seed"]: r for r in group} for group in (runs, controls))
    seeds = sorted(mine.keys() & theirs.keys())
    a = [100 * mine[s]["average_accuracy"] for s in seeds]
    b = [100 * theirs[s]["average_accuracy"] for s in seeds]
    result = {"n": len(seeds), "seeds": seeds, "dropped": sorted(mine.keys() ^ theirs.keys())}
    if len(seeds) >= 2:
        result.update(paired_difference(a, b))
    elif seeds:
        result["mean"] = a[0] - b[0]
    if seeds:
        result["params_ratio"] = float(np.mean([mine[s]["params"] for s in seeds])) / float(
            np.mean([theirs[s]["params"] for s in seeds])
        )
    return result


def _topology_row(name: str, control: str, c: dict, p_holm: float | None) -> str:
    n = f"{c['n']}" + (f" (unpaired seeds dropped: {', '.join(map(str, c['dropped']))})" if c["dropped"] else "")
    if c["n"] == 0:
        return f"| {name} | {control} | {n} | n/a | n=0: no paired seeds | n/a | n/a | n/a |"
    ratio = f"{c['params_ratio']:.2f}"
    if c["n"] == 1:
        return f"| {name} | {control} | {n} | {c['mean']:+.2f} | {NO_INTERVAL} | n/a | n/a | {ratio} |"
    ci = f"[{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]"
    return f"| {name} | {control} | {n} | {c['mean']:+.2f} | {ci} | {c['p_value']:.3g} | {p_holm:.3g} | {ratio} |"


def topology_table(strategies: dict) -> str:
    """ "Does topology help?": per isotropic strategy and each of its controls present (control_of), the paired
    per-seed difference of final average accuracy, its p-value alone and Holm-adjusted over the table's tests as
    one family (an adjusted p under 0.05 survives the number of comparisons made), and the parameter ratio. Empty
    when no strategy has a control."""
    pairs = [(name, control) for name in sorted(strategies) for control in control_of(name) if control in strategies]
    if not pairs:
        return ""
    found = [paired_comparison(strategies[name], strategies[control]) for name, control in pairs]
    adjusted = holm_where_tested([c.get("p_value") for c in found])
    rows = [_topology_row(*pair, c, p) for pair, c, p in zip(pairs, found, adjusted, strict=True)]
    header = [
        "Does topology help? (iso strategy minus control, paired by seed: final average accuracy)",
        "",
        "| strategy | control | n | Δ avg acc (pp) | 95% CI (pp) | p (paired t) | p (Holm) | params ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(header + rows)


def abundance_sections(summaries: list[dict], out: Path) -> list[str]:
    """Each neuro-abundance scenario's tables and plot (isocl/harness/abundance_report.py)."""
    sections = []
    for name in sorted({s["scenario"] for s in summaries}):
        runs = [s for s in summaries if s["scenario"] == name]
        sections += [f"### {name} (neuro-abundance)", "", *abundance_report.sections(name, runs, out), ""]
    return sections


def scheduled_sections(summaries: list[dict], out: Path) -> list[str]:
    """Each scheduled-task scenario's phase table and plot (isocl/harness/scheduled_report.py)."""
    sections = []
    for name in sorted({s["scenario"] for s in summaries}):
        groups = scheduled_report.by_policy([s for s in summaries if s["scenario"] == name])
        figure = scheduled_report.plot(name, groups, out)
        sections += [
            f"### {name} (scheduled tasks)",
            "",
            scheduled_report.phase_table(groups),
            "",
            f"![{figure.stem}]({figure.name})",
            "",
        ]
    return sections


def write_report(directory: Path, out: Path) -> Path:
    """report.md (tables and plot links) plus PNG plots, written to `out`."""
    everything = find_summaries(directory)
    summaries = [s for s in everything if "strategy" in s]  # stream runs; the experiments name a policy or an arm
    out.mkdir(parents=True, exist_ok=True)
    sections = ["# isocl report", "", comparison_table(summaries) if summaries else "", ""]
    for scenario, strategies in _grouped(summaries).items():
        for path in plot_scenario(scenario, strategies, out) + plot_widths(scenario, strategies, out):
            sections.append(f"![{path.stem}]({path.name})")
    sections += scheduled_sections([s for s in everything if "policy" in s], out)
    sections += abundance_sections([s for s in everything if "arm" in s], out)
    report = out / "report.md"
    report.write_text("\n".join(sections) + "\n")
    return report
