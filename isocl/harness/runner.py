"""Run a scenario: for each seed and strategy, perform the events (train or remove an experience), evaluate every
experience after each, and write the records, checkpoints and the summary as it goes.

A run's data flows forward: scenario -> stream -> strategy -> accuracy rows -> RunHistory -> metrics.jsonl and
summary.json -> W&B. A finished (strategy, seed) run has a `summary.json` and is reused; an unfinished one resumes
from the checkpoint of its last finished event; either only when its fingerprint (isocl/harness/provenance.py)
matches this run's. One process at a time works in a run folder (a lock file); a run whose loss stops being finite
stops, is marked failed, and the others go on.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from avalanche.training.determinism.rng_manager import RNGManager
from filelock import FileLock, Timeout
from tqdm.auto import tqdm

from isocl.cl.plugins import DivergedError
from isocl.cl.strategy import lookup
from isocl.data import Stream, batched, build_stream, domain_options, load_dataset
from isocl.errors import ConfigError
from isocl.harness import checkpoint, folders, provenance, steps, store
from isocl.harness.build import build_model, build_optimizer, build_strategy, new_backbone
from isocl.harness.config import Scenario
from isocl.harness.history import RunHistory
from isocl.harness.runlog import RunLog
from isocl.nn import build_backbone
from isocl.topology import NonFiniteError


@dataclass(frozen=True)
class RunOptions:
    out: Path = Path("runs")
    data_root: Path | None = None
    cache_dir: Path | None = None
    download: bool = False
    wandb: str = "offline"
    wandb_project: str = "isocl"
    wandb_timeout: float = 15.0  # seconds W&B may take to start or finish online before falling back to offline
    device: str = "cpu"
    progress: bool = True
    restart: bool = False  # discard whatever the run folders hold
    compile: str | None = None  # a torch.compile backend for the backbone's steps (inductor: fused), or eager


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class Run:
    """One (scenario, strategy, seed): what it trains on, with which parameters, and where it writes."""

    scenario: Scenario
    strategy_name: str
    params: dict  # resolved: every parameter of the strategy
    seed: int
    stream: Stream | None  # set when the run is about to execute
    options: RunOptions
    data_digest: str = ""

    def __post_init__(self):
        self.spec = lookup(self.strategy_name)
        # the run's own config: the scenario's other strategies and seeds are not part of what defines it
        shared = {k: v for k, v in self.scenario.to_dict().items() if k not in ("strategies", "seeds")}
        config = {**shared, "strategy": self.strategy_name, "strategy_params": self.params}
        self.provenance = store.plain(
            provenance.provenance(
                {**config, "seed": self.seed}, self.data_digest, self.options.device, self.options.compile
            )
        )

    @property
    def directory(self) -> Path:
        return store.run_dir(self.options.out, self.scenario.name, self.strategy_name, self.seed)

    def events(self) -> list[tuple[str, int | list[int]]]:
        """(train | remove, experience) per step; joint training is one step that trains every experience."""
        if self.spec.trains_once:
            return [("train", list(range(len(self.stream.experiences))))]
        return self.scenario.event_list()

    def identity(self) -> dict:
        """Who the run is and where it comes from: the head of its summary.json."""
        return {
            "scenario": self.scenario.name,
            "strategy": self.strategy_name,
            "seed": self.seed,
            **self.provenance,
            "fingerprint": provenance.fingerprint(self.provenance),
        }

    def setup(self, restored: checkpoint.Restored | None) -> None:
        batched.install()  # whole-minibatch fetches from Avalanche's datasets (isocl/data/batched.py)
        RNGManager.set_random_seeds(self.seed)
        hidden = self.params.get("hidden")
        backbone = build_backbone(restored.spec) if restored else new_backbone(self.scenario, self.stream, hidden)
        self.model = build_model(backbone, self.stream)
        if restored:
            self.model.output_classes = restored.model_state["output_classes"].clone()
            self.model.load_state_dict(restored.model_state)
        # on its device before the optimiser exists, so that restored optimiser state lands beside the parameters
        self.model.to(self.options.device)
        backbone.fuse(self.options.compile)
        self.optimizer = build_optimizer(self.scenario, self.model, self.params)
        self.built = build_strategy(
            self.scenario,
            self.spec,
            self.params,
            self.model,
            self.optimizer,
            self.options.device,
            self.options.progress,
        )
        self.strategy = self.built.strategy
        if restored:
            self.optimizer.load_state_dict(restored.optimizer_state)
            checkpoint.restore_strategy(restored, self.strategy, self.references())

    def references(self) -> dict:
        return {"model": self.model, "optimizer": self.optimizer, "train": self.stream.train, "test": self.stream.test}

    def save_checkpoint(self, history: RunHistory) -> None:
        checkpoint.save(
            self.directory,
            model=self.model,
            optimizer=self.optimizer,
            strategy=self.strategy,
            attributes=self.spec.checkpoint_attributes,
            harness_plugins=self.built.harness_plugins,
            references=self.references(),
            history=history.to_state(),
        )


def _training_slot(events: list, index: int, experience: int) -> int:
    """Avalanche's train_exp_counter when `experience` was trained: its place among the earlier train events."""
    return [exp for kind, exp in events[:index] if kind == "train"].index(experience)


