"""The `isocl` command: run scenarios, list what is registered, report and reproduce results.

isocl run [SCENARIO ...] [--strategies a,b] [--seeds 0,1] [--epochs N] [--data-root DIR] [--out DIR] [--restart]
          [--wandb offline|online|disabled] [--device cpu|cuda] [--debug]
          [--jobs N] [--threads T] [--launcher local|slurm] [--partition P] [--time MIN] [--gpus-per-job G] [--no-wait]
isocl list
isocl report DIR
isocl reproduce SUMMARY.json

A user's mistake is one line on stderr naming the field or file and the fix, exit code 2, before anything trains;
`--debug` shows the traceback instead.
"""

import argparse
import sys
import warnings
from dataclasses import replace
from pathlib import Path

from isocl.data import DatasetNotFoundError
from isocl.errors import ConfigError, RunFolderError
from isocl.harness.config import DEFAULT_SCENARIO, shipped_scenarios, with_overrides
from isocl.harness.sweep import LAUNCHERS
from isocl.harness.wandb_log import WANDB_MODES

USER_ERRORS = (ConfigError, RunFolderError, DatasetNotFoundError, FileNotFoundError)


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


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _sweep_options(run: argparse.ArgumentParser) -> None:
    sweep = run.add_argument_group(
        "sweeps (each strategy and seed one job, through submitit: pip install isocl[cluster])"
    )
    sweep.add_argument("--jobs", type=_positive, default=1, help="jobs at a time (default 1: in this process)")
    sweep.add_argument("--threads", type=_positive, help="CPU threads per job (default: cores // jobs)")
    sweep.add_argument("--launcher", choices=LAUNCHERS, default="local", help="local (default) or slurm")
    sweep.add_argument("--partition", help="slurm partition")
    sweep.add_argument("--time", type=_positive, default=24 * 60, help="a job's time limit in minutes (1440)")
    sweep.add_argument("--gpus-per-job", type=int, default=0, help="slurm: GPUs per job (0)")
    sweep.add_argument("--no-wait", action="store_true", help="slurm: submit and return (collect with isocl report)")


