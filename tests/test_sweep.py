"""Sweeps (isocl/harness/sweep.py): jobs through submitit's local executor are the runs a serial run makes, bit for
bit; a killed sweep resumes; a failed job is reported and the others finish; the SLURM launcher submits one array
with the requested resources."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from isocl.cli import main
from isocl.harness.sweep import JobState, _finish
from tests.test_harness import comparable

pytest.importorskip("submitit")

TINY = {
    "name": "sweep",
    "dataset": "synthetic",
    "setting": "class",
    "n_experiences": 5,
    "backbone": {"type": "iso_mlp", "hidden": [16]},
    "epochs": 1,
    "batch_size": 32,
    "seeds": [0, 1],
    "strategies": {"naive": {}, "iso-naive": {}},
}
QUIET = ["--wandb", "disabled", "--no-progress", "--device", "cpu"]


def scenario_file(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


def summaries(out: Path) -> dict:
    return {
        str(p.relative_to(out)): comparable(json.loads(p.read_text()))
        for p in sorted(out.glob("*/*/seed*/summary.json"))
    }


def states(out: Path) -> dict:
    return {(j["strategy"], j["seed"]): j for j in json.loads((out / "sweep.json").read_text())["jobs"]}


def test_two_jobs_at_a_time_give_the_serial_summaries_bit_for_bit(tmp_path, capsys):
    path = scenario_file(tmp_path)
    assert main(["run", str(path), "--out", str(tmp_path / "serial"), "--threads", "1", *QUIET]) == 0
    assert main(["run", str(path), "--out", str(tmp_path / "jobs"), "--jobs", "2", "--threads", "1", *QUIET]) == 0
    serial, jobs = summaries(tmp_path / "serial"), summaries(tmp_path / "jobs")
    assert len(serial) == 4 and serial == jobs  # provenance, fingerprint and accuracy matrices alike
    assert {j["state"] for j in states(tmp_path / "jobs").values()} == {"done"}
    assert "| sweep | iso-naive | 1 | done |" in capsys.readouterr().out


def _wait_for_a_partial_sweep(out: Path, process: subprocess.Popen) -> None:
    """Until one run has finished and another has a checkpoint but no summary (then the sweep is killed)."""
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        finished = list(out.glob("*/*/seed*/summary.json"))
        partial = [p for p in out.glob("*/*/seed*/checkpoint.pt") if not (p.parent / "summary.json").exists()]
        if finished and partial:
            return
        time.sleep(0.2)
    pytest.fail("the sweep ended (or stalled) before it was half done: make the scenario longer")


def test_a_killed_sweep_resumes_every_unfinished_job_and_reuses_the_finished(tmp_path):
    path = scenario_file(tmp_path, epochs=4, n_experiences=10, seeds=[0, 1, 2])
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "isocl.cli", "run", str(path), "--out", str(out), "--jobs", "2", *QUIET]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_a_partial_sweep(out, process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the whole sweep: its jobs are in the same process group
        process.wait()
    assert main(["run", str(path), "--out", str(out), "--jobs", "2", *QUIET]) == 0
    ended = {j["state"] for j in states(out).values()}
    assert "reused" in ended and "resumed" in ended and ended <= {"reused", "resumed", "done"}
    assert main(["run", str(path), "--out", str(tmp_path / "serial"), "--threads", "1", *QUIET]) == 0
    assert summaries(out) == summaries(tmp_path / "serial")


def test_a_failed_job_is_reported_and_the_others_finish(tmp_path, capsys):
    diverging = {"naive": {}, "naive#diverge": {"optimizer": {"name": "sgd", "lr": 1.0e20}}}
    path = scenario_file(tmp_path, backbone={"type": "relu_mlp", "hidden": [16]}, seeds=[0], strategies=diverging)
    assert main(["run", str(path), "--out", str(tmp_path), "--jobs", "2", *QUIET]) == 0
    jobs = states(tmp_path)
    assert jobs[("naive", 0)]["state"] == "done"
    assert jobs[("naive#diverge", 0)]["state"] == "failed"
    assert "the training loss is nan at experience 0" in jobs[("naive#diverge", 0)]["reason"]
    assert "| sweep | naive#diverge | 0 | failed |" in capsys.readouterr().out


class CrashedJob:
    def result(self):
        raise RuntimeError("Job (task=0) failed during processing with trace:\n...\nMemoryError: out of memory\n")


def test_a_crashed_job_fails_with_the_last_line_of_its_error():
    state = JobState("s", "naive", 0, state="running", started=time.time())
    _finish(state, CrashedJob())
    assert state.state == "failed" and state.reason == "MemoryError: out of memory" and state.seconds is not None


FAKE_SBATCH = """#!/bin/sh
cp "$1" "{folder}/submitted.sh"
echo "Submitted batch job 4242"
"""


def test_slurm_launcher_submits_one_array_with_the_requested_resources(tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(folder=tmp_path))
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    path = scenario_file(tmp_path)
    flags = ["--launcher", "slurm", "--partition", "gpu", "--time", "30", "--gpus-per-job", "1", "--jobs", "2"]
    assert main(["run", str(path), "--out", str(tmp_path / "out"), *flags, "--threads", "4", "--no-wait", *QUIET]) == 0
    script = (tmp_path / "submitted.sh").read_text()
    for line in ("--partition=gpu", "--time=30", "--gpus-per-node=1", "--array=0-3%2", "--cpus-per-task=4"):
        assert f"#SBATCH {line}" in script
    jobs = states(tmp_path / "out")
    assert len(jobs) == 4 and {j["state"] for j in jobs.values()} == {"running"}
    assert jobs[("naive", 0)]["reason"].startswith("slurm job 4242_")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--partition", "gpu"], "--partition is for --launcher slurm"),
        (["--jobs", "0"], "argument --jobs: '0' is not a positive integer"),
        (["--launcher", "pbs"], "argument --launcher: invalid choice: 'pbs'"),
    ],
)
def test_sweep_flags_are_checked_in_one_line(tmp_path, capsys, flags, message):
    try:
        code = main(["run", str(scenario_file(tmp_path)), "--out", str(tmp_path), *flags, *QUIET])
    except SystemExit as exited:  # argparse's own checks exit (with one line, isocl's _Parser)
        code = exited.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_without_submitit_a_sweep_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit now raises ImportError
    assert main(["run", str(scenario_file(tmp_path)), "--out", str(tmp_path), "--jobs", "2", *QUIET]) == 2
    assert "pip install 'isocl[cluster]'" in capsys.readouterr().err


def test_the_sweep_benchmark_passes_its_strategy_and_epoch_subset_to_every_run(monkeypatch):
    import subprocess

    from tests.benchmark_scripts import load_benchmark

    bench = load_benchmark("sweep")
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: commands.append(command))
    row = bench.measure("split-digits", 2, "0", 1, None, {"strategies": "naive,ewc", "epochs": 1})
    assert len(commands) == 2 and all("--strategies=naive,ewc" in c and "--epochs=1" in c for c in commands)
    assert [c[c.index("--jobs") + 1] for c in commands] == ["1", "2"]
    assert row["strategies"] == "naive,ewc" and row["epochs"] == 1
    bench.measure("split-digits", 2, "0", 1, None, {"strategies": None, "epochs": None})
    assert not any(a.startswith(("--strategies", "--epochs")) for a in commands[-1])
