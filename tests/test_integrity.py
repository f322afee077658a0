"""What isocl guarantees about a results folder: no silent reuse of a run made otherwise, one writer per run
folder, a diverged run marked failed while the others go on, W&B history complete after a resume, one-line
errors for every bad input before anything is written, and `isocl reproduce`."""

import json
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from avalanche.core import SupervisedPlugin
from avalanche.training import Naive

from isocl.cl.strategy import STRATEGIES, register_strategy
from isocl.cli import main
from isocl.harness import steps
from isocl.harness.provenance import StaleRunError, processor
from isocl.harness.runner import run_scenario
from tests.test_harness import comparable, options, run_killed_at, tiny_scenario

RUN = ("tiny-class", "naive", "seed0")


def test_a_finished_run_is_reused_only_under_the_same_fingerprint(tmp_path, monkeypatch):
    (first,) = run_scenario(tiny_scenario(epochs=2), options(tmp_path))
    monkeypatch.setattr(steps, "train_step", lambda *a: pytest.fail("trained although the fingerprint differs"))
    with pytest.raises(StaleRunError, match=r"finished run made with different config \(epochs: 2 -> 1\).*--restart"):
        run_scenario(tiny_scenario(epochs=1), options(tmp_path))
    assert run_scenario(tiny_scenario(epochs=2), options(tmp_path)) == [first]  # same fingerprint: reused
    assert first["fingerprint"]["config"]["epochs"] == 2 and first["git_commit"]  # provenance names the commit


def test_an_unfinished_run_resumes_only_under_the_same_fingerprint(tmp_path, monkeypatch):
    run_killed_at(tiny_scenario(), options(tmp_path), monkeypatch, 2)
    changed = tiny_scenario(strategies={"naive": {}}, optimizer={"lr": 0.01})
    with pytest.raises(StaleRunError, match=r"unfinished run made with different config \(optimizer.lr: 0.001 -> 0.01"):
        run_scenario(changed, options(tmp_path))
    (restarted,) = run_scenario(changed, options(tmp_path, restart=True))
    (fresh,) = run_scenario(changed, options(tmp_path / "fresh"))
    assert comparable(restarted) == comparable(fresh)


def test_a_second_process_on_the_same_run_folder_moves_on(tmp_path, capsys):
    folder = tmp_path.joinpath(*RUN)
    folder.mkdir(parents=True)
    holder = textwrap.dedent(f"""
        import sys
        from filelock import FileLock
        lock = FileLock({str(folder / ".lock")!r})
        lock.acquire()
        print("held", flush=True)
        sys.stdin.read()
    """)
    process = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert process.stdout.readline().strip() == b"held"
        summaries = run_scenario(tiny_scenario(strategies={"naive": {}, "lwf": {}}), options(tmp_path))
    finally:
        process.communicate(b"")
    assert [s["strategy"] for s in summaries] == ["lwf"]  # the busy run is skipped, the other one runs
    assert "in use by another isocl process; skipped" in capsys.readouterr().err
    assert not (folder / "metrics.jsonl").exists()


class Explode(SupervisedPlugin):
    """Makes the loss infinite from the third experience on."""

    def before_backward(self, strategy, **kwargs):
        if strategy.experience.current_experience >= 2:
            strategy.loss = strategy.loss + float("inf")


def diverging(ctx):
    return Naive(**ctx.template_kwargs(Explode()))


def registered(name: str, builder) -> str:
    """Register a test-only strategy when a test runs (not at import: registry-wide tests are parametrized from
    the registry when they are collected, and must not see these)."""
    if name not in STRATEGIES:
        register_strategy(name)(builder)
    return name


def test_a_diverged_run_is_marked_failed_and_the_others_go_on(tmp_path, capsys):
    scenario = tiny_scenario(strategies={registered("test-only-diverging", diverging): {}, "naive": {}})
    failed, fine = run_scenario(scenario, options(tmp_path))
    assert failed["status"] == "failed" and fine["status"] == "finished"
    assert "test-only-diverging seed 0: the training loss is inf at experience 2, epoch 0" in failed["failure"]
    assert len(failed["accuracy_matrix"]) == 2 and len(fine["accuracy_matrix"]) == 5
    assert "run failed" in capsys.readouterr().err
    from isocl.harness.report import comparison_table

    table = comparison_table([failed, fine])
    assert "| naive | 1 |" in table and "| test-only-diverging | 1 |" not in table
    assert (
        "Failed runs" in table and "| tiny-class | test-only-diverging | 0 | test-only-diverging seed 0: the" in table
    )


