"""Scenario files: read, validate (naming the field and its allowed values), resolve.

A scenario names `name`, `dataset`, `setting` (class | task), `n_experiences`, `backbone`
({type: tanh_mlp | iso_mlp, hidden: [...], options: {...}}), `optimizer` ({name, lr, weight_decay, momentum}),
`head` (full | incremental), `epochs`, `batch_size`, `seeds` and `strategies` (strategy name -> its parameters,
resolved here once: validated by type and range, defaults filled in). An optional `events` list replaces the
default "train each experience in order": [{train: 0}, {train: 1}, {remove: 0}, {train: 2}]. Optional inputs:
`pad_to`, `normalise` (per_feature | global), `domain` (the domain setting's kind), `class_order`.
"""

import dataclasses
import importlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from isocl.cl.head import HEADS
from isocl.cl.strategy import ISO_PREFIX, OPTIMIZER, lookup, resolve_parameters
from isocl.data import DATASETS, NORMALISATIONS, SETTINGS, domain_options
from isocl.errors import ConfigError
from isocl.harness.events import validate_events
from isocl.harness.optimizers import OPTIMIZERS
from isocl.nn import BACKBONES, backbone_options, create_backbone

DEFAULT_SCENARIO = "split-digits"
# importing the package registers the shipped strategies (by name: the package is installed from strategies/)
importlib.import_module("isocl.strategies")
__all__ = ["ConfigError", "Scenario", "load_scenario", "scenario_from_dict", "shipped_scenarios"]


@dataclass(frozen=True)
class BackboneConfig:
    type: str = "tanh_mlp"
    hidden: tuple[int, ...] = (1000, 1000)
    options: dict = field(default_factory=dict)  # further IsoMLP/TanhMLP keyword arguments


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-3
    momentum: float = 0.0


@dataclass(frozen=True)
class Scenario:
    name: str
    dataset: str
    setting: str
    n_experiences: int
    strategies: dict
    backbone: BackboneConfig = BackboneConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    epochs: int = 1
    batch_size: int = 48
    eval_batch_size: int = 1000
    head: str = "full"  # full: every class's output unit from the start; incremental: added per experience
    pad_to: int | None = None  # zero-pad square images to this size (MNIST to 32x32 as in Hsu et al. 2018)
    normalise: str = "per_feature"  # per_feature (the paper's) | global (one mean and std: Hsu et al.'s)
    domain: dict | None = None  # setting domain: {kind: split | permuted | rotated, identity_first, angles}
    seeds: tuple[int, ...] = (0,)
    class_order: object = "fixed"  # "fixed" | "seeded" | a permutation of the labels
    events: tuple[tuple[str, int], ...] | None = None  # (train | remove, experience); None: train each in order

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        if self.events is not None:  # as the scenario file writes them
            values["events"] = [{kind: exp} for kind, exp in self.events]
        return values

    def event_list(self) -> list[tuple[str, int]]:
        return list(self.events) if self.events is not None else [("train", i) for i in range(self.n_experiences)]


def _fields(cls) -> dict:
    return {f.name: f for f in dataclasses.fields(cls)}


def _seeds(source: str, seeds) -> tuple[int, ...]:
    valid = isinstance(seeds, list | tuple) and seeds
    if not valid or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigError(f"{source}.seeds={seeds!r} must be a non-empty list of non-negative integers")
    return tuple(seeds)


