"""The strategy contract: how a strategy registers, what it receives, and how `iso-X` is composed from `X`.

A strategy is one file in `strategies/` (the package `isocl.strategies`, whose import registers them all; the
harness imports it) holding a builder registered by name. The builder takes a
`StrategyContext` plus its own keyword parameters (annotated, with defaults) and returns an Avalanche strategy;
the parameters a scenario may set are exactly its keyword arguments, validated against their annotations.

Every registered strategy `X` also exists as `iso-X`: the same builder on an isotropic backbone with the topology
policy plugin (isocl/cl/policy.py) placed before X's own plugins, and the policy's fields as extra parameters.
Legacy names map onto that rule (`iso` is `iso-naive`, `iso-ewc` is `iso-ewc-factored`, so Avalanche's EWC with
topology is `iso-ewc-diag`).
"""

import dataclasses
import inspect
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, get_type_hints

from pydantic import ConfigDict, Field, ValidationError, create_model
from torch import nn

from isocl.cl.policy import TopologyPolicy
from isocl.errors import ConfigError
from isocl.registry import Registry

STRATEGIES = Registry("strategy")
ISO_PREFIX = "iso-"
LABEL = re.compile(r"[A-Za-z0-9._-]+")
# names of earlier results keep working; Avalanche's diagonal EWC on the topology layer is then iso-ewc-diag
ALIASES = {"iso": "iso-naive", "iso-ewc": "iso-ewc-factored", "iso-ewc-diag": "iso-ewc"}

# annotations for builders' parameters: a type plus the range a scenario may give
Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(ge=0, le=1)]


def register_strategy(name: str, *, state: tuple[str, ...] = (), trains_once: bool = False):
    """Register a builder under `name`.

    state: attributes of the built strategy (beyond its plugins) that a checkpoint must hold.
    trains_once: the strategy trains once on the whole stream (joint training), not experience by experience.
    """
    if name.startswith(ISO_PREFIX) or name in ALIASES:
        raise ValueError(f"strategy names starting with {ISO_PREFIX!r} are made by isocl; register {name!r} plainly")

    def add(builder):
        builder.checkpoint_attributes = state
        builder.trains_once = trains_once
        return STRATEGIES.register(name)(builder)

    return add


@dataclass(frozen=True)
class StrategySpec:
    """A resolved strategy name: the builder of its base strategy and whether the topology policy is on."""

    name: str
    base: str
    builder: Any
    topology: bool

    @property
    def trains_once(self) -> bool:
        return self.builder.trains_once

    @property
    def checkpoint_attributes(self) -> tuple[str, ...]:
        return self.builder.checkpoint_attributes


def strategy_names() -> list[str]:
    """Every name a scenario may use: the registered strategies, their iso- variants and the legacy aliases."""
    bases = STRATEGIES.names()
    return sorted([*bases, *(ISO_PREFIX + b for b in bases), *ALIASES])


def lookup(name: str, where: str = "strategies") -> StrategySpec:
    """The strategy a scenario names. `NAME#LABEL` is NAME under a label of one's own, so that one scenario can run
    the same strategy with different parameters side by side (iso-naive#author, iso-naive#demand)."""
    registry = STRATEGIES
    name_only, _, label = name.partition("#") if isinstance(name, str) else ("", "", "")
    if label and not LABEL.fullmatch(label):
        raise ConfigError(f"{where}: the label in {name!r} may hold letters, digits, '.', '_' and '-' only")
    resolved = ALIASES.get(name_only, name_only)
    base = resolved.removeprefix(ISO_PREFIX)
    if base not in registry:
        raise ConfigError(f"{where}: unknown strategy {name!r}; registered: {', '.join(strategy_names())}")
    return StrategySpec(name, base, registry.get(base), base != resolved)


def _builder_fields(builder) -> dict:
    hints = get_type_hints(builder, include_extras=True)
    params = list(inspect.signature(builder).parameters.values())[1:]  # after the context
    return {p.name: (hints.get(p.name, Any), p.default) for p in params}


def _policy_fields() -> dict:
    hints = get_type_hints(TopologyPolicy, include_extras=True)
    return {f.name: (hints[f.name], f.default) for f in dataclasses.fields(TopologyPolicy)}


def parameter_fields(spec: StrategySpec) -> dict:
    """name -> (annotation, default) of every parameter the strategy takes."""
    own = _builder_fields(spec.builder)
    return {**own, **_policy_fields()} if spec.topology else own


def strategy_parameters(name: str) -> dict:
    """A strategy's parameters and their defaults."""
    return {k: default for k, (_, default) in parameter_fields(lookup(name)).items()}


def _first_error(error: ValidationError) -> tuple[str, str, Any]:
    first = error.errors()[0]
    return ".".join(str(p) for p in first["loc"]), first["msg"], first.get("input")


HIDDEN = "hidden"  # any strategy may take it: its own hidden widths (the equal-parameter control)
OPTIMIZER = "optimizer"  # any strategy may take it: its own optimiser (resolved by the harness, which owns them)
HARNESS_KEYS = (HIDDEN, OPTIMIZER)  # per-strategy settings of the harness, never passed to a builder


def _hidden_widths(value, where: str) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not value or not all(isinstance(w, int) and w > 0 for w in value):
        raise ConfigError(f"{where}.{HIDDEN}={value!r} must be a non-empty list of positive widths, e.g. [300, 250]")
    return tuple(value)


def resolve_parameters(name: str, params: dict, where: str) -> dict:
    """Every parameter of the strategy, validated by its annotation, defaults filled in (done once, at load).
    `hidden`, if given, replaces the scenario's hidden widths for this strategy alone."""
    params = dict(params)
    hidden = {HIDDEN: _hidden_widths(params.pop(HIDDEN), where)} if HIDDEN in params else {}
    return {**_resolve_own(name, params, where), **hidden}


def _resolve_own(name: str, params: dict, where: str) -> dict:
    spec = lookup(name, where)
    fields = parameter_fields(spec)
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {unknown}; {name} takes {sorted(fields) or 'none'}")
    model = create_model(f"{name}-parameters", __config__=ConfigDict(extra="forbid", strict=False), **fields)
    try:
        return dict(model(**params))
    except ValidationError as error:
        field_name, message, value = _first_error(error)
        raise ConfigError(f"{where}.{field_name}={value!r}: {message.lower()}") from None


def split_parameters(spec: StrategySpec, params: dict) -> tuple[dict, TopologyPolicy | None]:
    """The builder's own parameters, and the topology policy built from the others (iso- variants). `hidden` and
    `optimizer` are the harness's (the backbone's widths, the optimiser), never the builder's."""
    params = {k: v for k, v in params.items() if k not in HARNESS_KEYS}
    if not spec.topology:
        return dict(params), None
    policy_names = {f.name for f in dataclasses.fields(TopologyPolicy)}
    own = {k: v for k, v in params.items() if k not in policy_names}
    return own, TopologyPolicy(**{k: v for k, v in params.items() if k in policy_names})


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
    plugins: list = field(default_factory=list)  # run before the strategy's own (penalty, head, topology)
    late_plugins: list = field(default_factory=list)  # run after the strategy's own (recorders)
    evaluator: object = None

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