class Poison(SupervisedPlugin):
    """Writes nan into the first weight after every step of the third experience."""

    def after_training_iteration(self, strategy, **kwargs):
        if strategy.experience.current_experience >= 2:
            with torch.no_grad():
                next(strategy.model.parameters()).fill_(float("nan"))


def poisoned(ctx):
    return Naive(**ctx.template_kwargs(Poison()))


def test_non_finite_weights_met_by_the_topology_layer_fail_the_run(tmp_path):
    scenario = tiny_scenario(
        strategies={"iso-" + registered("test-only-poisoned", poisoned): {}}, backbone="iso_mlp", batch_size=1000
    )
    (failed,) = run_scenario(scenario, options(tmp_path))  # one step per epoch: neuroadapt meets the nan first
    assert failed["status"] == "failed" and "holds non-finite values" in failed["failure"]


def history_keys(folder, key: bytes) -> int:
    return sum(path.read_bytes().count(key) for path in folder.glob("wandb/offline-run-*/*.wandb"))


def test_wandb_history_is_complete_after_a_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_scenario(tiny_scenario(), options(tmp_path / "straight", wandb="offline"))
    straight = history_keys(tmp_path.joinpath("straight", *RUN), b"accuracy/exp4")
    run_killed_at(tiny_scenario(), options(tmp_path, wandb="offline"), monkeypatch, 3)
    run_scenario(tiny_scenario(), options(tmp_path, wandb="offline"))
    folder = tmp_path.joinpath(*RUN)
    assert len(list(folder.glob("wandb/offline-run-*"))) == 1  # the killed attempt's partial run is gone
    assert straight >= 5 and history_keys(folder, b"accuracy/exp4") == straight  # the replayed evaluations too


