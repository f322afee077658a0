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

import sys
import warnings
from pathlib import Path

from isocl.cli.parser import build_parser
from isocl.cli.run import options_from_args, run_command
from isocl.data import DatasetNotFoundError
from isocl.errors import ConfigError, RunFolderError
from isocl.harness.config import shipped_scenarios

USER_ERRORS = (ConfigError, RunFolderError, DatasetNotFoundError, FileNotFoundError)


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
    identical, lines = reproduce(args.summary, options_from_args(args, Path(".")))
    print("\n".join(lines))
    return 0 if identical else 1


COMMANDS = {"run": run_command, "list": lambda args: _list(), "report": _report, "reproduce": _reproduce}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command is None:  # `isocl` alone runs the default scenario
        args = build_parser().parse_args(["run", *argv])
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
