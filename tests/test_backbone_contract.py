"""Every registered backbone meets the contract (isocl.nn.Backbone) that topology, cl and the harness rely on."""

import pytest
import torch

from isocl import topology as T
from isocl.data import TensorData, build_stream
from isocl.nn import BACKBONES, Backbone, MapTrace, backbone_options, build_backbone, create_backbone
from isocl.topology.layout import apply_step

from .nets import random_orthogonal

NAMES = sorted(BACKBONES)
EXACT = 1e-10


def test_every_backbone_is_registered():
    assert NAMES == ["iso_mlp", "relu_mlp", "tanh_mlp"] and "iso_mlp" in BACKBONES and "resnet" not in BACKBONES


def seeded(name, input_shape=(3, 4, 4), n_classes=4, hidden=(5, 7), **options):
    torch.manual_seed(0)
    return create_backbone(name, input_shape, n_classes, list(hidden), **options)


@pytest.mark.parametrize("name", NAMES)
def test_satisfies_the_protocol(name):
    net = seeded(name)
    assert isinstance(net, Backbone) and isinstance(net, torch.nn.Module)
    assert net.sizes == [48, 5, 7, 4] and net.n_hidden == 2 and net.input_shape == (3, 4, 4)
    assert isinstance(net.isotropic, bool) and net.spec()["type"] == name
    trace = []
    out = net(torch.randn(6, 3, 4, 4), trace=trace)
    assert out.shape == (6, 4) and net.penalty().shape == ()
    assert len(trace) == net.n_hidden + 1 and all(isinstance(t, MapTrace) for t in trace)
    for k, t in enumerate(trace):  # map k reads layer k-1 (the flat input for k = 0) and writes layer k
        assert t.inputs.shape == (6, net.sizes[k]) and t.preactivation.shape == (6, net.sizes[k + 1])
    assert torch.equal(trace[-1].preactivation, out)


def width_of(net, layer: int) -> int:
    return net.sizes[layer + 1]  # layer L (= n_hidden) is the output layer, sizes[-1]


@pytest.mark.parametrize("name", NAMES)
def test_parameter_axes_cover_every_width_dependent_parameter(name):
    small, large = seeded(name, hidden=(5, 7), n_classes=4), seeded(name, hidden=(6, 9), n_classes=3)
    declared = {n: (p, axes) for n, p, axes in small.parameter_axes()}
    named = dict(small.named_parameters())
    assert all(named[n] is p for n, (p, _) in declared.items())  # names and objects as named_parameters gives
    large_shapes = {n: p.shape for n, p in large.named_parameters()}
    for n, param in named.items():
        axes = declared.get(n, (None, {}))[1]
        for axis, (a, b) in enumerate(zip(param.shape, large_shapes[n], strict=True)):
            if axis in axes:  # a declared axis is as long as its layer, in either network
                assert (a, b) == (width_of(small, axes[axis]), width_of(large, axes[axis])), (n, axis)
            else:  # any other axis is independent of every width
                assert a == b, f"{n} axis {axis} depends on a width but parameter_axes does not say so"
    assert [n for n, _, _ in T.parameter_axes(small)] == list(declared)  # topology reads the same list


@pytest.mark.parametrize("name", NAMES)
def test_spec_rebuilds_the_current_shape(name):
    net = seeded(name)
    T.add_outputs(net, 2)
    if net.isotropic:
        T.grow(net, 0, 3)
        T.prune(net, 1, 2)
    twin = build_backbone(net.spec())
    twin.load_state_dict(net.state_dict())  # strict: every name and shape agrees
    x = torch.randn(5, 3, 4, 4)
    assert type(twin) is type(net) and twin.sizes == net.sizes and twin.spec() == net.spec()
    assert torch.equal(twin(x), net(x))


@pytest.mark.parametrize("name", NAMES)
def test_create_backbone_builds_from_an_image_shape(name):
    net = seeded(name, input_shape=(3, 4, 4), n_classes=10, hidden=[8])
    x = torch.randn(7, 3, 4, 4)
    assert net.sizes == [48, 8, 10] and net.spec()["input_shape"] == [3, 4, 4]
    assert net(x).shape == (7, 10) and torch.equal(net(x), net(x.flatten(1)))