def _perform(run: Run, index: int, history: RunHistory, log: RunLog) -> None:
    """One event, its records and the evaluation after it."""
    events = run.events()
    kind, exp = events[index]
    if kind == "train":
        history.train_seconds += steps.train_step(run.strategy, run.stream, None if isinstance(exp, list) else exp)
        for epoch in run.built.recorder.drain():
            log.epoch(history.add_epoch(index, epoch))
    else:
        before, after = steps.remove_step(run.strategy, run.stream, exp, _training_slot(events, index, exp))
        log.marker(history.add_removal(index, exp, before, after))
    row = steps.evaluate(run.model, run.stream, run.scenario.eval_batch_size, run.options.device)
    log.evaluation(history.add_evaluation(index, events[index], row, steps.model_size(run.model), events))


def execute(run: Run) -> dict:
    """Train and evaluate one run to the end (resuming if a checkpoint exists) and write its summary."""
    restored = checkpoint.load(run.directory)
    run.setup(restored)
    history = RunHistory.from_state(restored.history) if restored else RunHistory()
    log = RunLog(run, history)
    if not history.widths_history:  # a fresh run: its starting widths
        log.marker(history.add_start(steps.model_size(run.model)))
    events = run.events()
    status = {"status": "finished"}
    bar = tqdm(range(len(events)), desc=f"{run.strategy_name} seed {run.seed}", disable=not run.options.progress)
    try:
        for index in bar:
            if index >= history.next_step:
                _perform(run, index, history, log)
                run.save_checkpoint(history)
    except (DivergedError, NonFiniteError) as error:
        status = {"status": "failed", "failure": f"{run.strategy_name} seed {run.seed}: {error}"}
        print(f"isocl: run failed: {status['failure']}", file=sys.stderr)
    summary = store.plain({**history.summary(run.identity(), events, steps.model_size(run.model)), **status})
    store.write_json_atomic(run.directory / "summary.json", summary)
    log.finish(summary)
    checkpoint.remove(run.directory)
    return summary


def _locked(run: Run) -> dict | None:
    """Execute the run holding its folder's lock; None when another process holds it (that run is skipped)."""
    run.directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run.directory / folders.LOCK_FILE, timeout=0)
    try:
        with lock:
            folders.start_folder(run)
            return execute(run)
    except Timeout:
        print(f"isocl: {run.directory} is in use by another isocl process; skipped", file=sys.stderr)
        return None


def run_scenario(scenario: Scenario, options: RunOptions) -> list[dict]:
    """Every (seed, strategy) of the scenario; finished runs are read back, not repeated."""
    # denormal floats in the optimiser's moments slow CPU arithmetic by up to 40% (benchmarks/core.py); flushing
    # them to zero changes values below 1e-38 only
    torch.set_flush_denormal(True)
    runs, streams = _plan(scenario, options)
    reusable = [folders.check_folder(run) for run in runs]  # every folder checked before anything trains
    summaries = []
    for run, finished in zip(runs, reusable, strict=True):
        if finished is not None:
            checkpoint.remove(run.directory)  # a finished run keeps only its results
            summaries.append(finished)
            continue
        run.stream = streams.get(run.seed)
        if (summary := _locked(run)) is not None:
            summaries.append(summary)
    return summaries


def _plan(scenario: Scenario, options: RunOptions) -> tuple[list["Run"], "SeedStreams"]:
    data = load_dataset(scenario.dataset, options.data_root, options.cache_dir, options.download)
    streams = SeedStreams(scenario, data)
    streams.get(scenario.seeds[0])  # the split and class order are checked before anything trains
    runs = [
        Run(scenario, name, params, seed, None, options, streams.digest)
        for seed in scenario.seeds
        for name, params in scenario.strategies.items()
    ]
    return runs, streams


def check_runs(scenario: Scenario, options: RunOptions) -> list[tuple["Run", dict | None]]:
    """Every (seed, strategy) run of the scenario with its finished summary (None: to start or resume); every
    folder is checked first, so a stale one stops everything before anything trains."""
    runs, _ = _plan(scenario, options)
    return [(run, folders.check_folder(run)) for run in runs]


def plan_runs(scenario: Scenario, options: RunOptions) -> list["Run"]:
    """Every (seed, strategy) run of the scenario with its stream (all seeds' streams at once: for small data)."""
    runs, streams = _plan(scenario, options)
    for run in runs:
        run.stream = streams.get(run.seed)
    return runs


class SeedStreams:
    """The scenario's stream for a seed, built when first asked for; only the latest is kept (a permuted-MNIST
    stream is about 3 GB)."""

    def __init__(self, scenario: Scenario, data):
        self.scenario, self.data, self.digest = scenario, data, data.digest()
        self.seed, self.stream = None, None

    def get(self, seed: int) -> Stream:
        if seed != self.seed:
            self.seed, self.stream = seed, None  # let the previous stream go before building the next
            self.stream = self._build(seed)
        return self.stream

    def _build(self, seed: int) -> Stream:
        s = self.scenario
        extra = {"pad_to": s.pad_to, "normalise": s.normalise}
        extra.update(domain_options(s.domain) if s.setting == "domain" else {})
        try:
            return build_stream(
                self.data, s.setting, s.n_experiences, class_order=s.class_order, seed=seed, dataset=s.dataset, **extra
            )
        except ValueError as error:  # a split or class order that does not fit the data set
            raise ConfigError(f"{s.name}: {error}") from None
