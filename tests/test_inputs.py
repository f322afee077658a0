"""Data sets, streams, scenario validation and the CLI: each kind of bad input gets its own message."""

import pytest
import torch
import yaml

from isocl.cli import main
from isocl.data import DatasetNotFoundError, TensorData, build_stream, load_dataset
from isocl.harness.config import ConfigError, load_scenario, scenario_from_dict, shipped_scenarios
from isocl.harness.overrides import with_overrides

VALID = {
    "name": "t",
    "dataset": "synthetic",
    "setting": "class",
    "n_experiences": 5,
    "backbone": {"type": "tanh_mlp", "hidden": [8]},
    "strategies": {"naive": {}},
}


def test_shipped_scenarios_are_valid():
    assert {"split-digits", "split-cifar10-class", "split-cifar10-task", "split-cifar100-task"} <= set(
        shipped_scenarios()
    )
    from isocl.harness.experiments import load_experiment

    for name in shipped_scenarios():
        assert load_experiment(name).name == name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strategies": {"nope": {}}}, r"unknown strategy 'nope'; registered: .*naive"),
        ({"strategies": {"ewc": {"lambda": 1}}}, r"strategies.ewc: unknown parameter\(s\) \['lambda'\]; ewc takes"),
        ({"dataset": "svhn"}, r"dataset='svhn' is not valid; allowed: \['cifar10', 'cifar100', 'digits', 'fashion"),
        ({"setting": "online"}, r"setting='online' is not valid; allowed: \['class', 'task', 'domain'\]"),
        ({"domain": {"kind": "permuted"}}, r"domain is for setting: domain only"),
        ({"setting": "domain", "domain": {"kind": "shuffled"}}, r"domain.kind='shuffled' is not valid"),
        ({"setting": "domain", "events": [{"train": 0}, {"train": 1}, {"remove": 0}]}, r"not supported in the domain"),
        ({"pad_to": 0}, r"pad_to=0 must be a positive integer"),
        ({"epochs": 0}, r"epochs=0 must be a positive integer"),
        ({"colour": "red"}, r"unknown field\(s\) \['colour'\]; allowed:"),
        (
            {"backbone": {"type": "resnet"}},
            r"backbone.type='resnet' is not valid; allowed: \['iso_mlp', 'relu_mlp', 'tanh",
        ),
        ({"backbone": {"hidden": []}}, r"backbone.hidden=\[\] must be a non-empty list"),
        ({"optimizer": {"lr": -1}}, r"optimizer.lr=-1 must be a positive number"),
        ({"optimizer": {"name": "lion"}}, r"optimizer.name='lion' is not valid; allowed: \['adam', 'adamw', 'sgd'\]"),
        ({"seeds": [-1]}, r"seeds=\[-1\] must be a non-empty list"),
        (
            {"strategies": {"iso": {}}},
            r"strategies.iso: iso-strategies .* need backbone.type in \['iso_mlp'\], not 'tanh",
        ),
        ({"strategies": {"iso-der": {}}}, r"strategies.iso-der: iso-strategies .* need backbone.type in \['iso_mlp'\]"),
        (
            {"backbone": {"type": "iso_mlp", "options": {"foo": 1}}},
            r"backbone.options: unknown option\(s\) \['foo'\]; allowed",
        ),
        ({"backbone": {"type": "iso_mlp", "options": {"psi": "wrong"}}}, r"backbone.options: psi='wrong' is not valid"),
        ({"class_order": [0, 0, 1]}, r"class_order"),
        ({"head": "wide"}, r"head='wide' is not valid; allowed: \['full', 'incremental'\]"),
        # strategy parameters are checked by their declared type and range before anything trains
        (
            {"strategies": {"ewc": {"ewc_lambda": "big"}}},
            r"strategies.ewc.ewc_lambda='big': input should be a valid number",
        ),
        (
            {"strategies": {"replay": {"mem_size": -5}}},
            r"strategies.replay.mem_size=-5: input should be greater than or",
        ),
        ({"strategies": {"ewc": {"mode": "offline"}}}, r"strategies.ewc.mode='offline': input should be 'separate' or"),
        ({"strategies": {"replay": []}}, r"strategies.replay must map parameter names to values"),
        ({"strategies": {"naive": {"optimizer": {"lr": 0}}}}, r"strategies.naive.optimizer.lr=0 must be a positive"),
        ({"strategies": {"naive": {"optimizer": {"beta": 1}}}}, r"strategies.naive.optimizer: unknown field\(s\)"),
    ],
)
def test_invalid_scenarios_name_the_field(change, message):
    with pytest.raises(ConfigError, match=message):
        scenario_from_dict({**VALID, **change}, "bad.yaml")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_scaffold": "five"}, r"strategies.iso-replay.n_scaffold='five': input should be a valid integer"),
        ({"threshold": [1, 2]}, r"strategies.iso-replay.threshold=\[1, 2\]: input should be a valid number"),
        ({"release_decay": 2.0}, r"strategies.iso-replay.release_decay=2.0: input should be less than or equal to 1"),
        ({"n_probe": 0}, r"strategies.iso-replay.n_probe=0: input should be greater than or equal to 1"),
    ],
)
def test_topology_parameters_are_validated_for_every_iso_strategy(params, message):
    raw = {**VALID, "backbone": {"type": "iso_mlp", "hidden": [8]}, "strategies": {"iso-replay": params}}
    with pytest.raises(ConfigError, match=message):
        scenario_from_dict(raw, "bad.yaml")


