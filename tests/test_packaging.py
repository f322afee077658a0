"""The package installs: a wheel built from the repository carries the strategies and the scenarios inside the
isocl namespace, puts nothing else at the top of site-packages, and runs outside the source tree."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(ROOT), "-w", out]
    subprocess.run(command, check=True, capture_output=True)
    (path,) = out.glob("isocl-*.whl")
    return path


def test_wheel_holds_the_strategies_and_scenarios_inside_isocl(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"isocl"}
    assert "isocl/strategies/ewc.py" in names and "isocl/scenarios/split-digits.yaml" in names


def test_installed_wheel_lists_and_runs_outside_the_tree(wheel, tmp_path):
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)]
    subprocess.run(pip, check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target), "ISOCL_CACHE_DIR": str(tmp_path / "cache"), "WANDB_SILENT": "true"}

    def isocl(*args):
        done = subprocess.run([sys.executable, "-m", "isocl.cli", *args], cwd=tmp_path, env=env, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        return done.stdout.decode()

    where = subprocess.run(
        [sys.executable, "-c", "import isocl; print(isocl.__file__)"], cwd=tmp_path, env=env, capture_output=True
    )
    assert where.stdout.decode().startswith(str(target))  # the installed copy, not the source tree
    listing = isocl("list")
    assert "ewc-factored" in listing and "split-digits" in listing
    run = ["run", "--strategies", "naive,iso-naive", "--epochs", "1", "--wandb", "disabled", "--no-progress"]
    printed = isocl(*run, "--out", str(tmp_path / "runs"))
    assert "| iso-naive |" in printed and (tmp_path / "runs" / "split-digits" / "report.md").exists()
