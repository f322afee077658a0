"""The batched fetch returns exactly what Avalanche's per-sample path returns, and takes the fast path on the
harness's streams."""

import pytest
import torch
from avalanche.benchmarks.utils import AvalancheDataset
from avalanche.benchmarks.utils.transforms import TupleTransform
from torch.utils.data import DataLoader

from isocl.data import batched, build_stream
from isocl.data.sources import synthetic


def as_tensors(sample) -> list[torch.Tensor]:
    return [torch.as_tensor(field) for field in sample]


def assert_same_samples(dataset, indices):
    fast, slow = batched.fetch_many(dataset, indices), [dataset[i] for i in indices]
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow, strict=True):
        assert len(a) == len(b)
        for u, v in zip(as_tensors(a), as_tensors(b), strict=True):
            assert u.dtype == v.dtype and torch.equal(u, v)


@pytest.fixture(scope="module", params=["class", "task"])
def train_stream(request):
    return build_stream(synthetic(None, None), request.param, 5, class_order="seeded", seed=3).benchmark.train_stream


def test_experience_dataset_takes_the_fast_path(train_stream):
    dataset = train_stream[2].dataset.train()
    idx = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:17]
    fields = batched.gather(dataset, idx, "train")  # raises OpaqueLayerError if any layer fell back
    x, y, t = fields
    assert x.shape[0] == y.shape[0] == t.shape[0] == 17
    assert_same_samples(dataset, idx.tolist())


def test_concatenations_and_subsets_match_per_sample(train_stream):
    a, b = train_stream[1].dataset.train(), train_stream[4].dataset.train()
    memory = a.concat(b.subset(list(range(0, len(b), 3))))  # a replay-like buffer
    nested = memory.subset([len(memory) - 1, 0, len(a), 5, len(a) + 2]).concat(a)
    for dataset in (memory, nested):
        idx = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(1))[:40].tolist()
        batched.gather(dataset, torch.tensor(idx), "train")
        assert_same_samples(dataset, idx)


def test_a_real_transform_falls_back_to_per_sample(train_stream):
    doubled = train_stream[0].dataset.train().replace_current_transform_group(TupleTransform([lambda x: 2 * x]))
    with pytest.raises(batched.OpaqueLayerError):
        batched.gather(doubled, torch.arange(3), "train")
    assert_same_samples(doubled, [4, 0, 2])


def test_dataloader_batches_are_unchanged_by_install(train_stream):
    dataset = train_stream[3].dataset.train()

    def batches():
        loader = DataLoader(dataset, batch_size=7, shuffle=True, generator=torch.Generator().manual_seed(2))
        return [as_tensors(batch) for batch in loader]

    had = AvalancheDataset.__dict__.get("__getitems__")
    try:
        if had is not None:
            del AvalancheDataset.__getitems__
        slow = batches()
        batched.install()
        fast = batches()
    finally:
        batched.install()
    assert len(slow) == len(fast)
    for a, b in zip(slow, fast, strict=True):
        for u, v in zip(a, b, strict=True):
            assert u.dtype == v.dtype and torch.equal(u, v)
