"""Benchmark of sweeps: the wall time of whole scenarios run one job at a time (`--jobs 1`, in one process) and as
a sweep of N jobs at a time (`--jobs N`, through submitit's local executor), on this machine.

    python benchmarks/sweep.py [--scenarios split-digits split-mnist-task] [--jobs 2] [--seeds 0] [--repeats 1]
                               [--strategies a,b] [--epochs N] [--data-root ../shared/data]
                               [--out results/sweep-benchmark.json]

Each measurement is a fresh `isocl run` in a subprocess into an empty folder (W&B off, no progress bars), the
serial and the parallel run alternating per repeat; the ratio is serial / parallel wall time (above 1: the sweep is
faster). Both runs give the same summaries bit for bit when each job gets the threads a serial run has (tests/
test_sweep.py); here each uses its default (all cores serially, cores // N per job), as a user would. Run it on an
otherwise idle machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from isocl.harness.provenance import code_state


def wall_time(scenario: str, jobs: int, seeds: str, data_root: str | None, subset: dict) -> float:
    """`subset`: the --strategies and --epochs overrides given (None: the scenario's own)."""
    with tempfile.TemporaryDirectory(prefix="isocl-sweep-bench-") as out:
        command = [sys.executable, "-m", "isocl.cli", "run", scenario, "--out", out, "--seeds", seeds]
        command += [f"--{flag}={value}" for flag, value in subset.items() if value is not None]
        command += [
            "--jobs",
            str(jobs),
            "--wandb",
            "disabled",
            "--no-progress",
            *(["--data-root", data_root] if data_root else []),
        ]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


def measure(scenario: str, jobs: int, seeds: str, repeats: int, data_root: str | None, subset: dict) -> dict:
    serial, parallel = [], []
    for _ in range(repeats):
        serial.append(wall_time(scenario, 1, seeds, data_root, subset))
        parallel.append(wall_time(scenario, jobs, seeds, data_root, subset))
        print(f"{scenario}: jobs 1 {serial[-1]:.1f} s, jobs {jobs} {parallel[-1]:.1f} s", flush=True)
    return {
        "scenario": scenario,
        "seeds": seeds,
        "strategies": subset["strategies"] or "all of the scenario's",
        "epochs": subset["epochs"] or "the scenario's",
        "jobs": jobs,
        "serial_seconds": serial,
        "parallel_seconds": parallel,
        "ratio_serial_over_parallel": round(statistics.median(serial) / statistics.median(parallel), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=["split-digits", "split-mnist-task"])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--strategies", help="a subset for every scenario, e.g. naive,ewc,si,lwf")
    parser.add_argument("--epochs", type=int, help="epochs per experience for every scenario (a shorter run)")
    parser.add_argument("--data-root")
    parser.add_argument("--out", type=Path, default=Path("results/sweep-benchmark.json"))
    args = parser.parse_args()
    subset = {"strategies": args.strategies, "epochs": args.epochs}
    rows = [measure(s, args.jobs, args.seeds, args.repeats, args.data_root, subset) for s in args.scenarios]
    record = {"cpu_count": os.cpu_count(), **code_state(), "command": " ".join(sys.argv), "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
