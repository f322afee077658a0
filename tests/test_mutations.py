"""Tests that fail for implementations an audit found the other tests let through.

Each test names the broken variant it catches: a removal handler that forgets nothing, a seeded class order that
ignores the seed.
"""

import numpy as np
import pytest
import torch

from isocl.data.sources import TensorData
from isocl.data.streams import build_stream, resolve_class_order
from tests.test_removal import run_until_removed

REMOVED_CLASSES = {2, 3}  # experience 1 of tests.test_removal.EVENTS (train 0, 1, 2, then remove 1)
RETAINED_CLASSES = {0, 1, 4, 5}  # experiences 0 and 2


def labels(dataset) -> set[int]:
    return {int(y) for y in dataset.targets}


def plugin_of(strategy, class_name: str):
    (plugin,) = [p for p in strategy.plugins if type(p).__name__ == class_name]
    return plugin


# --- removal: every handler forgets something (a no-op handler fails) -----------------------------------------------


def test_agem_drops_the_removed_experience_buffer(tmp_path, monkeypatch):
    """Catches a no-op A-GEM handler: three buffers, one of them of classes 2 and 3."""
    run = run_until_removed(tmp_path, monkeypatch, "agem")
    agem = plugin_of(run.strategy, "AGEMPlugin")
    assert len(agem.buffers) == 2  # one per retained experience: 3 trained, 1 removed
    assert [labels(b) for b in agem.buffers] == [{0, 1}, {4, 5}]
    _, y, *_ = next(agem.buffer_dliter)  # what A-GEM replays from now on
    assert {int(c) for c in y} <= RETAINED_CLASSES


def test_gem_refills_the_removed_slot_with_a_retained_memory(tmp_path, monkeypatch):
    """Catches a no-op GEM handler: slot 1 would still hold experience 1's samples (classes 2 and 3)."""
    run = run_until_removed(tmp_path, monkeypatch, "gem")
    gem = plugin_of(run.strategy, "GEMPlugin")
    slots = sorted(gem.memory_y)
    assert len(slots) == 3  # GEM loops over every slot it has trained; the removed one keeps a constraint
    held = {s: {int(c) for c in gem.memory_y[s]} for s in slots}
    assert all(not (classes & REMOVED_CLASSES) for classes in held.values()), held
    assert set().union(*held.values()) == RETAINED_CLASSES
    removed_slot, donors = slots[1], [slots[0], slots[2]]  # experiences trained in order 0, 1, 2
    assert any(
        torch.equal(gem.memory_x[removed_slot], gem.memory_x[d])
        and torch.equal(gem.memory_y[removed_slot], gem.memory_y[d])
        for d in donors
    )


def test_cumulative_drops_the_removed_classes_samples(tmp_path, monkeypatch):
    """Catches a no-op Cumulative handler: its dataset would still hold classes 2 and 3."""
    run = run_until_removed(tmp_path, monkeypatch, "cumulative")
    assert labels(run.strategy.dataset) == RETAINED_CLASSES


def test_iso_ewc_drops_the_removed_experience_fisher_factors(tmp_path, monkeypatch):
    """Catches a no-op FactoredEWC.forget_experience: three sets of factors, one of the removed slot."""
    run = run_until_removed(tmp_path, monkeypatch, "iso-ewc", backbone="iso_mlp")
    ewc = plugin_of(run.strategy, "FactoredEWC")
    assert len(ewc.factors) == 2
    slots = sorted(ewc.factors)
    assert slots == [0, 2]  # the training slots of experiences 0 and 2; slot 1 (experience 1) went
    net = run.model.backbone
    for factors in ewc.factors.values():  # the retained factors followed the output removal
        (d, a, _), *_ = factors.maps
        assert d.shape[1] == net.sizes[1] and a.shape[1] == net.sizes[0]
        assert factors.maps[-1][0].shape[1] == net.sizes[-1]


# --- class_order: seeded ---------------------------------------------------------------------------------------------


def labelled_by_feature(n_classes=10, per_class=6) -> TensorData:
    """Every sample's two features are its original label: a relabelled sample still says where it came from."""
    y = torch.arange(n_classes).repeat_interleave(per_class)
    x = y.to(torch.float32)[:, None].repeat(1, 2)
    return TensorData(x, y, x[::2].clone(), y[::2].clone(), [f"class{c}" for c in range(n_classes)])


def test_seeded_class_order_is_the_documented_permutation_of_the_seed():
    """Catches 'seeded' read as 'fixed' (the seed ignored) and a permutation drawn from another generator."""
    orders = {seed: resolve_class_order("seeded", 10, seed) for seed in range(5)}
    for seed, order in orders.items():
        assert order == np.random.RandomState(seed).permutation(10).tolist()
        assert all(type(c) is int for c in order)
    assert len({tuple(order) for order in orders.values()}) == 5  # a different order for every seed
    assert all(order != list(range(10)) for order in orders.values())
    assert resolve_class_order("seeded", 10, 3) == orders[3]  # the same seed, the same order


@pytest.mark.parametrize("setting", ["class", "task"])
def test_a_seeded_stream_holds_the_seeds_original_classes(setting):
    data = labelled_by_feature()
    for seed in (0, 7):
        order = np.random.RandomState(seed).permutation(10).tolist()
        stream = build_stream(data, setting, 5, class_order="seeded", seed=seed, standardised=False)
        assert stream.class_order == order
        assert stream.class_names == [f"class{c}" for c in order]
        for i, experience in enumerate(stream.experiences):
            assert experience.classes == [2 * i, 2 * i + 1]
            for x, y in ((experience.train_x, experience.train_y), (experience.test_x, experience.test_y)):
                original = x[:, 0].long()
                assert sorted(set(original.tolist())) == sorted(order[2 * i : 2 * i + 2])  # the seed's classes
                assert torch.equal(original, torch.tensor(order)[y])  # relabelled id y is original class order[y]
            assert len(experience.train_y) == 12 and len(experience.test_y) == 6
