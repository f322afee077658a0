"""The strategy registry and the context every strategy builder receives.

A strategy is one file in `strategies/`: a builder function registered by name that takes a
`StrategyContext` plus its own keyword parameters (with defaults) and returns an Avalanche strategy.
The parameters a scenario may set are exactly the builder's keyword arguments.
"""

import importlib
import inspect
from dataclasses import dataclass, field

from torch import nn

from isocl.registry import Registry

STRATEGIES = Registry("strategy")


def register_strategy(
    name: str, *, state: tuple[str, ...] = (), trains_once: bool = False, backbones: tuple[str, ...] | None = None
):
    """Register a builder.

    state: attributes of the built strategy (beyond its plugins) that a checkpoint must hold.
    trains_once: the strategy trains once on the whole stream (joint training), not experience by experience.
    backbones: the backbone types it supports (None: all).
    """

    def add(builder):
        builder.checkpoint_attributes = state
        builder.trains_once = trains_once
        builder.backbones = backbones
        return STRATEGIES.register(name)(builder)

    return add


def load_strategies() -> Registry:
    """Import the strategies package, whose __init__ imports one module per strategy."""
    importlib.import_module("strategies")
    return STRATEGIES


@dataclass
class StrategyContext:
    """What the harness hands to a builder: the model, its optimiser and the run's settings."""

    model: nn.Module
    optimizer: object
    criterion: nn.Module
    train_mb_size: int
    train_epochs: int
    eval_mb_size: int
    device: str
    plugins: list = field(default_factory=list)
    late_plugins: list = field(default_factory=list)  # run after the strategy's own (recorders)
    evaluator: object = None
    stream: object = None

    def template_kwargs(self, *extra_plugins) -> dict:
        """Keyword arguments every Avalanche strategy takes."""
        return dict(
            model=self.model,
            optimizer=self.optimizer,
            criterion=self.criterion,
            train_mb_size=self.train_mb_size,
            train_epochs=self.train_epochs,
            eval_mb_size=self.eval_mb_size,
            device=self.device,
            plugins=[*self.plugins, *extra_plugins, *self.late_plugins],
            evaluator=self.evaluator,
        )


def strategy_parameters(name: str) -> dict:
    """A strategy's parameters and their defaults."""
    builder = load_strategies().get(name)
    params = list(inspect.signature(builder).parameters.values())[1:]  # after the context
    return {p.name: p.default for p in params}


def check_strategy_backbone(name: str, backbone: str, where: str) -> None:
    from isocl.harness.config import ConfigError

    supported = load_strategies().get(name).backbones
    if supported is not None and backbone not in supported:
        raise ConfigError(f"{where}: strategy {name!r} needs backbone.type in {list(supported)}, not {backbone!r}")


def check_strategy_params(name: str, params: dict, where: str) -> None:
    from isocl.harness.config import ConfigError

    registry = load_strategies()
    if name not in registry:
        raise ConfigError(f"{where}: unknown strategy {name!r}; registered: {registry.names()}")
    allowed = strategy_parameters(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {unknown}; {name} takes {sorted(allowed) or 'none'}")