def test_torn_and_corrupt_result_files(tmp_path, capsys, monkeypatch):
    run_killed_at(tiny_scenario(), options(tmp_path), monkeypatch, 3)
    folder = tmp_path.joinpath(*RUN)
    with open(folder / "metrics.jsonl", "a") as f:
        f.write('{"event": "epoch", "st')  # a kill while appending
    (folder / ".summary.json.abc123").write_text("{")  # a kill while writing the summary
    (summary,) = run_scenario(tiny_scenario(), options(tmp_path))
    assert [r["step"] for r in map(json.loads, (folder / "metrics.jsonl").read_text().splitlines())][-1] == 4
    assert not list(folder.glob(".summary.json.*")) and not list(folder.glob("checkpoint*"))
    (folder / "summary.json").write_text('{"scenario": "tiny-cla')
    scenario_file = tmp_path / "tiny.yaml"
    scenario_file.write_text(yaml.safe_dump({**RAW, "epochs": 2}))
    assert main(["run", str(scenario_file), "--out", str(tmp_path), "--wandb", "disabled", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "summary.json is not valid JSON" in err and "--restart" in err


RAW = {
    "name": "tiny-class",
    "dataset": "synthetic",
    "setting": "class",
    "n_experiences": 5,
    "backbone": {"type": "tanh_mlp", "hidden": [32]},
    "epochs": 1,
    "batch_size": 32,
    "strategies": {"naive": {}},
}


@pytest.mark.parametrize(
    ("change", "args", "message"),
    [
        ({"n_experiences": 3}, [], "n_experiences=3 does not split the 10 classes of synthetic"),
        ({"class_order": [0, 1, 2]}, [], "class_order=[0, 1, 2] is not valid"),
        ({"backbone": {"type": "iso_mlp", "options": {"colour": 1}}}, [], "unknown option(s) ['colour']"),
        ({"strategies": {"ewc": {"ewc_lambda": "big"}}}, [], "ewc_lambda='big': input should be a valid number"),
        ({"strategies": {"iso": {}}}, [], "iso-strategies change the topology of an isotropic network"),
        ({"strategies": {"iso-replay": {"n_scaffold": "five"}}, "backbone": {"type": "iso_mlp"}}, [], "'five'"),
        ({}, ["--seeds=-1"], "--seeds=-1 must be non-negative integers"),
        ({}, ["--epochs", "x"], "argument --epochs: invalid int value: 'x'"),
        ({}, ["--device", "tpu"], "--device 'tpu' is not a device"),
        ({}, ["--wandb", "sometimes"], "argument --wandb: invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, change, args, message):
    scenario_file = tmp_path / "bad.yaml"
    scenario_file.write_text(yaml.safe_dump({**RAW, **change}))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) if args[:1] in (["--epochs"], ["--wandb"]) else _no_exit() as exited:
        code = main(["run", str(scenario_file), "--out", str(out), "--wandb", "disabled", *args])
    code = exited.value.code if exited else code
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("isocl: error:") and "\n" not in err and message in err
    assert not out.exists() or not any(out.rglob("*.json*"))


class _no_exit:  # noqa: N801 - a null context that yields None
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize(
    ("out", "message"), [("file", "is a file; give a folder"), ("/proc/isocl-test/out", "is not writable")]
)
def test_an_unusable_out_folder_is_refused_before_training(tmp_path, capsys, out, message):
    if out == "file":
        out = tmp_path / "file"
        out.write_text("")
    scenario_file = tmp_path / "ok.yaml"
    scenario_file.write_text(yaml.safe_dump(RAW))
    assert main(["run", str(scenario_file), "--out", str(out), "--wandb", "disabled"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_refused(tmp_path, capsys):
    assert main(["run", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "no CUDA device is available here; use --device cpu" in capsys.readouterr().err


def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    from isocl.harness import store

    def full(path, data):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(store, "write_json_atomic", full)
    scenario_file = tmp_path / "ok.yaml"
    scenario_file.write_text(yaml.safe_dump(RAW))
    assert main(["run", str(scenario_file), "--out", str(tmp_path / "o"), "--wandb", "disabled", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "No space left on device" in err and "fingerprint.json" in err


def test_reproduce_says_whether_the_matrix_is_identical(tmp_path, capsys):
    scenario_file = tmp_path / "ok.yaml"
    scenario_file.write_text(yaml.safe_dump(RAW))
    args = ["--wandb", "disabled", "--no-progress"]
    assert main(["run", str(scenario_file), "--out", str(tmp_path / "o"), *args]) == 0
    summary = tmp_path.joinpath("o", *RUN, "summary.json")
    original = json.loads(summary.read_text())
    capsys.readouterr()

    def reproduce_edited(**changes) -> tuple[int, str]:
        summary.write_text(json.dumps({**original, **changes}))
        code = main(["reproduce", str(summary), *args])
        return code, capsys.readouterr().out

    code, out = reproduce_edited()
    assert code == 0 and "reproduced bit for bit" in out and "provenance" not in out
    other = "another CPU (AVX2)"  # made elsewhere, the same matrix: named, still bit for bit
    code, out = reproduce_edited(processor=other)
    assert code == 0 and "reproduced bit for bit" in out and f"provenance processor: {other!r} then" in out
    matrix = [list(row) for row in original["accuracy_matrix"]]
    matrix[2][0] += 0.01
    code, out = reproduce_edited(accuracy_matrix=matrix, torch="0.0")  # another torch, the same processor
    assert code == 1 and "differs (row 2, experience 0" in out and "provenance torch: '0.0' then" in out
    assert "another processor" not in out
    code, out = reproduce_edited(accuracy_matrix=matrix, processor=other)
    assert code == 1 and f"provenance processor: {other!r} then, {processor()!r} now" in out
    assert "made on another processor" in out


def test_provenance_names_the_processor_and_its_kernel_level():
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    cpu = f"{models[0] if models else platform.processor() or platform.machine()}"
    expected = f"{cpu} ({torch.backends.cpu.get_cpu_capability()})"
    name = processor()
    assert name == expected or (torch.cuda.is_available() and name == f"{expected}, {torch.cuda.get_device_name()}")


def test_reproduce_turns_an_experiments_summary_away_in_one_line(tmp_path, capsys):
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"config": {"name": "neuro-abundance", "kind": "abundance", "arm": "static-25"}}))
    assert main(["reproduce", str(summary)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "isocl run neuro-abundance --out OTHER_FOLDER" in err


def test_an_online_wandb_that_cannot_start_logs_offline_with_one_warning(tmp_path, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_SILENT", "true")
    real_init, modes, timeouts = wandb.init, [], []

    def no_network_online(**kwargs):
        modes.append(kwargs["mode"])
        timeouts.append(kwargs["settings"].init_timeout)
        if kwargs["mode"] == "online":
            raise TimeoutError("no route to host")
        return real_init(**kwargs)

    monkeypatch.setattr(wandb, "init", no_network_online)
    with pytest.warns(UserWarning, match="online start failed .*logging offline instead") as caught:
        run_scenario(tiny_scenario(), options(tmp_path, wandb="online", wandb_timeout=3.0))
    assert modes == ["online", "offline"] and timeouts == [3.0, 3.0]
    assert len([w for w in caught if "W&B" in str(w.message)]) == 1
    assert history_keys(tmp_path.joinpath(*RUN), b"accuracy/exp4") > 0  # the offline run holds the history