def _run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--data-root", type=Path, help="folder holding the data sets (default: $ISOCL_DATA_ROOT or ./data)"
    )
    run.add_argument(
        "--download", action="store_true", help="let torchvision download a missing data set (needs internet)"
    )
    run.add_argument("--wandb", choices=WANDB_MODES, default="offline", help="W&B mode (default: offline)")
    run.add_argument("--wandb-timeout", type=float, default=15.0, help="seconds for W&B online start/finish (15)")
    run.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad flag reported as one line (exit code 2) like every other user error."""

    def error(self, message: str):
        self.exit(2, f"isocl: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="isocl", description="Continual-learning benchmarks on isotropic networks.")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run a scenario (default: %(default)s)")
    run.add_argument("scenario", nargs="*", default=[DEFAULT_SCENARIO], help="shipped scenario names or .yaml paths")
    run.add_argument("--strategies", type=_names, help="comma-separated subset or extension of the scenario's")
    run.add_argument("--seeds", type=_ints, help="comma-separated seeds, e.g. 0,1,2")
    run.add_argument("--epochs", type=int, help="epochs per experience")
    run.add_argument("--backbone", help="another backbone type (results named <scenario>-<type without _>)")
    run.add_argument("--out", type=Path, default=Path("runs"), help="results folder (default: runs)")
    run.add_argument("--restart", action="store_true", help="discard what the run folders hold and start again")
    _run_options(run)
    _sweep_options(run)
    commands.add_parser("list", help="list strategies and shipped scenarios")
    report = commands.add_parser("report", help="tables and plots from a results folder")
    report.add_argument("directory", type=Path)
    report.add_argument("--out", type=Path, help="where to write report.md and the plots (default: DIRECTORY)")
    again = commands.add_parser("reproduce", help="re-run a summary.json's config; is its matrix the same?")
    again.add_argument("summary", type=Path)
    _run_options(again)
    return parser


def _device(requested: str | None) -> str:
    import torch

    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ConfigError(f"--device {requested!r} is not a device; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {requested}: no CUDA device is available here; use --device cpu")
    return requested


def _writable(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the results")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".isocl-write-test").touch()
        (out / ".isocl-write-test").unlink()
    except OSError as error:
        raise ConfigError(f"--out {out} is not writable ({error.strerror}); give another folder") from None
    return out


def _options(args, out: Path):
    from isocl.harness.runner import RunOptions

    return RunOptions(
        out=out,
        data_root=args.data_root,
        download=args.download,
        wandb=args.wandb,
        wandb_timeout=args.wandb_timeout,
        device=_device(args.device),
        progress=not args.no_progress,
        restart=getattr(args, "restart", False),
    )


def _scenarios(args) -> tuple[list, list]:
    """The stream scenarios (command-line overrides applied) and the scheduled-task ones (--seeds only)."""
    from isocl.harness.scheduled_config import ScheduledScenario, load_experiment

    overrides = dict(strategies=args.strategies, seeds=args.seeds, epochs=args.epochs, backbone=args.backbone)
    streams, scheduled = [], []
    for experiment in map(load_experiment, args.scenario):
        if isinstance(experiment, ScheduledScenario):
            if args.strategies or args.epochs or args.backbone:
                raise ConfigError(
                    f"{experiment.name}: a scheduled-task scenario takes --seeds only (set the rest in it)"
                )
            scheduled.append(replace(experiment, seeds=tuple(args.seeds)) if args.seeds else experiment)
        else:
            streams.append(with_overrides(experiment, **overrides))
    return streams, scheduled


def _run_scheduled(args, scenario) -> None:
    from isocl.harness.scheduled import run_all
    from isocl.harness.scheduled_report import write_report

    summaries = run_all(scenario, args.out, args.data_root, restart=args.restart)
    report = write_report(scenario.name, summaries, args.out / scenario.name)
    print(report.read_text())
    print(f"report (table, accuracy and widths plot): {report}")


def _launch(args):
    from isocl.harness.sweep import Launch

    if args.launcher != "slurm":
        for flag, value in (
            ("--partition", args.partition),
            ("--gpus-per-job", args.gpus_per_job),
            ("--no-wait", args.no_wait),
        ):
            if value:
                raise ConfigError(f"{flag} is for --launcher slurm; drop it or add --launcher slurm")
    if args.gpus_per_job < 0:
        raise ConfigError(f"--gpus-per-job={args.gpus_per_job} must be 0 or more")
    return Launch(
        args.jobs, args.launcher, args.threads, args.partition, args.time, args.gpus_per_job, not args.no_wait
    )


def _summaries(args, scenarios, options, launch) -> dict[str, list[dict]]:
    """Each scenario's summaries: run here one after another (--jobs 1), or as a sweep of jobs."""
    import torch

    from isocl.harness.runner import run_scenario
    from isocl.harness.sweep import run_sweep

    if not scenarios:
        return {}
    if launch.jobs == 1 and launch.launcher == "local":
        if launch.threads:
            torch.set_num_threads(launch.threads)
        return {s.name: run_scenario(s, options) for s in scenarios}
    states = run_sweep(scenarios, options, launch)
    return {s.name: [j.summary for j in states if j.scenario == s.name and j.summary] for s in scenarios}


def _run(args) -> int:
    from isocl.harness.report import comparison_table, write_report

    scenarios, scheduled = _scenarios(args)
    launch = _launch(args)
    options = _options(args, _writable(args.out))
    for scenario in scheduled:
        _run_scheduled(args, scenario)
    for name, summaries in _summaries(args, scenarios, options, launch).items():
        if summaries:
            print(comparison_table(summaries))
            report = write_report(args.out / name, args.out / name)
            print(f"\nresults in {args.out / name}")
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


def _reproduce(args) -> int:
    from isocl.harness.reproduce import reproduce

    if not args.summary.is_file():
        raise ConfigError(f"{args.summary}: no such summary.json")
    identical, lines = reproduce(args.summary, _options(args, Path(".")))
    print("\n".join(lines))
    return 0 if identical else 1


COMMANDS = {"run": _run, "list": lambda args: _list(), "report": _report, "reproduce": _reproduce}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.command is None:  # `isocl` alone runs the default scenario
        args = _parser().parse_args(["run", *argv])
    warnings.filterwarnings("ignore", module="avalanche")  # its deprecation chatter, not ours
    try:
        return COMMANDS[args.command](args)
    except USER_ERRORS as error:
        if getattr(args, "debug", False):
            raise
        print(f"isocl: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a full disk, a folder that vanished: say which file, keep what was written
        if getattr(args, "debug", False):
            raise
        print(f"isocl: error: cannot write {error.filename or 'a result file'} ({error.strerror})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