def test_strategy_parameters_are_resolved_once_with_their_defaults():
    raw = {**VALID, "backbone": {"type": "iso_mlp", "hidden": [8]}, "strategies": {"iso": {"threshold": 1}, "ewc": {}}}
    scenario = scenario_from_dict(raw, "ok.yaml")
    assert scenario.strategies["ewc"] == {"ewc_lambda": 100.0, "mode": "separate", "decay_factor": None}
    iso = scenario.strategies["iso"]
    assert iso["threshold"] == 1.0 and isinstance(iso["threshold"], float) and iso["n_scaffold"] == 5


def test_a_strategy_may_have_its_own_optimizer_over_the_scenarios():
    from isocl.harness.build import build_optimizer

    raw = {
        **VALID,
        "optimizer": {"name": "adam", "lr": 0.001, "weight_decay": 0.0},
        "strategies": {"naive": {}, "naive#sgd": {"optimizer": {"name": "sgd", "lr": 0.01}}},
    }
    scenario = scenario_from_dict(raw, "ok.yaml")
    own = scenario.strategies["naive#sgd"]["optimizer"]
    assert own == {"name": "sgd", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.0}  # unnamed fields: the scenario's
    model = torch.nn.Linear(3, 2)
    sgd = build_optimizer(scenario, model, scenario.strategies["naive#sgd"])
    adam = build_optimizer(scenario, model, scenario.strategies["naive"])
    assert type(sgd) is torch.optim.SGD and sgd.defaults["lr"] == 0.01 and sgd.defaults["weight_decay"] == 0.0
    assert type(adam) is torch.optim.Adam and adam.defaults["lr"] == 0.001


def test_missing_required_field_is_named():
    raw = dict(VALID)
    del raw["setting"]
    with pytest.raises(ConfigError, match=r"missing required field\(s\) \['setting'\]"):
        scenario_from_dict(raw, "bad.yaml")


def test_classes_that_do_not_split_are_refused_before_training(tmp_path):
    data = load_dataset("synthetic", cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"n_experiences=3 does not split the 10 classes of synthetic evenly; "):
        build_stream(data, "class", 3, dataset="synthetic")


