"""Checkpoints (isocl/harness/checkpoint.py, isocl/cl/state.py): one file, replaced atomically, read without
unpickling objects. A resumed run ends with the summary an uninterrupted one gives, for every strategy, and so
does a run killed at any os.replace; a crafted or damaged file is refused by name and never runs code."""

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from isocl.cl import state
from isocl.cl.strategy import ISO_PREFIX, STRATEGIES, lookup
from isocl.harness import checkpoint, runner, steps
from isocl.harness.checkpoint import CHECKPOINT_FILE, CheckpointError
from isocl.harness.history import RunHistory
from isocl.harness.runner import run_scenario
from tests.test_harness import SMALL_MEMORY, comparable, options, run_killed_at, tiny_scenario

BASES = [name for name in STRATEGIES.names() if not lookup(name).trains_once]  # all but joint
EVERY_STRATEGY = [(name, "tanh_mlp") for name in BASES] + [(ISO_PREFIX + name, "iso_mlp") for name in BASES]
REMOVAL = [{"train": 0}, {"train": 1}, {"train": 2}, {"remove": 1}, {"train": 3}, {"train": 4}]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny matrices: one thread is several times faster on a shared 2-core machine (no spinning threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_folder(out: Path, scenario) -> Path:
    (name,) = scenario.strategies
    return out / scenario.name / name / "seed0"


def final_weights(monkeypatch) -> dict:
    """Record, per run folder, the model weights of the last checkpoint saved there (the run's final weights)."""
    weights, real_save = {}, checkpoint.save

    def save(directory, **kwargs):
        weights[directory.parent.parent.parent] = {k: v.clone() for k, v in kwargs["model"].state_dict().items()}
        real_save(directory, **kwargs)

    monkeypatch.setattr(checkpoint, "save", save)
    return weights


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "the final weights differ"


def resumed_matches_straight(tmp_path, monkeypatch, scenario, kill_at: int) -> None:
    """Run `scenario` straight through; as it is about to train experience `kill_at`, copy its run folder: what a
    run killed there leaves (the first checkpoints, metrics.jsonl, no summary). The copy, resumed, must end with
    the uninterrupted run's summary and, bit for bit, its weights."""
    straight, killed = run_folder(tmp_path / "straight", scenario), run_folder(tmp_path / "killed", scenario)
    weights, real_train_step = final_weights(monkeypatch), steps.train_step

    def train_step(strategy, stream, experience):
        if experience == kill_at:
            shutil.copytree(straight, killed)
        return real_train_step(strategy, stream, experience)

    monkeypatch.setattr(steps, "train_step", train_step)
    (reference,) = run_scenario(scenario, options(tmp_path / "straight"))
    monkeypatch.setattr(steps, "train_step", real_train_step)
    assert (killed / CHECKPOINT_FILE).exists() and not (killed / "summary.json").exists()
    (resumed,) = run_scenario(scenario, options(tmp_path / "killed"))
    assert comparable(resumed) == comparable(reference)
    assert_same_weights(weights[tmp_path / "killed"], weights[tmp_path / "straight"])
    assert not (killed / CHECKPOINT_FILE).exists() and not list(killed.glob(".checkpoint*"))


@pytest.mark.parametrize(("name", "backbone"), EVERY_STRATEGY)
def test_every_strategy_resumes_to_the_same_summary(tmp_path, monkeypatch, name, backbone):
    scenario = tiny_scenario(strategies={name: SMALL_MEMORY.get(name, {})}, backbone=backbone)
    resumed_matches_straight(tmp_path, monkeypatch, scenario, kill_at=3)


@pytest.mark.parametrize(
    "params",
    [{"lwf": {"distill": "padded", "alpha_growth": "linear"}}, {"gem": {"patterns_per_exp": 10, "rehearsal": 30}}],
    ids=["lwf-padded-linear", "gem-rehearsal"],
)
def test_the_protocol_variants_resume_to_the_same_summary(tmp_path, monkeypatch, params):
    """GEM with a rehearsal memory holds a second plugin; padded LwF, a distillation of its own."""
    resumed_matches_straight(tmp_path, monkeypatch, tiny_scenario(strategies=params), kill_at=3)


@pytest.mark.parametrize("name", ["replay", "der", "agem", "gem", "ewc", "lwf"])
def test_task_setting_with_a_removal_resumes_after_the_removal(tmp_path, monkeypatch, name):
    scenario = tiny_scenario("task", {name: SMALL_MEMORY.get(name, {})}, events=REMOVAL)
    resumed_matches_straight(tmp_path, monkeypatch, scenario, kill_at=3)  # the checkpoint after {remove: 1}


def test_an_iso_strategy_resumed_before_a_removal_releases_from_its_restored_probes(tmp_path, monkeypatch):
    scenario = tiny_scenario(strategies={"iso-replay": SMALL_MEMORY["iso-replay"]}, backbone="iso_mlp", events=REMOVAL)
    resumed_matches_straight(tmp_path, monkeypatch, scenario, kill_at=2)  # {remove: 1} comes after the resume


def test_an_incremental_head_resumes_after_a_real_interruption(tmp_path, monkeypatch):
    """Killed by an exception out of train_step; LwF's previous model is narrower than the grown one."""
    scenario = tiny_scenario(strategies={"iso-lwf": {}}, backbone="iso_mlp", head="incremental")
    weights = final_weights(monkeypatch)
    (reference,) = run_scenario(scenario, options(tmp_path / "straight"))
    run_killed_at(scenario, options(tmp_path / "resumed"), monkeypatch, 2)
    (resumed,) = run_scenario(scenario, options(tmp_path / "resumed"))
    assert comparable(resumed) == comparable(reference)
    assert_same_weights(weights[tmp_path / "resumed"], weights[tmp_path / "straight"])


# --- files that are not this run's checkpoint ---------------------------------------------------------------------


class Payload:
    """Unpickling this creates the marker file: what a crafted pickle could do, harmlessly."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_the_payload_is_live_when_unpickled(tmp_path):
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker))).close()
    assert marker.exists()  # so the markers below prove that nothing unpickled them


@pytest.fixture
def saved(tmp_path):
    """A valid checkpoint of an untrained replay run, and the run (cheap: no training)."""
    scenario = tiny_scenario(strategies={"replay": SMALL_MEMORY["replay"]})
    (run,) = runner.plan_runs(scenario, options(tmp_path))
    run.setup(None)
    run.save_checkpoint(RunHistory())
    return run


def test_a_saved_checkpoint_is_one_file_read_with_weights_only(saved, monkeypatch):
    assert sorted(p.name for p in saved.directory.iterdir()) == [CHECKPOINT_FILE]
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **kw: calls.append(kw) or real_load(*a, **kw))
    restored = checkpoint.load(saved.directory)
    assert restored.history["next_step"] == 0 and calls == [{"weights_only": True}]
    saved.setup(restored)  # restore_strategy included


def test_a_planted_strategy_pkl_or_other_pickle_is_never_opened(tmp_path, monkeypatch):
    scenario = tiny_scenario(strategies={"replay": SMALL_MEMORY["replay"]})
    run_killed_at(scenario, options(tmp_path), monkeypatch, 1)
    folder = run_folder(tmp_path, scenario)
    markers = [tmp_path / "ran-strategy", tmp_path / "ran-other"]
    (folder / "strategy.pkl").write_bytes(pickle.dumps(Payload(markers[0])))
    (folder / "memory.pkl").write_bytes(pickle.dumps(Payload(markers[1])))
    (summary,) = run_scenario(scenario, options(tmp_path))
    assert summary["accuracy_matrix"] and not any(m.exists() for m in markers)
    assert not (folder / "strategy.pkl").exists()  # the old format's file goes with the checkpoint


@pytest.mark.parametrize("how", ["plain pickle", "torch.save"])
def test_a_crafted_checkpoint_is_refused_without_running_it(saved, tmp_path, how):
    marker, path = tmp_path / "ran", saved.directory / CHECKPOINT_FILE
    if how == "plain pickle":
        path.write_bytes(pickle.dumps({"format": "isocl-checkpoint", "spec": Payload(marker)}))
    else:
        torch.save({"format": "isocl-checkpoint", "version": 2, "spec": Payload(marker)}, path)
    with pytest.raises(
        CheckpointError, match=rf"{re.escape(str(path))}.*delete .* \(or rerun with --restart\)"
    ) as error:
        checkpoint.load(saved.directory)
    assert not marker.exists() and "weights_only" not in str(error.value)
    with pytest.raises(CheckpointError, match=re.escape(str(path))):  # and through a run
        run_scenario(saved.scenario, options(tmp_path))
    assert not marker.exists()


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "random bytes":
        path.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    elif how == "old format":  # the previous version's checkpoint.pt: no format, no strategy in it
        torch.save({"spec": {}, "model": {}, "optimizer": {}, "history": {}}, path)
    elif how == "missing keys":
        payload = torch.load(path, weights_only=True)
        torch.save({k: v for k, v in payload.items() if k not in ("optimizer", "rng")}, path)
    elif how == "weights unlike the spec":
        payload = torch.load(path, weights_only=True)
        payload["spec"]["sizes"][1] += 1
        torch.save(payload, path)


@pytest.mark.parametrize(
    "how", ["truncated", "empty", "random bytes", "old format", "missing keys", "weights unlike the spec"]
)
def test_a_damaged_or_foreign_checkpoint_names_the_file(saved, how):
    path = saved.directory / CHECKPOINT_FILE
    damage(path, how)
    name = re.escape(str(path))
    with pytest.raises(CheckpointError, match=rf"^{name} .*; delete {name} \(or rerun with --restart\) to start"):
        checkpoint.load(saved.directory)


@pytest.mark.parametrize("how", ["another strategy", "a plugin's state lacks a key"])
def test_strategy_state_that_does_not_fit_names_the_file(saved, tmp_path, how):
    path = saved.directory / CHECKPOINT_FILE
    payload = torch.load(path, weights_only=True)
    if how == "another strategy":
        other = tiny_scenario(strategies={"naive": {}})
        (saved,) = runner.plan_runs(other, options(tmp_path / "other"))
    else:
        replay = next(p for p in payload["strategy"]["plugins"] if p["type"] == "ReplayPlugin")
        del replay["state"]["storage_policy"]["groups"]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(path))} does not fit this run's strategy .*--restart"):
        saved.setup(checkpoint.load(path.parent))


def test_stale_temporary_files_go_on_save_load_and_remove(saved):
    folder = saved.directory
    stale = lambda: [folder / ".checkpoint.pt.kill1", folder / ".checkpoint.pt.kill2"]  # noqa: E731
    for action in (
        lambda: saved.save_checkpoint(RunHistory()),
        lambda: checkpoint.load(folder),
        lambda: checkpoint.remove(folder),
    ):
        for path in stale():
            path.write_bytes(b"half a checkpoint")
        action()
        assert not any(path.exists() for path in stale())
    assert not (folder / CHECKPOINT_FILE).exists()


def test_a_failed_write_keeps_the_previous_checkpoint(saved, monkeypatch):
    before = (saved.directory / CHECKPOINT_FILE).read_bytes()

    def no_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    history = RunHistory(next_step=1)
    with pytest.raises(OSError):
        saved.save_checkpoint(history)
    assert (saved.directory / CHECKPOINT_FILE).read_bytes() == before
    assert sorted(p.name for p in saved.directory.iterdir()) == [CHECKPOINT_FILE]


class OwnPlugin:
    """A plugin of one's own with state: refused unless it speaks state_dict()/load_state_dict()."""

    def __init__(self):
        self.seen = [1, 2]


class OwnPluginWithProtocol(OwnPlugin):
    def state_dict(self):
        return {"seen": list(self.seen), "mean": torch.ones(2)}

    def load_state_dict(self, s):
        self.seen = s["seen"]


def test_a_holder_with_state_needs_an_adapter_or_the_state_dict_protocol(saved):
    strategy, references = saved.strategy, saved.references()
    skip = tuple(type(p) for p in saved.built.harness_plugins)
    strategy.plugins.append(OwnPlugin())
    with pytest.raises(state.UnsupportedHolderError, match=r"OwnPlugin \(attributes: seen\).*isocl/cl/state\.py"):
        state.export_strategy(strategy, references, skip=skip)
    strategy.plugins[-1] = OwnPluginWithProtocol()
    tree = state.export_strategy(strategy, references, skip=skip)
    strategy.plugins[-1].seen = []
    state.import_strategy(strategy, tree, references)
    assert strategy.plugins[-1].seen == [1, 2]
    with pytest.raises(state.UnsupportedHolderError, match=r"declares state \['memory'\]"):
        state.export_strategy(strategy, references, skip=skip, declared=("memory",))


# --- kill -9 at every os.replace ----------------------------------------------------------------------------------

FAULT_SCENARIO = """\
name: fault
dataset: synthetic
setting: class
n_experiences: 5
backbone: {type: iso_mlp, hidden: [32]}
epochs: 1
batch_size: 32
seeds: [0]
strategies: {iso-der: {mem_size: 40}}
"""

# One process imports isocl, then forks a child per kill point (nothing has computed yet, so forking is safe);
# the child's os.replace calls os._exit(9) just before or just after its N-th call. N grows until a run completes
# without reaching it. Then each killed folder is rerun normally, and an uninterrupted run made for reference.
DRIVER = r"""
import contextlib, io, json, os, sys, traceback
from pathlib import Path
from isocl import cli
from isocl.harness import report, runner  # imported before forking: each child starts ready

scenario, root = sys.argv[1], Path(sys.argv[2])

def run(out):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["run", scenario, "--out", str(out), "--wandb", "disabled", "--no-progress"])
    except BaseException:
        return 1, traceback.format_exc()
    return code or 0, err.getvalue()

def killed(out, n, when):
    real, calls = os.replace, [0]
    def replace(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n and when == "before":
            os._exit(9)
        real(*args, **kwargs)
        if calls[0] == n and when == "after":
            os._exit(9)
    os.replace = replace
    code, _ = run(out)
    os._exit(0 if code == 0 else 3)

points = []
for when in ("before", "after"):
    for n in range(1, 60):
        out = root / f"{when}-{n}"
        pid = os.fork()
        if pid == 0:
            killed(out, n, when)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        if status == 0:
            break
        points.append({"when": when, "n": n, "status": status, "out": str(out)})
        if status != 9:
            break
for point in points:
    point["rc"], point["stderr"] = run(Path(point["out"]))
print(json.dumps({"points": points, "reference": run(root / "reference")}))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks a child per kill point")
def test_a_run_killed_at_any_file_replacement_resumes_to_the_same_summary(tmp_path):
    scenario = tmp_path / "fault.yaml"
    scenario.write_text(FAULT_SCENARIO)
    env = {**os.environ, "ISOCL_CACHE_DIR": str(tmp_path / "cache"), "WANDB_MODE": "disabled"}
    env["OMP_NUM_THREADS"] = "1"  # tiny matrices: one thread, no spinning against the other tests for two cores
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(scenario), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=400, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["reference"][0] == 0, result["reference"][1]
    points, folder = result["points"], Path("fault") / "iso-der" / "seed0"
    reference = json.loads((tmp_path / "reference" / folder / "summary.json").read_text())
    print(f"{len(points)} kill points:", ", ".join(f"{p['when']} os.replace #{p['n']}" for p in points))
    for when in ("before", "after"):  # fingerprint.json, 5 checkpoints and summary.json are each replaced once
        assert [p["n"] for p in points if p["when"] == when] == list(range(1, len(points) // 2 + 1))
    assert len(points) >= 2 * 6 and all(p["status"] == 9 for p in points)
    for point in points:
        where = f"killed {point['when']} os.replace #{point['n']}"
        assert point["rc"] == 0, f"{where}: the rerun failed: {point['stderr']}"
        run_dir = Path(point["out"]) / folder
        summary = json.loads((run_dir / "summary.json").read_text())
        assert comparable(summary) == comparable(reference), where
        leftovers = [p.name for p in run_dir.iterdir() if p.name.startswith(".") and p.name != ".lock"]
        assert not (run_dir / CHECKPOINT_FILE).exists() and not leftovers, (where, leftovers)
