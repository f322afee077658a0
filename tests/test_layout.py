"""The shape of the house: strategies depend on the strategy contract only, and modules and functions stay small.
(The layers of isocl/ itself are checked by import-linter: `lint-imports`, contracts in pyproject.toml.)"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STRATEGY_FILES = sorted((ROOT / "strategies").glob("*.py"))
LIBRARY_FILES = sorted((ROOT / "isocl").rglob("*.py")) + STRATEGY_FILES
MAX_FILE_LINES, MAX_FUNCTION_LINES = 300, 50


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", STRATEGY_FILES, ids=lambda p: p.name)
def test_strategies_never_import_the_harness(path):
    upward = {m for m in imported_modules(path) if m.startswith(("isocl.harness", "isocl.cli"))}
    assert not upward, f"{path.name} imports {sorted(upward)}: a strategy depends on isocl.cl.strategy, not the harness"


def test_nothing_below_the_harness_imports_the_strategies():
    for path in sorted((ROOT / "isocl").rglob("*.py")):
        if "harness" in path.parts or path.name == "cli.py":
            continue
        assert not {m for m in imported_modules(path) if m.startswith("isocl.strategies")}, path


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_stay_small(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_FILE_LINES, f"{path} has more than {MAX_FILE_LINES} lines: split it"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{path}:{node.lineno} {node.name} has {length} lines"
