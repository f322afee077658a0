"""`isocl run`: the scenarios named (stream and scheduled-task ones), run here one after another or as a sweep, then
their tables and reports."""

from dataclasses import replace
from pathlib import Path

from isocl.errors import ConfigError
from isocl.harness.overrides import with_overrides


def _device(requested: str | None) -> str:
    import torch

    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ConfigError(f"--device {requested!r} is not a device; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {requested}: no CUDA device is available here; use --device cpu")
    return requested


def _writable(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the results")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".isocl-write-test").touch()
        (out / ".isocl-write-test").unlink()
    except OSError as error:
        raise ConfigError(f"--out {out} is not writable ({error.strerror}); give another folder") from None
    return out


def _compile_backend(name: str | None) -> str | None:
    if name is None:
        return None
    import torch

    backends = torch._dynamo.list_backends(exclude_tags=())
    if name not in backends:
        raise ConfigError(f"--compile {name!r} is not a torch.compile backend; use inductor (or one of {backends})")
    return name


def options_from_args(args, out: Path):
    from isocl.harness.runner import RunOptions

    return RunOptions(
        out=out,
        data_root=args.data_root,
        download=args.download,
        wandb=args.wandb,
        wandb_timeout=args.wandb_timeout,
        device=_device(args.device),
        progress=not args.no_progress,
        restart=getattr(args, "restart", False),
        compile=_compile_backend(args.compile),
    )


def _scenarios(args) -> tuple[list, list]:
    """The stream scenarios (command-line overrides applied) and the experiments outside the harness (--seeds
    only: scheduled tasks, neuro-abundance)."""
    from isocl.harness.experiments import is_experiment, load_experiment

    overrides = dict(
        strategies=args.strategies,
        seeds=args.seeds,
        epochs=args.epochs,
        backbone=args.backbone,
        normalise=args.normalise,
    )
    streams, experiments = [], []
    for experiment in map(load_experiment, args.scenario):
        if is_experiment(experiment):
            if args.strategies or args.epochs or args.backbone or args.normalise:
                raise ConfigError(
                    f"{experiment.name}: a {experiment.kind} scenario takes --seeds only (set the rest in it)"
                )
            experiments.append(replace(experiment, seeds=tuple(args.seeds)) if args.seeds else experiment)
        else:
            streams.append(with_overrides(experiment, **overrides))
    return streams, experiments


def _run_experiment(args, experiment) -> None:
    from isocl.harness.experiments import run_experiment

    report = run_experiment(experiment, args.out, args.data_root, restart=args.restart)
    print(report.read_text())
    print(f"report (tables, accuracy and widths plot): {report}")


def _launch(args):
    from isocl.harness.sweep import Launch

    if args.launcher != "slurm":
        for flag, value in (
            ("--partition", args.partition),
            ("--gpus-per-job", args.gpus_per_job),
            ("--no-wait", args.no_wait),
        ):
            if value:
                raise ConfigError(f"{flag} is for --launcher slurm; drop it or add --launcher slurm")
    if args.gpus_per_job < 0:
        raise ConfigError(f"--gpus-per-job={args.gpus_per_job} must be 0 or more")
    return Launch(
        args.jobs, args.launcher, args.threads, args.partition, args.time, args.gpus_per_job, not args.no_wait
    )


def _summaries(args, scenarios, options, launch) -> dict[str, list[dict]]:
    """Each scenario's summaries: run here one after another (--jobs 1), or as a sweep of jobs."""
    import torch

    from isocl.harness.runner import run_scenario
    from isocl.harness.sweep import run_sweep

    if not scenarios:
        return {}
    if launch.jobs == 1 and launch.launcher == "local":
        if launch.threads:
            torch.set_num_threads(launch.threads)
        return {s.name: run_scenario(s, options) for s in scenarios}
    states = run_sweep(scenarios, options, launch)
    return {s.name: [j.summary for j in states if j.scenario == s.name and j.summary] for s in scenarios}


def run_command(args) -> int:
    from isocl.harness.report import comparison_table, write_report

    scenarios, experiments = _scenarios(args)
    launch = _launch(args)
    options = options_from_args(args, _writable(args.out))
    for experiment in experiments:
        _run_experiment(args, experiment)
    for name, summaries in _summaries(args, scenarios, options, launch).items():
        if summaries:
            print(comparison_table(summaries))
            report = write_report(args.out / name, args.out / name)
            print(f"\nresults in {args.out / name}")
            print(f"report (tables, accuracy and widths plots): {report}")
    return 0
