"""Domain-incremental streams: one shared label space, changing inputs (split with folded labels, permuted, rotated);
the Avalanche benchmark and isocl's own evaluation see the same experiences; and a domain scenario runs end to
end through the harness."""

from functools import partial

import numpy as np
import pytest
import torch

from isocl.data import TensorData, batched, build_stream, domain_options, load_dataset
from isocl.data.domain import experience_permutation, rotation_angles
from isocl.data.streams import pad_images, standardise
from isocl.harness import runner
from isocl.harness.runner import run_scenario
from tests.test_harness import options, tiny_scenario


def images(n_classes=10, per_class=(6, 3), size=(4, 4), seed=0) -> TensorData:
    """A tiny image data set: random uint8 images (N, 1, H, W), `per_class` train and test images of each class."""
    rng = np.random.RandomState(seed)
    parts = []
    for n in per_class:
        y = np.repeat(np.arange(n_classes), n)
        x = rng.randint(0, 256, (len(y), 1, *size)).astype(np.uint8)
        parts += [torch.from_numpy(x), torch.from_numpy(y).long()]
    return TensorData(*parts, [f"k{c}" for c in range(n_classes)])


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic")


@pytest.mark.parametrize("order", ["fixed", [3, 1, 4, 0, 5, 9, 2, 6, 8, 7]])
def test_split_domain_folds_each_experiences_classes_onto_the_shared_labels(synthetic, order):
    domain = build_stream(synthetic, "domain", 5, class_order=order)
    by_class = build_stream(synthetic, "class", 5, class_order=order)
    assert domain.n_classes == 2 and domain.shared_labels and not by_class.shared_labels and domain.domain == "split"
    assert domain.n_tasks == 1 and domain.input_shape == by_class.input_shape
    for i, (d, c) in enumerate(zip(domain.experiences, by_class.experiences, strict=True)):
        assert d.classes == [0, 1] and d.task_label == 0
        for split in ("train", "test"):  # the same samples, standardised alike, labels 2i and 2i+1 read 0 and 1
            assert torch.equal(getattr(d, f"{split}_x"), getattr(c, f"{split}_x"))
            assert torch.equal(getattr(d, f"{split}_y"), getattr(c, f"{split}_y") - 2 * i)
    names = by_class.class_names
    assert domain.class_names == ["/".join(names[0::2]), "/".join(names[1::2])]