@pytest.mark.parametrize("name", NAMES)
def test_every_option_is_accepted_and_an_unknown_one_is_named(name):
    options = backbone_options(name)
    assert "init" in options and not {"sizes", "input_shape"} & set(options)
    assert seeded(name, **options).spec() == seeded(name).spec()  # the defaults, spelled out
    allowed = str(sorted(options)).replace("[", r"\[").replace("]", r"\]")
    with pytest.raises(ValueError, match=rf"backbone.options: unknown option 'foo' for {name}; allowed: {allowed}"):
        seeded(name, foo=1)
    with pytest.raises(ValueError, match="unknown options 'foo', 'bar'"):
        seeded(name, foo=1, bar=2)


def test_an_unknown_backbone_type_is_named():
    with pytest.raises(ValueError, match="unknown backbone 'resnet'; registered: iso_mlp, relu_mlp, tanh_mlp"):
        create_backbone("resnet", (3, 4, 4), 10, [8])


@pytest.mark.parametrize("name", NAMES)
def test_isotropic_says_whether_rotations_are_symmetries(float64, name):
    net = seeded(name, input_shape=(6,), hidden=(5, 7))
    with torch.no_grad():
        for param in net.parameters():
            param.add_(0.3 * torch.randn_like(param))
    x = 2 * torch.randn(16, 6)
    before = net(x).detach()
    apply_step(net, T.Rotation(1, random_orthogonal(7)))
    error = (net(x) - before).abs().max() / before.abs().max()
    assert (error < EXACT) == net.isotropic == (name == "iso_mlp")


HIDDEN_LAYER_OPS = {
    "diagonalise": lambda net: T.diagonalise(net, 0),
    "full_diagonalise": lambda net: T.full_diagonalise(net, 1),
    "sparsify": T.sparsify,
    "grow": lambda net: T.grow(net, 0, 2),
    "prune": lambda net: T.prune(net, 0, 1),
    "neuroadapt": T.neuroadapt,
    "release": lambda net: T.release(net, torch.randn(4, 3, 4, 4), None),
}


@pytest.mark.parametrize("op", sorted(HIDDEN_LAYER_OPS))
@pytest.mark.parametrize("name", [n for n in NAMES if n != "iso_mlp"])
def test_hidden_layer_operations_refuse_a_non_isotropic_backbone(name, op):
    net = seeded(name)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    cls = type(net).__name__
    with pytest.raises(TypeError, match=rf"^{op} needs an isotropic backbone.*{cls} \({name}\) is not isotropic"):
        HIDDEN_LAYER_OPS[op](net)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())


def image_data(seed=0, n_train=40, n_test=12):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n_train + n_test, 3, 4, 4), generator=g, dtype=torch.uint8)
    x[:, 1, 0, 0] = 7  # a constant feature: standardised to 0, not divided by a zero std
    y = torch.arange(n_train + n_test) % 4
    return TensorData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], ["a", "b", "c", "d"])


def test_a_stream_keeps_image_shapes_and_standardises_per_pixel_and_channel():
    data = image_data()
    stream = build_stream(data, "class", 2)
    train_x = stream.train.tensors[0]
    assert stream.input_shape == (3, 4, 4) and stream.input_size == 48
    assert train_x.shape == (40, 3, 4, 4) and train_x.dtype == torch.float32
    flat = data.train_x.flatten(1).float()  # the flattened reference: one feature per channel of each pixel
    std = flat.std(0)
    expected = (flat - flat.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))
    assert torch.equal(train_x.flatten(1), expected) and torch.equal(train_x[:, 1, 0, 0], torch.zeros(40))
    assert stream.experiences[0].test_x.shape[1:] == (3, 4, 4)


@pytest.mark.parametrize("name", NAMES)
def test_a_backbone_created_from_a_stream_takes_its_batches(name):
    stream = build_stream(image_data(), "class", 2)
    net = create_backbone(name, stream.input_shape, stream.n_classes, [8])
    assert net(stream.experiences[1].train_x[:5]).shape == (5, 4)
