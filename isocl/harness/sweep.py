"""Sweeps: every (scenario, strategy, seed) run as one job, N at a time on this machine or as a SLURM job array.

The jobs go through submitit, an existing engine (local and SLURM executors, job arrays, requeue on preemption):
it starts, watches and, on a cluster, requeues the processes; isocl only says what each job runs. A job is the run
it would be serially: it builds its stream from its seed, resumes from its folder's checkpoint and holds the
folder's lock while it trains. So a sweep killed at any moment resumes by running the same command again (finished
runs are reused, unfinished ones resume from their last finished event), and two sweeps over one output folder never
train the same run.

Summaries are bitwise identical across `--jobs` when every run gets the same number of CPU threads: PyTorch's CPU
reductions depend on it (measured: iso-naive on split-digits differs between 1 and 2 threads). `--threads` fixes
it; by default a job gets cores // jobs.
"""

import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

try:  # the optional extra isocl[cluster]; without it only --jobs 1 runs (and _executor says how to install it)
    from submitit.helpers import Checkpointable
except ImportError:
    Checkpointable = object

from isocl.errors import ConfigError
from isocl.harness import folders, store
from isocl.harness.config import Scenario
from isocl.harness.runner import RunOptions, check_runs, run_scenario

LAUNCHERS = ("local", "slurm")
POLL_SECONDS = 0.5
SWEEP_FILE = "sweep.json"  # the jobs' states, rewritten at every change: readable while the sweep runs