def recovered_permutation(block: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """The p with block[:, k] == original[:, p[k]], found by matching the features' columns (they are distinct)."""
    a, b = block.flatten(1).t(), original.flatten(1).t()
    match = (a[:, None, :] == b[None, :, :]).all(-1)
    assert bool((match.sum(1) == 1).all()), "a feature of the block is not exactly one original feature"
    return match.float().argmax(1)


def test_permuted_experiences_permute_train_and_test_alike(synthetic):
    stream = build_stream(synthetic, "domain", 4, domain="permuted", seed=3)
    train, test = standardise(synthetic.train_x.float(), synthetic.test_x.float())
    assert stream.n_classes == 10 and stream.class_names == synthetic.classes and stream.domain == "permuted"
    permutations = []
    for exp in stream.experiences:
        assert exp.classes == list(range(10)) and exp.task_label == 0
        assert torch.equal(exp.train_y, synthetic.train_y) and torch.equal(exp.test_y, synthetic.test_y)
        p = recovered_permutation(exp.train_x, train)
        assert torch.equal(exp.test_x, test[:, p])  # the test set under the train set's permutation
        permutations.append(p.tolist())
    assert permutations[0] == list(range(16))  # the first experience is the original data set
    assert len({tuple(p) for p in permutations}) == 4  # every experience has its own


def test_permutations_are_fixed_by_the_seed(synthetic):
    def blocks(seed, **kw):
        return build_stream(synthetic, "domain", 3, domain="permuted", seed=seed, **kw).train.tensors[0]

    assert torch.equal(blocks(0), blocks(0)) and not torch.equal(blocks(0), blocks(1))
    assert torch.equal(experience_permutation(784, 7, 2), experience_permutation(784, 7, 2))
    assert sorted(experience_permutation(784, 7, 2).tolist()) == list(range(784))
    assert not torch.equal(experience_permutation(784, 7, 2), experience_permutation(784, 8, 2))
    no_identity = build_stream(synthetic, "domain", 3, domain="permuted", identity_first=False).experiences[0]
    assert recovered_permutation(no_identity.train_x, blocks(0)[: len(synthetic.train_y)]).tolist() != list(range(16))


def test_image_permutations_move_whole_pixels():
    data = images(size=(3, 3))
    data.train_x = data.train_x.repeat(1, 2, 1, 1)  # two identical channels
    data.test_x = data.test_x.repeat(1, 2, 1, 1)
    exp = build_stream(data, "domain", 2, domain="permuted", standardised=False).experiences[1]
    assert exp.train_x.shape[1:] == (2, 3, 3) and torch.equal(exp.train_x[:, 0], exp.train_x[:, 1])
    assert recovered_permutation(exp.train_x[:, :1], data.train_x[:, :1].float()).tolist() != list(range(9))


def test_a_quarter_turn_moves_the_top_right_pixel_to_the_top_left():
    data = images(n_classes=2, per_class=(2, 1), size=(5, 5))
    data.train_x.zero_(), data.test_x.zero_()
    data.train_x[:, 0, 0, 4] = 200  # top right
    data.train_x[:, 0, 3, 1] = 100
    data.test_x[:, 0, 0, 4] = 50
    stream = build_stream(data, "domain", 2, domain="rotated", angles=[0, 90], standardised=False)
    turned = stream.experiences[1]
    expected = torch.zeros(5, 5)
    expected[0, 0], expected[3, 3] = 200, 100  # (row, col) -> (W - 1 - col, row): counter-clockwise
    assert torch.allclose(turned.train_x[0, 0], expected, atol=1e-3)
    assert torch.allclose(turned.test_x[0, 0, 0, 0], torch.tensor(50.0), atol=1e-3)  # the test set turns alike
    assert torch.equal(stream.experiences[0].train_x, data.train_x.float())


def test_rotated_experiences_are_evenly_spaced_and_standardised_by_their_own_statistics():
    assert rotation_angles(5) == [0.0, 36.0, 72.0, 108.0, 144.0]
    assert rotation_angles(2, [10, -20]) == [10.0, -20.0]
    stream = build_stream(images(size=(6, 6)), "domain", 3, domain="rotated")
    for exp in stream.experiences:
        flat = exp.train_x.flatten(1)
        assert flat.mean(0).abs().max() < 1e-4  # every feature centred on this experience's own training set
        assert set(flat.std(0).round(decimals=3).tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match=r"domain.angles has 2 angles for 3 experiences"):
        build_stream(images(), "domain", 3, domain="rotated", angles=[0, 90])
    with pytest.raises(ValueError, match=r"'rotated' needs images \(N, C, H, W\); .* shape \(16,\)"):
        build_stream(load_dataset("synthetic"), "domain", 5, domain="rotated")


@pytest.mark.parametrize(("kind", "n_labels"), [("split", 2), ("permuted", 10), ("rotated", 10)])
def test_the_avalanche_benchmark_holds_each_experience_with_the_shared_classes(kind, n_labels):
    stream = build_stream(images(), "domain", 5, domain=kind)
    benchmark = stream.benchmark
    assert len(benchmark.train_stream) == len(benchmark.test_stream) == 5
    for exp, train_exp, test_exp in zip(stream.experiences, benchmark.train_stream, benchmark.test_stream, strict=True):
        assert sorted(train_exp.classes_in_this_experience) == list(range(n_labels)) == exp.classes
        assert train_exp.task_label == test_exp.task_label == 0
        dataset = train_exp.dataset.train()
        x, y, t = batched.gather(dataset, torch.arange(len(dataset)), "train")  # the fast path: no opaque layer
        assert torch.equal(x, exp.train_x) and torch.equal(y, exp.train_y) and not t.any()
        assert torch.equal(test_exp.dataset.eval()[len(exp.test_y) - 1][0], exp.test_x[-1])
        class_sample = build_stream(images(), "class", 5).benchmark.train_stream[0].dataset[0]
        assert [type(f) for f in train_exp.dataset[0]] == [type(f) for f in class_sample]  # labels are ints in both
        # the experiences' tensors are views of the stream's one training tensor (memory: the stream once)
        assert exp.train_x.untyped_storage().data_ptr() == stream.train.tensors[0].untyped_storage().data_ptr()


def test_domain_options_and_their_errors():
    assert domain_options({"kind": "permuted", "identity_first": False}) == {
        "domain": "permuted",
        "identity_first": False,
    }
    assert domain_options({"kind": "rotated", "angles": [0, 45]}) == {"domain": "rotated", "angles": (0.0, 45.0)}
    assert domain_options(None) == {"domain": "split"} and domain_options("rotated") == {"domain": "rotated"}
    for raw, message in [
        ({"kind": "shuffled"}, r"domain.kind='shuffled' is not valid; allowed: \['split', 'permuted', 'rotated'\]"),
        ({"kind": "split", "angles": [1]}, r"domain.angles must be .* kind: rotated"),
        ({"kind": "rotated", "angles": []}, r"domain.angles must be a non-empty list"),
        ({"kind": "split", "identity_first": True}, r"domain.identity_first .* only with kind: permuted"),
        ({"kind": "split", "size": 3}, r"domain: unknown field\(s\) \['size'\]"),
    ]:
        with pytest.raises(ValueError, match=message):
            domain_options(raw)
    data = load_dataset("synthetic")
    for kw, message in [
        ({"setting": "class", "domain": "split"}, r"domain='split' applies to setting 'domain' only, not 'class'"),
        ({"domain": "shuffled"}, r"domain='shuffled' is not valid; choose one of \['split', 'permuted', 'rotated'\]"),
        ({"domain": "permuted", "angles": [0] * 5}, r"angles apply to domain 'rotated' only"),
        ({"domain": "split", "identity_first": False}, r"identity_first applies to domain 'permuted' only"),
    ]:
        with pytest.raises(ValueError, match=message):
            build_stream(data, kw.pop("setting", "domain"), 5, **kw)


def test_pad_to_centres_the_images_in_zeros():
    x = torch.arange(1, 1 + 2 * 28 * 28, dtype=torch.float32).view(2, 1, 28, 28)
    padded = pad_images(x, 32)
    assert padded.shape == (2, 1, 32, 32) and torch.equal(padded[:, :, 2:30, 2:30], x) and padded.sum() == x.sum()
    assert pad_images(torch.ones(1, 1, 3, 3), 6)[0, 0].nonzero().min(0).values.tolist() == [1, 1]  # odd: right/below
    stream = build_stream(images(size=(3, 3)), "class", 5, pad_to=5)
    assert stream.input_shape == (1, 5, 5) and not stream.train.tensors[0][:, :, 0].any()  # blank border: 0
    with pytest.raises(ValueError, match=r"pad_to=2 must be an integer of at least the image size 3x3"):
        build_stream(images(size=(3, 3)), "class", 5, pad_to=2)
    with pytest.raises(ValueError, match=r"pad_to=32 needs images \(N, C, H, W\); .* shape \(16,\)"):
        build_stream(load_dataset("synthetic"), "domain", 5, pad_to=32)


def test_a_domain_scenario_runs_end_to_end(tmp_path):
    """`setting: domain` with no further field is split domain: the harness needs no change to run it."""
    scenario = tiny_scenario("domain", {"replay": {"mem_size": 40}}, epochs=4, optimizer={"lr": 0.01})
    (summary,) = run_scenario(scenario, options(tmp_path))
    matrix = np.array(summary["accuracy_matrix"])
    assert matrix.shape == (5, 5) and ((matrix >= 0) & (matrix <= 1)).all()
    assert np.diag(matrix).mean() > 0.8  # each experience is learnt (2 shared labels: chance is 0.5)


def test_a_permuted_scenario_runs_and_resumes(tmp_path, monkeypatch):
    """Memories are stored as indices into the stream's one training set, so a domain run resumes exactly."""
    monkeypatch.setattr(runner, "build_stream", partial(build_stream, domain="permuted"))
    scenario = tiny_scenario("domain", {"replay": {"mem_size": 40}}, epochs=1)
    (straight,) = run_scenario(scenario, options(tmp_path / "straight"))
    real = runner.steps.train_step

    def killed(strategy, stream, exp):
        if exp == 3:
            raise KeyboardInterrupt
        return real(strategy, stream, exp)

    monkeypatch.setattr(runner.steps, "train_step", killed)
    with pytest.raises(KeyboardInterrupt):
        run_scenario(scenario, options(tmp_path / "resumed"))
    monkeypatch.setattr(runner.steps, "train_step", real)
    (resumed,) = run_scenario(scenario, options(tmp_path / "resumed"))
    assert np.array(straight["accuracy_matrix"]).shape == (5, 5)
    assert {k: v for k, v in resumed.items() if k != "train_seconds"} == {
        k: v for k, v in straight.items() if k != "train_seconds"
    }
