"""The command line's grammar: commands, flags and their checks (argparse; a bad flag is one line, exit 2)."""

import argparse
from pathlib import Path

from isocl.harness.config import DEFAULT_SCENARIO
from isocl.harness.sweep import LAUNCHERS
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
    run.add_argument(
        "--compile",
        nargs="?",
        const="inductor",
        help="train through torch.compile (fused steps; default backend inductor; needs a C++ compiler on CPU)",
    )
    run.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad flag reported as one line (exit code 2) like every other user error."""

    def error(self, message: str):
        self.exit(2, f"isocl: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="isocl", description="Continual-learning benchmarks on isotropic networks.")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run a scenario (default: %(default)s)")
    run.add_argument("scenario", nargs="*", default=[DEFAULT_SCENARIO], help="shipped scenario names or .yaml paths")
    run.add_argument("--strategies", type=_names, help="comma-separated subset or extension of the scenario's")
    run.add_argument("--seeds", type=_ints, help="comma-separated seeds, e.g. 0,1,2")
    run.add_argument("--epochs", type=int, help="epochs per experience")
    run.add_argument("--backbone", help="another backbone type (results named <scenario>-<type without _>)")
    run.add_argument("--normalise", help="per_feature | global input normalisation (results named <scenario>-<it>)")
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