@dataclass(frozen=True)
class Launch:
    """How the jobs run: how many at once, where, with what resources."""

    jobs: int = 1
    launcher: str = "local"
    threads: int | None = None  # CPU threads per job (default cores // jobs)
    partition: str | None = None  # slurm
    time_min: int = 24 * 60  # a job's wall-clock limit
    gpus_per_job: int = 0  # slurm; locally every job sees the machine's GPUs, so N jobs share one
    wait: bool = True  # slurm: watch the jobs to the end (else submit and return)

    def threads_per_job(self) -> int:
        return self.threads or max(1, (os.cpu_count() or 1) // self.jobs)


@dataclass
class JobState:
    scenario: str
    strategy: str
    seed: int
    state: str = "pending"  # pending | running | done | resumed | reused | failed | skipped
    reason: str = ""
    seconds: float | None = None
    summary: dict | None = field(default=None, repr=False)
    job_scenario: Scenario | None = field(default=None, repr=False)  # the scenario cut to this one run
    started: float = field(default=0.0, repr=False)
    resuming: bool = field(default=False, repr=False)

    def row(self) -> dict:
        return {k: getattr(self, k) for k in ("scenario", "strategy", "seed", "state", "reason", "seconds")}


class RunJob(Checkpointable):
    """What one job runs, in its own process: the scenario's single run; None when another process holds its
    folder. Checkpointable: SLURM requeues it after a preemption or a timeout with the same arguments, and the run
    resumes from its own checkpoint."""

    def __call__(self, scenario: Scenario, options: RunOptions, threads: int) -> dict | None:
        torch.set_num_threads(threads)
        summaries = run_scenario(scenario, options)
        return summaries[0] if summaries else None


def one_run(scenario: Scenario, strategy: str, seed: int) -> Scenario:
    return dataclasses.replace(scenario, strategies={strategy: scenario.strategies[strategy]}, seeds=(seed,))


def plan_jobs(scenarios: list[Scenario], options: RunOptions) -> list[JobState]:
    """Every run of every scenario, its folder checked before anything is submitted (a stale folder stops the sweep
    here, naming it); --restart empties the unfinished ones now, so that a requeued job resumes instead."""
    states = []
    for scenario in scenarios:
        for run, finished in check_runs(scenario, options):
            state = JobState(scenario.name, run.strategy_name, run.seed)
            if finished is not None:
                state.state, state.summary = "reused", finished
            else:
                if options.restart:
                    folders.empty_folder(run)
                state.job_scenario = one_run(scenario, run.strategy_name, run.seed)
                state.resuming = folders.has_checkpoint(run)
            states.append(state)
    return states


def _executor(launch: Launch, folder: Path):
    try:
        import submitit
    except ImportError:
        raise ConfigError("--jobs and --launcher need submitit: pip install 'isocl[cluster]'") from None
    if launch.launcher == "slurm":
        try:
            executor = submitit.SlurmExecutor(folder=folder)
        except RuntimeError:
            raise ConfigError("--launcher slurm: no SLURM here (srun not found); use --launcher local") from None
        executor.update_parameters(
            job_name="isocl",
            time=launch.time_min,
            partition=launch.partition,
            gpus_per_node=launch.gpus_per_job or None,
            cpus_per_task=launch.threads_per_job(),
            array_parallelism=launch.jobs,
        )
        return executor
    executor = submitit.LocalExecutor(folder=folder)
    executor.update_parameters(timeout_min=launch.time_min)
    return executor


def _finish(state: JobState, job) -> None:
    """The job's outcome: its summary, or the reason it has none."""
    state.seconds = round(time.time() - state.started, 1)
    try:
        summary = job.result()
    except Exception as error:  # the job's process raised or was killed: report it, the others go on
        lines = [line for line in str(error).strip().splitlines() if line.strip()] or [type(error).__name__]
        state.state, state.reason = "failed", lines[-1].strip()[:300]
        return
    if summary is None:
        state.state, state.reason = "skipped", "its folder is in use by another isocl process"
    elif summary.get("status") == "failed":
        state.state, state.reason, state.summary = "failed", summary.get("failure", ""), summary
    else:
        state.state, state.summary = ("resumed" if state.resuming else "done"), summary


class SweepLog:
    """One line per change on stdout, and the whole table in OUT/sweep.json (rewritten at each change)."""

    def __init__(self, states: list[JobState], out: Path):
        self.states, self.path = states, Path(out) / SWEEP_FILE

    def changed(self, state: JobState) -> None:
        ended = sum(s.state not in ("pending", "running") for s in self.states)
        reason = f" ({state.reason})" if state.reason else ""
        took = f" in {state.seconds} s" if state.seconds is not None else ""
        print(
            f"[{ended}/{len(self.states)}] {state.scenario} {state.strategy} seed {state.seed}: {state.state}"
            f"{took}{reason}",
            flush=True,
        )
        store.write_json_atomic(self.path, {"jobs": [s.row() for s in self.states]})


def _submit(executor, state: JobState, options: RunOptions, launch: Launch, log: SweepLog):
    job = executor.submit(RunJob(), state.job_scenario, options, launch.threads_per_job())
    state.state, state.started = "running", time.time()
    log.changed(state)
    return job


def _watch(running: dict, log: SweepLog, refill=lambda: None) -> None:
    """Poll until every job has ended, calling `refill` after each that ends (local: submit the next)."""
    while running:
        for job in [j for j in running if j.done()]:
            state = running.pop(job)
            _finish(state, job)
            log.changed(state)
            refill()
        time.sleep(POLL_SECONDS)


def _run_local(executor, pending: list[JobState], options: RunOptions, launch: Launch, log: SweepLog) -> None:
    queue, running = list(pending), {}

    def refill():
        while queue and len(running) < launch.jobs:
            state = queue.pop(0)
            running[_submit(executor, state, options, launch, log)] = state

    refill()
    try:
        _watch(running, log, refill)
    except KeyboardInterrupt:
        for job in running:
            job.cancel(check=False)
        raise


def _run_slurm(executor, pending: list[JobState], options: RunOptions, launch: Launch, log: SweepLog) -> None:
    with executor.batch():  # one job array, at most `jobs` tasks at a time
        jobs = [executor.submit(RunJob(), s.job_scenario, options, launch.threads_per_job()) for s in pending]
    running = dict(zip(jobs, pending, strict=True))
    for job, state in running.items():
        state.state, state.started, state.reason = "running", time.time(), f"slurm job {job.job_id}"
        log.changed(state)
    if launch.wait:
        _watch(running, log)


def run_sweep(scenarios: list[Scenario], options: RunOptions, launch: Launch) -> list[JobState]:
    """Run every job of the scenarios through submitit; returns their states (summaries included)."""
    states = plan_jobs(scenarios, options)
    log = SweepLog(states, options.out)
    for state in states:
        if state.state == "reused":
            log.changed(state)
    pending = [s for s in states if s.state == "pending"]
    if pending:
        executor = _executor(launch, Path(options.out) / ".submitit")
        job_options = dataclasses.replace(options, restart=False, progress=False)  # emptied above; no bars
        runner = _run_slurm if launch.launcher == "slurm" else _run_local
        runner(executor, pending, job_options, launch, log)
    print(sweep_table(states), file=sys.stdout)
    return states


def sweep_table(states: list[JobState]) -> str:
    lines = ["| scenario | strategy | seed | state | seconds | reason |", "|---|---|---|---|---|---|"]
    for s in states:
        lines.append(f"| {s.scenario} | {s.strategy} | {s.seed} | {s.state} | {s.seconds or ''} | {s.reason} |")
    return "\n".join(lines)
