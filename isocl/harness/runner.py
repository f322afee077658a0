"""Run a scenario: for each seed and strategy, train experience by experience, evaluate every experience after
each one, and write the accuracy matrix, metrics and checkpoints as it goes.

A finished (strategy, seed) run has a `summary.json` and is skipped; an unfinished one resumes from the
checkpoint of its last finished experience.
"""

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from avalanche.training.determinism.rng_manager import RNGManager
from avalanche.training.plugins import EvaluationPlugin
from torch import nn
from tqdm.auto import tqdm

from isocl import __version__
from isocl.cl import Classifier, EpochProgress, PenaltyPlugin, WidthRecorder, build_classifier
from isocl.cl.removal import remove_experience
from isocl.data import Stream, batched, build_stream, load_dataset
from isocl.harness import checkpoint, store
from isocl.harness.config import Scenario
from isocl.harness.metrics import mean_over, removal_accuracies, retained, summarise
from isocl.harness.registry import STRATEGIES, StrategyContext, load_strategies, strategy_parameters
from isocl.harness.wandb_log import WandbRun
from isocl.nn import build_backbone


@dataclass(frozen=True)
class RunOptions:
    out: Path = Path("runs")
    data_root: Path | None = None
    cache_dir: Path | None = None
    download: bool = False
    wandb: str = "offline"
    wandb_project: str = "isocl"
    device: str = "cpu"
    progress: bool = True


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def backbone_spec(scenario: Scenario, stream: Stream) -> dict:
    sizes = [stream.input_size, *scenario.backbone.hidden, stream.n_classes]
    return {"type": scenario.backbone.type, "sizes": sizes, **scenario.backbone.options}


