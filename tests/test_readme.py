"""The README's examples are valid input: the scenario file it shows loads, and each change it warns about fails."""

import re
from pathlib import Path

import pytest
import yaml

from isocl.errors import ConfigError
from isocl.harness.config import scenario_from_dict

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_scenario() -> dict:
    """The README's annotated scenario file (the yaml block that starts with `name: my-scenario`)."""
    block = re.search(r"```yaml\n(name: my-scenario\n.*?)```", README.read_text(), re.S)
    assert block, "README.md lost its scenario example"
    return yaml.safe_load(block.group(1))


def test_readme_scenario_is_valid():
    scenario = scenario_from_dict(readme_scenario(), source="README")
    assert scenario.name == "my-scenario" and scenario.dataset == "cifar10"
    assert set(scenario.strategies) == {"naive", "ewc", "replay", "iso-replay"}
    assert scenario.events[3] == ("remove", 1)


@pytest.mark.parametrize(
    "change",
    [
        {"domain": {"kind": "permuted"}},  # the commented line: setting domain only
        {"backbone": {"type": "tanh_mlp", "hidden": [256, 256]}},  # iso-replay needs an isotropic backbone
        {"dataset": "emnist"},
    ],
)
def test_readme_scenario_comments_hold(change):
    with pytest.raises(ConfigError):
        scenario_from_dict({**readme_scenario(), **change}, source="README")