def _check_keys(section: str, given: dict, cls) -> None:
    allowed = _fields(cls)
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ConfigError(f"{section}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(
        n
        for n, f in allowed.items()
        if n not in given and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    if missing:
        raise ConfigError(f"{section}: missing required field(s) {missing}")


def _positive_int(section: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{section}.{name}={value!r} must be a positive integer")
    return value


def _one_of(section: str, name: str, value, allowed) -> str:
    if value not in allowed:
        raise ConfigError(f"{section}.{name}={value!r} is not valid; allowed: {list(allowed)}")
    return value


def _backbone(section: str, raw) -> BackboneConfig:
    raw = dict(raw or {})
    _check_keys(section, raw, BackboneConfig)
    _one_of(section, "type", raw.get("type", "tanh_mlp"), sorted(BACKBONES))
    hidden = raw.get("hidden", [1000, 1000])
    if not isinstance(hidden, list | tuple) or not hidden:
        raise ConfigError(f"{section}.hidden={hidden!r} must be a non-empty list of widths, e.g. [1000, 1000]")
    hidden = tuple(_positive_int(section, "hidden", h) for h in hidden)
    options = raw.get("options", {}) or {}
    if not isinstance(options, dict):
        raise ConfigError(f"{section}.options must be a mapping of backbone keyword arguments")
    allowed = backbone_options(raw.get("type", "tanh_mlp"))
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"{section}.options: unknown option(s) {unknown}; allowed: {sorted(allowed)}")
    try:  # the values, checked by the backbone itself on a tiny instance before anything trains
        create_backbone(raw.get("type", "tanh_mlp"), (2,), 2, [2], **options)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{section}.options: {error}") from None
    return BackboneConfig(raw.get("type", "tanh_mlp"), hidden, dict(options))


def _optimizer(section: str, raw) -> OptimizerConfig:
    raw = dict(raw or {})
    _check_keys(section, raw, OptimizerConfig)
    _one_of(section, "name", raw.get("name", "adamw"), OPTIMIZERS.names())
    for key in ("lr", "weight_decay", "momentum"):
        value = raw.get(key, getattr(OptimizerConfig, key))
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (key == "lr" and not value):
            raise ConfigError(
                f"{section}.{key}={value!r} must be a {'positive' if key == 'lr' else 'non-negative'} number"
            )
    return OptimizerConfig(**{k: float(v) if k != "name" else v for k, v in raw.items()})


def _strategies(section: str, raw, optimizer: OptimizerConfig) -> dict:
    """Each strategy's parameters, resolved; an `optimizer` of its own is the scenario's with the given fields
    replaced."""
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(
            f"{section} must map strategy names to their parameters, e.g. {{naive: {{}}, ewc: {{ewc_lambda: 100}}}}"
        )
    resolved = {}
    for name, params in raw.items():
        if params is not None and not isinstance(params, dict):
            raise ConfigError(f"{section}.{name} must map parameter names to values, e.g. {{mem_size: 200}}")
        params = dict(params or {})
        own = {}
        if OPTIMIZER in params:  # the strategy's own optimiser, replacing the scenario's (stored as plain values)
            overlay = {**dataclasses.asdict(optimizer), **(params.pop(OPTIMIZER) or {})}
            own[OPTIMIZER] = dataclasses.asdict(_optimizer(f"{section}.{name}.{OPTIMIZER}", overlay))
        resolved[name] = {**resolve_parameters(name, params, f"{section}.{name}"), **own}
    return resolved


def _class_order(source: str, order) -> None:
    """fixed | seeded | a permutation of the labels (checked against the data set's classes when it is loaded)."""
    if order in ("fixed", "seeded"):
        return
    if isinstance(order, list) and all(isinstance(c, int) and c >= 0 for c in order) and len(set(order)) == len(order):
        return
    raise ConfigError(f"{source}.class_order={order!r} must be 'fixed', 'seeded' or a permutation of the labels")


def _domain(source: str, values: dict) -> dict | None:
    """The domain stream's options (setting domain only), checked and stored as a mapping."""
    raw = values.get("domain")
    if values["setting"] != "domain":
        if raw is not None:
            raise ConfigError(
                f"{source}.domain is for setting: domain only (this scenario's setting is {values['setting']})"
            )
        return None
    if any(isinstance(e, dict) and "remove" in e for e in values.get("events") or []):
        raise ConfigError(f"{source}.events: removing an experience is not supported in the domain setting yet")
    try:
        options = domain_options(raw)
    except ValueError as error:
        raise ConfigError(f"{source}.{error}") from None
    return {"kind": options["domain"], **{k: v for k, v in options.items() if k != "domain"}}


def scenario_from_dict(raw: dict, source: str = "scenario") -> Scenario:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a scenario must be a mapping of fields, got {type(raw).__name__}")
    _check_keys(source, raw, Scenario)
    values = dict(raw)
    _one_of(source, "dataset", values["dataset"], DATASETS.names())
    _one_of(source, "setting", values["setting"], SETTINGS)
    _one_of(source, "head", values.get("head", "full"), HEADS)
    _class_order(source, values.get("class_order", "fixed"))
    _one_of(source, "normalise", values.get("normalise", "per_feature"), NORMALISATIONS)
    if values.get("pad_to") is not None:
        _positive_int(source, "pad_to", values["pad_to"])
    values["domain"] = _domain(source, values)
    for key in ("n_experiences", "epochs", "batch_size", "eval_batch_size"):
        if key in values:
            _positive_int(source, key, values[key])
    values["seeds"] = _seeds(source, values.get("seeds", [0]))
    values["backbone"] = _backbone(f"{source}.backbone", values.get("backbone"))
    values["optimizer"] = _optimizer(f"{source}.optimizer", values.get("optimizer"))
    values["strategies"] = _strategies(f"{source}.strategies", values["strategies"], values["optimizer"])
    if values.get("events") is not None:
        values["events"] = validate_events(f"{source}.events", values["events"], values["n_experiences"])
    scenario = Scenario(**values)
    _check_backbones(scenario, source)
    return scenario


def _isotropic(backbone_type: str) -> bool:
    """Whether every orthogonal change of basis of its hidden layers is a symmetry."""
    return bool(BACKBONES.get(backbone_type).isotropic)


def _check_backbones(scenario: Scenario, source: str) -> None:
    for name in scenario.strategies:
        spec = lookup(name)
        if spec.topology and not _isotropic(scenario.backbone.type):
            allowed = [t for t in sorted(BACKBONES) if _isotropic(t)]
            raise ConfigError(
                f"{source}.strategies.{name}: {ISO_PREFIX}strategies change the topology of an isotropic network and "
                f"need backbone.type in {allowed}, not {scenario.backbone.type!r}"
            )
        if scenario.events is not None and spec.trains_once:
            raise ConfigError(
                f"{source}.strategies.{name}: {name} trains once on the whole stream and cannot follow `events`; "
                "remove it from this scenario"
            )


def shipped_scenarios() -> dict[str, Path]:
    """The scenario files installed with isocl (the repository's benchmarks/scenarios/), by name."""
    folder = resources.files("isocl.scenarios")
    return {
        Path(p.name).stem: Path(str(p))
        for p in sorted(folder.iterdir(), key=lambda p: p.name)
        if p.name.endswith(".yaml")
    }


def read_scenario_file(name_or_path: str | Path) -> tuple[dict, str]:
    """A shipped scenario by name (see `isocl list`) or a YAML file by path: its contents and its file name."""
    path = Path(name_or_path)
    if not path.suffix:
        shipped = shipped_scenarios()
        if str(name_or_path) not in shipped:
            raise ConfigError(
                f"unknown scenario {str(name_or_path)!r}; shipped: {sorted(shipped)}, or give a path to a .yaml file"
            )
        path = shipped[str(name_or_path)]
    if not path.is_file():
        raise ConfigError(f"scenario file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from error
    return raw, path.name


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A stream scenario by shipped name or path (scheduled-task files: isocl/harness/scheduled_config.py)."""
    raw, source = read_scenario_file(name_or_path)
    if isinstance(raw, dict) and raw.get("kind") == "scheduled":
        raise ConfigError(f"{source} is a scheduled-task scenario: run it with `isocl run {Path(source).stem}`")
    return scenario_from_dict(raw, source=source)
