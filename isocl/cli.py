"""The `isocl` command: run scenarios, list what is registered, report results.

isocl run [SCENARIO] [--strategies a,b] [--seeds 0,1] [--epochs N] [--data-root DIR] [--out DIR]
          [--wandb offline|online|disabled]
isocl list
isocl report DIR
"""

import argparse
import sys
import warnings
from pathlib import Path

from isocl.data import DatasetNotFoundError
from isocl.errors import ConfigError
from isocl.harness.config import DEFAULT_SCENARIO, load_scenario, shipped_scenarios, with_overrides
from isocl.harness.wandb_log import WANDB_MODES


def _names(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give a comma-separated list, e.g. naive,ewc")
    return names


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in _names(text)]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="isocl", description="Continual-learning benchmarks on isotropic networks.")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run a scenario (default: %(default)s)")
    run.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO, help="a shipped scenario name or a .yaml path")
    run.add_argument("--strategies", type=_names, help="comma-separated subset or extension of the scenario's")
    run.add_argument("--seeds", type=_ints, help="comma-separated seeds, e.g. 0,1,2")
    run.add_argument("--epochs", type=int, help="epochs per experience")
    run.add_argument(
        "--backbone", help="tanh_mlp or iso_mlp instead of the scenario's (results named <scenario>-isomlp)"
    )
    run.add_argument(
        "--data-root", type=Path, help="folder holding the data sets (default: $ISOCL_DATA_ROOT or ./data)"
    )
    run.add_argument("--download", action="store_true", help="let torchvision download CIFAR (needs internet)")
    run.add_argument("--out", type=Path, default=Path("runs"), help="results folder (default: runs)")
    run.add_argument("--wandb", choices=WANDB_MODES, default="offline", help="W&B mode (default: offline)")
    run.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    commands.add_parser("list", help="list strategies and shipped scenarios")
    report = commands.add_parser("report", help="tables and plots from a results folder")
    report.add_argument("directory", type=Path)
    report.add_argument("--out", type=Path, help="where to write report.md and the plots (default: DIRECTORY)")
    return parser


def _run(args) -> int:
    from isocl.harness.report import comparison_table, write_report
    from isocl.harness.runner import RunOptions, default_device, run_scenario

    scenario = with_overrides(
        load_scenario(args.scenario),
        strategies=args.strategies,
        seeds=args.seeds,
        epochs=args.epochs,
        backbone=args.backbone,
    )
    options = RunOptions(
        out=args.out,
        data_root=args.data_root,
        download=args.download,
        wandb=args.wandb,
        device=args.device or default_device(),
        progress=not args.no_progress,
    )
    summaries = run_scenario(scenario, options)
    print(comparison_table(summaries))
    report = write_report(args.out / scenario.name, args.out / scenario.name)
    print(f"\nresults in {args.out / scenario.name}")
    print(f"report (tables, accuracy and widths plots): {report}")
    return 0


def _list() -> int:
    from isocl.cl.strategy import ALIASES, ISO_PREFIX, STRATEGIES, TopologyPolicy, strategy_parameters

    print("strategies (each X also runs as iso-X: X on an isotropic network with the topology policy):")
    for name in STRATEGIES.names():
        params = ", ".join(f"{k}={v}" for k, v in strategy_parameters(name).items())
        print(f"  {name:<14} {params}")
    policy = ", ".join(f"{k}={v}" for k, v in vars(TopologyPolicy()).items())
    print(f"  {ISO_PREFIX + 'X':<14} X's parameters + {policy}")
    print("  aliases: " + ", ".join(f"{old} = {new}" for old, new in ALIASES.items()))
    print("scenarios:")
    shipped = shipped_scenarios()
    width = max(map(len, shipped), default=0)
    for name, path in shipped.items():
        print(f"  {name:<{width}} {path}")
    return 0


def _report(args) -> int:
    from isocl.harness.report import write_report

    path = write_report(args.directory, args.out or args.directory)
    print(path.read_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    warnings.filterwarnings("ignore", module="avalanche")  # its deprecation chatter, not ours
    try:
        if args.command == "list":
            return _list()
        if args.command == "report":
            return _report(args)
        if args.command is None:  # `isocl` alone runs the default scenario
            args = _parser().parse_args(["run", *(argv or [])])
        return _run(args)
    except (ConfigError, DatasetNotFoundError, FileNotFoundError) as error:
        print(f"isocl: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
