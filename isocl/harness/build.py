"""Build what a run trains: the model (backbone + classifier), its optimiser, and the strategy with the harness's
plugins, the scenario's head policy and, for `iso-X`, the topology policy."""

import warnings
from dataclasses import dataclass

from avalanche.training.plugins import EvaluationPlugin
from torch import nn

from isocl.cl import (
    Classifier,
    DivergenceGuard,
    EpochProgress,
    IncrementalHead,
    PenaltyPlugin,
    TopologyPlugin,
    WidthRecorder,
    build_classifier,
)
from isocl.cl.strategy import OPTIMIZER, StrategyContext, StrategySpec, split_parameters
from isocl.data import Stream
from isocl.harness.config import OptimizerConfig, Scenario
from isocl.harness.optimizers import OPTIMIZERS
from isocl.nn import create_backbone


def new_backbone(scenario: Scenario, stream: Stream, hidden: tuple[int, ...] | None = None):
    """The scenario's backbone for the stream's input shape and classes (the backbone flattens what it needs);
    `hidden` (a strategy's own widths) replaces the scenario's."""
    cfg = scenario.backbone
    widths = list(hidden or cfg.hidden)
    return create_backbone(cfg.type, stream.input_shape, stream.n_classes, widths, **cfg.options)


def build_model(backbone, stream: Stream) -> Classifier:
    tasks = [e.classes for e in stream.experiences] if stream.setting == "task" else None
    return build_classifier(backbone, stream.n_classes, tasks)


def build_optimizer(scenario: Scenario, model: nn.Module, params: dict):
    """The strategy's own optimiser (its `optimizer` parameter) if it names one, else the scenario's."""
    cfg = OptimizerConfig(**params[OPTIMIZER]) if OPTIMIZER in params else scenario.optimizer
    return OPTIMIZERS.get(cfg.name)(model.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum)


def param_count(model: Classifier) -> int:
    return sum(p.numel() for p in model.backbone.parameters())


def _silent_evaluator() -> EvaluationPlugin:
    """isocl evaluates by itself; Avalanche's evaluator only has to exist (and not warn that it logs nothing)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No loggers specified")
        return EvaluationPlugin(loggers=[])


@dataclass
class BuiltStrategy:
    strategy: object  # the Avalanche strategy
    recorder: WidthRecorder
    harness_plugins: list  # isocl's own bookkeeping: never checkpointed


def build_strategy(scenario: Scenario, spec: StrategySpec, params: dict, model, optimizer, device, progress):
    """The strategy with, before its own plugins: the backbone's penalty, progress, the incremental head (when
    the scenario asks for it) and the topology policy (iso- variants); after them: the divergence guard and the
    width recorder."""
    own, policy = split_parameters(spec, params)
    recorder, guard = WidthRecorder(), DivergenceGuard()
    bookkeeping = [PenaltyPlugin(), EpochProgress(progress)]
    early = [*bookkeeping]
    if scenario.head == "incremental":
        early.append(IncrementalHead())
    if policy is not None:
        early.append(TopologyPlugin(policy))
    ctx = StrategyContext(
        model=model,
        optimizer=optimizer,
        criterion=nn.CrossEntropyLoss(),
        train_mb_size=scenario.batch_size,
        train_epochs=scenario.epochs,
        eval_mb_size=scenario.eval_batch_size,
        device=device,
        plugins=early,
        late_plugins=[guard, recorder],
        evaluator=_silent_evaluator(),
    )
    return BuiltStrategy(spec.builder(ctx, **own), recorder, [*bookkeeping, guard, recorder])
