"""Domain-incremental streams (`setting: domain`): every experience shares one label space; the inputs change.

    split     the classes split into n_experiences groups with the labels folded per experience: experience i holds
              the classes class_order[i*c:(i+1)*c], relabelled 0..c-1 (split MNIST: classes 2i and 2i+1 as 0 and 1)
    permuted  every experience is the whole data set under a fixed pixel permutation drawn from (seed, experience);
              experience 0 is the identity unless identity_first=False (Hsu et al. 2018 keep the original first)
    rotated   every experience is the whole data set rotated by a fixed angle (degrees, counter-clockwise): evenly
              spaced in [0, 180) unless `angles` are given

This module holds the pure tensor pieces (permutations, rotations, the scenario option check, the Avalanche
benchmark); isocl/data/streams.py assembles them. Invariants: an experience's train and test inputs go through
the same transform; a permutation depends only on (seed, experience index), so it is the same on every machine and
different across seeds and experiences.
"""

import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

DOMAIN_KINDS = ("split", "permuted", "rotated")
DEFAULT_DOMAIN = "split"
MAX_ANGLE = 180.0
ROTATION_CHUNK = 1024  # basis images per torchvision call when building a rotation operator
_PERMUTATION_STREAM = 0x5EED  # keeps the permutations' random stream apart from the seeded class order's


def domain_options(raw) -> dict:
    """A scenario's `domain` mapping ({kind, identity_first, angles}, or a bare kind) as `build_stream` keywords;
    raises ValueError naming the field. identity_first applies to `permuted` only, angles to `rotated` only."""
    raw = {"kind": raw} if isinstance(raw, str) else dict(raw or {})
    unknown = sorted(set(raw) - {"kind", "identity_first", "angles"})
    if unknown:
        raise ValueError(f"domain: unknown field(s) {unknown}; allowed: ['angles', 'identity_first', 'kind']")
    kind = raw.get("kind", DEFAULT_DOMAIN)
    if kind not in DOMAIN_KINDS:
        raise ValueError(f"domain.kind={kind!r} is not valid; allowed: {list(DOMAIN_KINDS)}")
    options = {"domain": kind}
    if "identity_first" in raw:
        if kind != "permuted" or not isinstance(raw["identity_first"], bool):
            raise ValueError("domain.identity_first must be true or false, and only with kind: permuted")
        options["identity_first"] = raw["identity_first"]
    if "angles" in raw:
        angles = raw["angles"]
        if kind != "rotated" or not isinstance(angles, list | tuple) or not all(map(_is_number, angles)) or not angles:
            raise ValueError("domain.angles must be a non-empty list of degrees, one per experience; kind: rotated")
        options["angles"] = tuple(float(a) for a in angles)
    return options


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def experience_permutation(n_features: int, seed: int, index: int, identity_first: bool = True) -> Tensor:
    """The fixed permutation of experience `index` under `seed` (int64, length n_features); the identity for
    experience 0 when identity_first. Drawn by NumPy's PCG64 from (stream tag, seed, index): reproducible anywhere."""
    if index == 0 and identity_first:
        return torch.arange(n_features)
    rng = np.random.default_rng([_PERMUTATION_STREAM, seed, index])
    return torch.from_numpy(rng.permutation(n_features))


def permuted_size(x: Tensor) -> int:
    """How many positions a pixel permutation moves: H*W for images (N, C, H, W), else D for vectors (N, D)."""
    return x.shape[-2] * x.shape[-1] if x.dim() == 4 else math.prod(x.shape[1:])


def permute_pixels(x: Tensor, permutation: Tensor) -> Tensor:
    """x with its pixels moved: out[..., k] = x[..., permutation[k]] over the flattened positions (the channels of a
    pixel move together); vectors (N, D) permute their D features. A new tensor of x's shape."""
    flat = x.flatten(2) if x.dim() == 4 else x.flatten(1)
    return flat[..., permutation].view(x.shape)


def rotation_angles(n_experiences: int, angles=None) -> list[float]:
    """One angle per experience: `angles` when given (checked against n_experiences), else evenly spaced in
    [0, 180): i * 180 / n_experiences."""
    if angles is None:
        return [i * MAX_ANGLE / n_experiences for i in range(n_experiences)]
    if len(angles) != n_experiences:
        raise ValueError(f"domain.angles has {len(angles)} angles for {n_experiences} experiences; give one each")
    return [float(a) for a in angles]


def rotate_images(x: Tensor, degrees: float) -> Tensor:
    """Float images (N, C, H, W) rotated counter-clockwise by `degrees` about their centre: torchvision's bilinear
    rotate with zeros (the unstandardised background) outside the image, applied as the linear map it is (a sparse
    (HW, HW) operator, at most 4 source pixels per pixel: several times faster than resampling every image). A
    multiple of 90 degrees moves pixels to pixels (to rounding, 1e-6 of the values)."""
    if x.dim() != 4:
        raise ValueError(
            f"domain kind 'rotated' needs images (N, C, H, W); this data set's samples have shape {tuple(x.shape[1:])}"
        )
    h, w = x.shape[-2:]
    operator = rotation_operator(h, w, degrees, x.dtype)
    flat = x.reshape(-1, h * w)
    return (operator @ flat.t()).t().reshape(x.shape)


