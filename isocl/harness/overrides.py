"""Command-line flags on top of a scenario file (the only two levels of precedence): --strategies, --seeds,
--epochs, --backbone and --normalise. A flag that makes a different experiment (another backbone or input
normalisation) renames the scenario, so its results never mix with the file's own."""

import dataclasses

from isocl.cl.strategy import resolve_parameters
from isocl.data import NORMALISATIONS
from isocl.errors import ConfigError
from isocl.harness.config import Scenario, _check_backbones, _one_of, _positive_int
from isocl.nn import BACKBONES


def with_overrides(
    scenario: Scenario, *, strategies=None, seeds=None, epochs=None, backbone=None, normalise=None
) -> Scenario:
    """Apply command-line flags on top of the file (the only two levels of precedence)."""
    changes = {}
    if strategies is not None:
        changes["strategies"] = {
            s: scenario.strategies[s] if s in scenario.strategies else resolve_parameters(s, {}, "--strategies")
            for s in strategies
        }
    if seeds is not None:
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
            raise ConfigError(f"--seeds={','.join(map(str, seeds))} must be non-negative integers, e.g. 0,1,2")
        changes["seeds"] = tuple(seeds)
    if epochs is not None:
        changes["epochs"] = _positive_int("--epochs", "epochs", epochs)
    if backbone is not None:
        _one_of("--backbone", "type", backbone, sorted(BACKBONES))
        if backbone != scenario.backbone.type:  # a different experiment: results go under a different name
            changes["backbone"] = dataclasses.replace(scenario.backbone, type=backbone)
            changes["name"] = f"{scenario.name}-{backbone.replace('_', '')}"
    if normalise is not None:
        _one_of("--normalise", "normalise", normalise, NORMALISATIONS)
        if normalise != scenario.normalise:  # a different experiment, named apart like another backbone
            changes["normalise"] = normalise
            changes["name"] = f"{changes.get('name', scenario.name)}-{normalise.replace('_', '')}"
    updated = dataclasses.replace(scenario, **changes)
    _check_backbones(updated, "command line")
    return updated