def test_unknown_scenario_and_overrides(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown scenario 'split-svhn'; shipped: \[.*split-digits"):
        load_scenario("split-svhn")
    scenario = load_scenario("split-digits")
    with pytest.raises(ConfigError, match="--strategies: unknown strategy 'ewc2'"):
        with_overrides(scenario, strategies=["ewc2"])
    assert with_overrides(scenario, backbone="iso_mlp").name == "split-digits"  # already its backbone
    assert with_overrides(load_scenario("split-cifar10-class"), backbone="iso_mlp").name == "split-cifar10-class-isomlp"
    with pytest.raises(ConfigError, match=r"strategies.iso-naive: iso-strategies .* need backbone.type in"):
        with_overrides(scenario, backbone="tanh_mlp")


def test_missing_cifar_says_where_it_looked(tmp_path):
    with pytest.raises(
        DatasetNotFoundError, match=r"cifar10 not found.*Looked for an ImageFolder tree at .*--data-root"
    ):
        load_dataset("cifar10", root=tmp_path / "empty", cache_dir=tmp_path / "cache")


def test_image_folder_is_decoded_once_and_cached(tmp_path):
    from PIL import Image

    for split, n in (("train", 3), ("test", 2)):
        for cls, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
            folder = tmp_path / "data" / "cifar10" / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (32, 32), colour).save(folder / f"{i}.png")
    data = load_dataset("cifar10", root=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert data.train_x.shape == (6, 3, 32, 32) and data.train_x.dtype == torch.uint8
    assert data.classes == ["cat", "dog"] and data.train_y.tolist() == [0, 0, 0, 1, 1, 1]
    assert int(data.train_x[0, 0].float().mean()) == 255 and int(data.train_x[3, 2].float().mean()) == 255
    assert (tmp_path / "cache" / "cifar10-v1.pt").exists()
    import shutil

    shutil.rmtree(tmp_path / "data")  # the cache alone now serves it
    again = load_dataset("cifar10", root=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert torch.equal(again.train_x, data.train_x)


@pytest.mark.parametrize("setting", ["class", "task"])
def test_streams_split_by_class_with_standardised_inputs(tmp_path, setting):
    data = load_dataset("digits", cache_dir=tmp_path)
    stream = build_stream(data, setting, 5, class_order=[9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    assert stream.class_order[0] == 9 and stream.class_names[0] == "9"
    for i, exp in enumerate(stream.experiences):
        assert exp.classes == [2 * i, 2 * i + 1]
        assert set(exp.train_y.tolist()) == set(exp.classes) == set(exp.test_y.tolist())
        assert exp.task_label == (i if setting == "task" else 0)
    x = stream.train.tensors[0]
    varying = x.std(0) > 0
    assert torch.allclose(x.mean(0), torch.zeros(64), atol=1e-5)
    assert torch.allclose(x.std(0)[varying], torch.ones(int(varying.sum())), atol=1e-4)
    avalanche_exp = stream.benchmark.train_stream[3]
    assert sorted(avalanche_exp.classes_in_this_experience) == [6, 7]
    assert len(avalanche_exp.dataset) == len(stream.experiences[3].train_y)


def write(tmp_path, raw) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_cli_runs_lists_and_reports(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ISOCL_CACHE_DIR", str(tmp_path / "cache"))
    scenario = write(tmp_path, {**VALID, "strategies": {"naive": {}, "replay": {"mem_size": 20}}})
    out = tmp_path / "out"
    assert main(["run", scenario, "--out", str(out), "--wandb", "disabled", "--no-progress", "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "| naive |" in printed and "| replay |" in printed
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "ewc_lambda=100.0" in listing and "split-cifar10-class" in listing and "iso = iso-naive" in listing
    assert main(["report", str(out)]) == 0
    assert (out / "report.md").exists() and (out / "t-accuracy-matrices.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "split-svhn"], "unknown scenario 'split-svhn'"),
        (["run", "split-digits", "--strategies", "naive,xyz"], "unknown strategy 'xyz'"),
        (["report", "/nonexistent"], "no summary.json under /nonexistent"),
    ],
)
def test_cli_errors_are_one_clear_line(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("isocl: error:") and message in err


def test_cli_missing_data_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ISOCL_CACHE_DIR", str(tmp_path / "cache"))
    args = ["run", "split-cifar10-class", "--data-root", str(tmp_path), "--wandb", "disabled", "--out", str(tmp_path)]
    assert main(args) == 2
    assert "cifar10 not found" in capsys.readouterr().err


@pytest.mark.parametrize("setting, domain", [("class", None), ("domain", "permuted"), ("domain", "split")])
def test_global_normalisation_is_one_affine_map_from_the_unpadded_images_statistics(setting, domain):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 1, 4, 4), generator=g).to(torch.uint8)
    labels = torch.arange(40) % 4
    data = TensorData(images, labels, images[:12], labels[:12], ["a", "b", "c", "d"])
    mean, std = images.float().mean(), images.float().std()  # of the images, not of the padded frames
    expected = (torch.nn.functional.pad(images.float(), (1, 1, 1, 1)) - mean) / std
    x = build_stream(data, setting, 2, normalise="global", pad_to=6, domain=domain).train.tensors[0]
    if setting == "class":  # the training set in its order
        assert torch.allclose(x, expected, atol=1e-5) and float(x[0, 0, 0, 0]) == pytest.approx(float(-mean / std))
    else:  # split reorders samples, a permutation moves pixels: every value is still the affine map's
        copies = len(x) // len(images)
        assert torch.allclose(x.flatten().sort().values, expected.flatten().repeat(copies).sort().values, atol=1e-5)
    per_feature = build_stream(data, setting, 2, pad_to=6, domain=domain).train.tensors[0]
    assert float(per_feature.flatten(1)[:10, 0].abs().max()) == 0  # per feature, a blank border pixel stays 0
    with pytest.raises(ValueError, match=r"normalise='pixel' is not valid"):
        build_stream(data, setting, 2, normalise="pixel", domain=domain)


def test_the_normalise_flag_names_the_results_apart_and_reaches_the_stream(tmp_path):
    from isocl.harness.runner import SeedStreams

    scenario = load_scenario("split-digits")
    data = load_dataset("digits", cache_dir=tmp_path)
    x = SeedStreams(with_overrides(scenario, normalise="global"), data).get(0).train.tensors[0]
    raw = data.train_x.float()
    assert float(x.flatten(1)[0, 0]) == pytest.approx(float(-raw.mean() / raw.std()))  # a blank pixel, not 0
    assert with_overrides(scenario, normalise="global").name == "split-digits-global"
    assert with_overrides(scenario, normalise="global").normalise == "global"
    assert with_overrides(scenario, normalise="per_feature") == scenario
    with pytest.raises(ConfigError, match=r"--normalise.normalise='l2' is not valid"):
        with_overrides(scenario, normalise="l2")