def make_optimizer(scenario: Scenario, model: nn.Module) -> torch.optim.Optimizer:
    """The scenario's optimiser, in its multi-tensor (foreach) form: 1.3x faster steps on CPU than PyTorch's
    per-tensor default there, same arithmetic."""
    cfg = scenario.optimizer
    if cfg.name == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, foreach=True
        )
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    return cls(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


@torch.no_grad()
def evaluate(model: nn.Module, stream: Stream, batch_size: int, device: str) -> list[float]:
    """Test accuracy on every experience of the stream, in [0, 1]."""
    model.eval()
    row = []
    for exp in stream.experiences:
        correct = 0
        for start in range(0, len(exp.test_y), batch_size):
            x = exp.test_x[start : start + batch_size].to(device)
            y = exp.test_y[start : start + batch_size].to(device)
            correct += int((model.logits(x, exp.task_label).argmax(1) == y).sum())
        row.append(correct / len(exp.test_y))
    model.train()
    return row


def _silent_evaluator() -> EvaluationPlugin:
    """isocl evaluates by itself; Avalanche's evaluator only has to exist (and not warn that it logs nothing)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No loggers specified")
        return EvaluationPlugin(loggers=[])


def build_model(spec: dict, stream: Stream) -> Classifier:
    tasks = [e.classes for e in stream.experiences] if stream.setting == "task" else None
    return build_classifier(build_backbone(spec), stream.n_classes, tasks)


def param_count(model: Classifier) -> int:
    return sum(p.numel() for p in model.backbone.parameters())


@dataclass
class Run:
    """One (scenario, strategy, seed): the objects it trains and where it writes."""

    scenario: Scenario
    strategy_name: str
    params: dict
    seed: int
    stream: Stream
    options: RunOptions

    @property
    def directory(self) -> Path:
        return store.run_dir(self.options.out, self.scenario.name, self.strategy_name, self.seed)

    def config(self) -> dict:
        params = {**strategy_parameters(self.strategy_name), **self.params}
        return {**self.scenario.to_dict(), "strategy": self.strategy_name, "strategy_params": params, "seed": self.seed}

    def setup(self, restored: checkpoint.Restored | None):
        batched.install()  # whole-minibatch fetches from Avalanche's datasets (isocl/data/batched.py)
        RNGManager.set_random_seeds(self.seed)
        spec = restored.spec if restored else backbone_spec(self.scenario, self.stream)
        self.model = build_model(spec, self.stream)
        if restored:
            self.model.output_classes = restored.model_state["output_classes"].clone()
            self.model.load_state_dict(restored.model_state)
        # on its device before the optimiser exists, so that restored optimiser state lands beside the parameters
        self.model.to(self.options.device)
        self.optimizer = make_optimizer(self.scenario, self.model)
        self.recorder = WidthRecorder()
        early = [PenaltyPlugin(), EpochProgress(self.options.progress)]
        self.harness_plugins = [*early, self.recorder]  # isocl's own: never checkpointed
        ctx = StrategyContext(
            model=self.model,
            optimizer=self.optimizer,
            criterion=nn.CrossEntropyLoss(),
            train_mb_size=self.scenario.batch_size,
            train_epochs=self.scenario.epochs,
            eval_mb_size=self.scenario.eval_batch_size,
            device=self.options.device,
            plugins=early,
            late_plugins=[self.recorder],
            evaluator=_silent_evaluator(),
            stream=self.stream,
        )
        self.builder = STRATEGIES.get(self.strategy_name)
        self.strategy = self.builder(ctx, **self.params)
        if restored:
            self.optimizer.load_state_dict(restored.optimizer_state)
            checkpoint.restore_strategy(restored, self.strategy, self.references())
            # Avalanche resets the optimiser state on its first make_optimizer call; tell it the parameters
            # are already registered so the restored moments survive
            self.strategy.optimized_param_id = dict(self.model.named_parameters())

    def references(self) -> dict:
        return {"model": self.model, "optimizer": self.optimizer, "train": self.stream.train, "test": self.stream.test}

    def save_checkpoint(self, progress: dict) -> None:
        checkpoint.save(
            self.directory,
            model=self.model,
            optimizer=self.optimizer,
            strategy=self.strategy,
            attributes=self.builder.checkpoint_attributes,
            harness_plugins=self.harness_plugins,
            references=self.references(),
            progress=progress,
        )


def _events(run: Run) -> list[tuple[str, int | None]]:
    """(train | remove, experience) per step; joint training is one step on the whole stream (None)."""
    return [("train", None)] if run.builder.trains_once else run.scenario.event_list()


def _train_step(run: Run, step: int | None) -> float:
    benchmark = run.stream.benchmark
    start = time.perf_counter()
    run.strategy.train(benchmark.train_stream if step is None else benchmark.train_stream[step], num_workers=0)
    return time.perf_counter() - start


def _metric_events(run: Run) -> list:
    """The events as the metrics read them (joint: one row that trains every experience)."""
    every = list(range(len(run.stream.experiences)))
    return [(kind, every if exp is None else exp) for kind, exp in _events(run)]


def _fresh_progress() -> dict:
    return {"next_step": 0, "matrix": [], "train_seconds": 0.0, "widths": [], "widths_history": [], "removals": []}


def _metrics_file_upto(directory: Path, next_step: int) -> Path:
    """metrics.jsonl holding only the steps a checkpoint covers (a step cut off before its checkpoint is redone)."""
    path = directory / "metrics.jsonl"
    kept = [r for r in store.read_jsonl(path) if r["step"] < next_step]
    path.unlink(missing_ok=True)
    for record in kept:
        store.append_jsonl(path, record)
    return path


def _wandb_run(run: Run) -> WandbRun:
    return WandbRun(
        run.options.wandb,
        run.directory,
        project=run.options.wandb_project,
        group=run.scenario.name,
        name=f"{run.scenario.name}-{run.strategy_name}-seed{run.seed}",
        config=run.config(),
    )


def _drain_epochs(run: Run, index: int, progress: dict, metrics: Path, wandb) -> None:
    for epoch in run.recorder.drain():
        epoch_record = {"event": "epoch", "step": index, **epoch}
        progress["widths_history"].append(epoch_record)
        store.append_jsonl(metrics, epoch_record)
        wandb.log({"params": epoch["params"], **_widths(epoch["widths"])}, step=len(progress["widths_history"]))


def _remove(run: Run, index: int, experience: int, progress: dict, metrics: Path) -> dict:
    """Withdraw a trained experience; returns its `removals` entry (the end values are filled at the end)."""
    events = _events(run)
    slot = [exp for kind, exp in events[:index] if kind == "train"].index(experience)
    before = {"widths": run.model.backbone.sizes, "params": param_count(run.model)}
    remove_experience(run.strategy, experience, run.stream.experiences[experience].classes, slot)
    after = {"widths": run.model.backbone.sizes, "params": param_count(run.model)}
    marker = {"event": "remove", "step": index, "experience": experience, "epoch": None, **after}
    progress["widths_history"].append(marker)
    store.append_jsonl(metrics, marker)
    return {"experience": experience, "step": index, "before": before, "after": after}


def _run_event(run: Run, index: int, event: tuple, progress: dict, metrics: Path, wandb) -> None:
    kind, exp = event
    if kind == "train":
        progress["train_seconds"] += _train_step(run, exp)
        _drain_epochs(run, index, progress, metrics, wandb)
    else:
        progress["removals"].append(_remove(run, index, exp, progress, metrics))
    row = evaluate(run.model, run.stream, run.scenario.eval_batch_size, run.options.device)
    progress["matrix"].append(row)
    progress["widths"].append(run.model.backbone.sizes)
    record = _record(run, index, event, row, progress)
    store.append_jsonl(metrics, record)
    wandb.log(_numbers(record) | _per_experience(row), step=len(progress["widths_history"]))
    progress["next_step"] = index + 1


def _finish(run: Run, progress: dict, wandb: WandbRun) -> dict:
    store.write_json_atomic(run.directory / "summary.json", _summary(run, progress))
    summary = store.read_json(run.directory / "summary.json")  # the same JSON a skipped run reads back
    wandb.log_matrix("accuracy_matrix", progress["matrix"], step=len(progress["widths_history"]))
    wandb.summarise({k: v for k, v in summary.items() if k in ("average_accuracy", "forgetting", "bwt", "params")})
    wandb.finish()
    checkpoint.remove(run.directory)
    return summary


def execute(run: Run) -> dict:
    """Train and evaluate one run to the end (resuming if a checkpoint exists) and write its summary."""
    restored = checkpoint.load(run.directory)
    run.setup(restored)
    progress = restored.progress if restored else _fresh_progress()
    metrics = _metrics_file_upto(run.directory, progress["next_step"])
    wandb = _wandb_run(run)
    events = _events(run)
    bar = tqdm(events, desc=f"{run.strategy_name} seed {run.seed}", unit="step", disable=not run.options.progress)
    for index, event in enumerate(bar):
        if index >= progress["next_step"]:
            _run_event(run, index, event, progress, metrics, wandb)
            run.save_checkpoint(progress)
    return _finish(run, progress, wandb)


def _numbers(record: dict) -> dict:
    """The scalar entries of a metrics record, as W&B series (the W&B step counts epochs)."""
    scalars = {k: v for k, v in record.items() if isinstance(v, int | float) and k != "step"}
    return {"experience": record["step"], **scalars, **_widths(record["widths"])}


def _widths(sizes: list[int]) -> dict:
    return {f"width/hidden{k}": w for k, w in enumerate(sizes[1:-1])}


def _per_experience(row: list[float]) -> dict:
    return {f"accuracy/exp{j}": acc for j, acc in enumerate(row)}


def _record(run: Run, index: int, event: tuple, row: list[float], progress: dict) -> dict:
    kind, exp = event
    seen = retained(_metric_events(run), index)
    return {
        "event": "eval",
        "step": index,
        ("trained" if kind == "train" else "removed"): "all" if exp is None else exp,
        "accuracy": row,
        "average_accuracy_seen": mean_over(row, seen),
        "params": param_count(run.model),
        "widths": run.model.backbone.sizes,
        "train_seconds": progress["train_seconds"],
    }


def _summary(run: Run, progress: dict) -> dict:
    events, matrix = _metric_events(run), progress["matrix"]
    end = {"widths": run.model.backbone.sizes, "params": param_count(run.model)}
    removals = [
        {**r, **removal_accuracies(matrix, events, r["step"], r["experience"]), "end": end}
        for r in progress["removals"]
    ]
    return {
        "scenario": run.scenario.name,
        "strategy": run.strategy_name,
        "seed": run.seed,
        "events": [{kind: exp} for kind, exp in events],
        "accuracy_matrix": matrix,
        **summarise(matrix, events),
        "removals": removals,
        "params": param_count(run.model),
        "widths": progress["widths"],
        "widths_history": progress["widths_history"],
        "train_seconds": progress["train_seconds"],
        "config": run.config(),
        "isocl_version": __version__,
        "device": run.options.device,
    }


def run_scenario(scenario: Scenario, options: RunOptions) -> list[dict]:
    """Every (seed, strategy) of the scenario; finished runs are read back, not repeated."""
    # denormal floats in the optimiser's moments slow CPU arithmetic by up to 40% (benchmarks/core.py); flushing
    # them to zero changes values below 1e-38 only
    torch.set_flush_denormal(True)
    load_strategies()
    data = load_dataset(scenario.dataset, options.data_root, options.cache_dir, options.download)
    summaries = []
    for seed in scenario.seeds:
        stream = build_stream(
            data, scenario.setting, scenario.n_experiences, class_order=scenario.class_order, seed=seed,
            dataset=scenario.dataset,
        )  # fmt: skip
        for name, params in scenario.strategies.items():
            run = Run(scenario, name, params, seed, stream, options)
            done = run.directory / "summary.json"
            if done.exists():
                summaries.append(store.read_json(done))
                continue
            summaries.append(execute(run))
    return summaries
