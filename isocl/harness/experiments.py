"""Scenario files of every kind, by their `kind`: a stream scenario (none given; config.Scenario, run by the
harness), `scheduled` (the scheduled-task experiment, scheduled.py) and `abundance` (neuro-abundance,
abundance.py). The two experiments outside the harness each have a runner and a report of their own."""

from pathlib import Path

from isocl.errors import ConfigError
from isocl.harness import abundance, abundance_report, scheduled, scheduled_report
from isocl.harness.abundance_config import AbundanceScenario, abundance_from_dict
from isocl.harness.config import read_scenario_file, scenario_from_dict
from isocl.harness.scheduled_config import ScheduledScenario, scheduled_from_dict

KINDS = {"scheduled": scheduled_from_dict, "abundance": abundance_from_dict}
RUNNERS = {
    ScheduledScenario: (scheduled.run_all, scheduled_report.write_report),
    AbundanceScenario: (abundance.run_all, abundance_report.write_report),
}


def load_experiment(name_or_path):
    """A shipped or given scenario file: a stream scenario or one of the experiments outside the harness."""
    raw, source = read_scenario_file(name_or_path)
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if kind is None:
        return scenario_from_dict(raw, source)
    if kind not in KINDS:
        raise ConfigError(f"{source}.kind={kind!r} must be one of {sorted(KINDS)}, or left out for a stream scenario")
    return KINDS[kind](raw, source)


def is_experiment(scenario) -> bool:
    """True for the experiments outside the stream harness (they take --seeds only on the command line)."""
    return type(scenario) in RUNNERS


def run_experiment(experiment, out: Path, data_root=None, restart: bool = False) -> Path:
    """Every arm and seed of an experiment outside the harness (finished runs read back); its report's path."""
    run_all, write_report = RUNNERS[type(experiment)]
    summaries = run_all(experiment, out, data_root, restart=restart)
    return write_report(experiment.name, summaries, Path(out) / experiment.name)