def rotation_operator(h: int, w: int, degrees: float, dtype: torch.dtype = torch.float32) -> Tensor:
    """The sparse (HW, HW) matrix R with rotate(image).flatten() = R @ image.flatten(), found by rotating the basis
    images (ROTATION_CHUNK at a time) with torchvision."""
    from torchvision.transforms.functional import InterpolationMode, rotate

    rows, cols, values = [], [], []
    for start in range(0, h * w, ROTATION_CHUNK):
        n = min(ROTATION_CHUNK, h * w - start)
        basis = torch.zeros(n, h * w, dtype=dtype)
        basis[torch.arange(n), start + torch.arange(n)] = 1.0
        images = rotate(basis.view(n, 1, h, w), degrees, interpolation=InterpolationMode.BILINEAR).view(n, h * w)
        source, target = images.nonzero(as_tuple=True)
        rows.append(target)
        cols.append(start + source)
        values.append(images[source, target])
    indices = torch.stack([torch.cat(rows), torch.cat(cols)])
    coo = torch.sparse_coo_tensor(indices, torch.cat(values), (h * w, h * w), check_invariants=True).coalesce()
    with warnings.catch_warnings():  # CSR is "beta" in torch; its matrix product is 4x faster than COO's here
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        return coo.to_sparse_csr()


def check_kind(kind: str, identity_first: bool | None, angles) -> None:
    """The kind is known and gets only its own options (identity_first: permuted; angles: rotated)."""
    if kind not in DOMAIN_KINDS:
        raise ValueError(f"domain={kind!r} is not valid; choose one of {list(DOMAIN_KINDS)}")
    if identity_first is not None and kind != "permuted":
        raise ValueError(f"identity_first applies to domain 'permuted' only, not {kind!r}")
    if angles is not None and kind != "rotated":
        raise ValueError(f"angles apply to domain 'rotated' only, not {kind!r}")


def split_blocks(x: Tensor, y: Tensor, n_experiences: int, per: int) -> tuple[Tensor, Tensor, list[int]]:
    """Split domain: the samples grouped by experience (experience i: labels [i*per, (i+1)*per) of the stream
    order), in their original order within each group, with the labels folded to label % per; and the groups'
    sizes."""
    group = y // per
    index = torch.argsort(group, stable=True)
    return x[index], y[index] % per, torch.bincount(group, minlength=n_experiences).tolist()


def folded_names(names: list[str], n_experiences: int) -> list[str]:
    """Split domain: the name of shared label k joins the names of the classes folded onto it ('0/2/4/6/8')."""
    per = len(names) // n_experiences
    return ["/".join(names[i * per + k] for i in range(n_experiences)) for k in range(per)]


def transformed_blocks(
    kind: str, train_x: Tensor, test_x: Tensor, n_experiences: int, *, seed: int, identity_first=None, angles=None,
    standardise: Callable | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Permuted or rotated: experience i's inputs (the whole data set under its transform) as block i of one train
    and one test tensor. standardise(train, test) -> (train, test), or None: a permuted stream is standardised once
    before the permutations (which commute with it), a rotated one per experience after its rotation."""
    if kind == "permuted":
        if standardise is not None:
            train_x, test_x = standardise(train_x, test_x)
        first = True if identity_first is None else identity_first
        perms = [experience_permutation(permuted_size(train_x), seed, i, first) for i in range(n_experiences)]
        return stacked(n_experiences, lambda i: (permute_pixels(train_x, perms[i]), permute_pixels(test_x, perms[i])))
    degrees = rotation_angles(n_experiences, angles)

    def rotated(i: int) -> tuple[Tensor, Tensor]:
        pair = rotate_images(train_x, degrees[i]), rotate_images(test_x, degrees[i])
        return pair if standardise is None else standardise(*pair)

    return stacked(n_experiences, rotated)


def stacked(n_experiences: int, make: Callable[[int], tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """make(i)'s (train, test) written as block i of one preallocated tensor per split: the peak memory is the
    result plus one experience, never two copies of the stream."""
    train, test = None, None
    for i in range(n_experiences):
        tr, te = make(i)
        if train is None:
            train = tr.new_empty((n_experiences * len(tr), *tr.shape[1:]))
            test = te.new_empty((n_experiences * len(te), *te.shape[1:]))
        train[i * len(tr) : (i + 1) * len(tr)] = tr
        test[i * len(te) : (i + 1) * len(te)] = te
    return train, test


def domain_benchmark(train, test, train_sizes: list[int], test_sizes: list[int], n_labels: int):
    """The stream as an Avalanche benchmark: experience i's train (test) dataset is the i-th contiguous block of the
    stream's `train` (`test`) set, task label 0. Built with Avalanche's generic builder, since nc_benchmark assumes
    disjoint classes; each experience's classes_in_this_experience comes from its own labels (the shared ones).
    Blocks are subsets of `train` itself, so checkpoints can store memories as indices into it, and they wrap it as
    nc_benchmark does (an identity class mapping: labels come out as ints), so samples look alike in every setting."""
    from avalanche.benchmarks.scenarios.deprecated.generic_benchmark_creation import (
        create_multi_dataset_generic_benchmark,
    )
    from avalanche.benchmarks.utils import _taskaware_classification_subset

    def blocks(dataset, sizes):
        root = _taskaware_classification_subset(
            dataset, class_mapping=list(range(n_labels)), initial_transform_group="train"
        )
        starts = np.cumsum([0, *sizes]).tolist()
        return [
            _taskaware_classification_subset(root, indices=range(a, b), task_labels=0)
            for a, b in zip(starts[:-1], starts[1:], strict=True)
        ]

    return create_multi_dataset_generic_benchmark(blocks(train, train_sizes), blocks(test, test_sizes))
