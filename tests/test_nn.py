import pytest
import torch

from isocl.nn import IsoMLP, ReLUMLP, TanhMLP, build_backbone, isotropic, isotropic_gain

from .nets import random_orthogonal


@pytest.mark.parametrize("activation", ["tanh", "log1p"])
def test_isotropic_is_equivariant_under_every_rotation(float64, activation):
    z = torch.randn(32, 7)
    R = random_orthogonal(7)
    assert torch.allclose(isotropic(z @ R.T, 0.3, activation), isotropic(z, 0.3, activation) @ R.T, atol=1e-14)


def test_isotropic_matches_its_definition(float64):
    z, o = torch.randn(16, 5), 0.7
    m = (z.square().sum(1, keepdim=True) + o).sqrt()
    assert torch.allclose(isotropic(z, o), torch.tanh(m) * z / m, atol=1e-15)
    assert torch.allclose(isotropic(z, o, "log1p"), torch.log1p(m) * z / m, atol=1e-15)


def test_small_ball_is_linear_with_finite_gradient(float64):
    z = torch.zeros(3, 4, requires_grad=True)
    assert torch.equal(isotropic_gain(z), torch.ones(3, 1))
    isotropic(z).sum().backward()
    assert torch.isfinite(z.grad).all() and torch.equal(z.grad, torch.ones(3, 4))  # f(z) = z near 0
    tiny = torch.full((1, 4), 1e-5)
    assert torch.equal(isotropic(tiny), tiny)


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="unknown isotropic activation 'relu'.*log1p"):
        isotropic(torch.ones(1, 2), activation="relu")


def reference_iso_forward(net: IsoMLP, x: torch.Tensor) -> torch.Tensor:
    """The notes' §2.1 equations written naively: a_k = g_k z_k, z_k = W_k a_{k-1} + b_k + psi_k g_{k-1}."""
    z = x @ net.maps[0].weight.T + net.maps[0].bias
    for k in range(1, len(net.maps)):
        o = net.log_lengths[k - 1].exp() if len(net.log_lengths) else 0.0
        m = (z.square().sum(1, keepdim=True) + o).sqrt()
        g = torch.tanh(m) / m
        psi = net.maps[k].psi if net.maps[k].psi is not None else 0.0
        z = (g * z) @ net.maps[k].weight.T + net.maps[k].bias + psi * g
    return z


@pytest.mark.parametrize("psi", ["none", "constant", "trainable", "trainable_decay", "expectation"])
@pytest.mark.parametrize("intrinsic_length", ["none", "constant", "trainable"])
def test_iso_forward_matches_the_equations(float64, psi, intrinsic_length):
    net = IsoMLP([6, 9, 7, 4], psi=psi, intrinsic_length=intrinsic_length, init="xavier_normal")
    with torch.no_grad():
        for layer in net.maps:
            layer.bias.normal_()
            if layer.psi is not None:
                layer.psi.normal_()
        for log_o in net.log_lengths:
            log_o.fill_(-0.5)
    x = torch.randn(11, 6)
    assert torch.allclose(net(x), reference_iso_forward(net, x), atol=1e-13)


def test_iso_defaults_follow_the_paper():
    net = IsoMLP([3072, 100, 100, 10])
    assert net.sizes == [3072, 100, 100, 10] and net.n_hidden == 2
    assert all(
        torch.allclose(torch.linalg.svdvals(m.weight), torch.ones(10 if i == 2 else 100), atol=1e-5)
        for i, m in enumerate(net.maps)
    )  # orthogonal init: every singular value is 1
    assert torch.allclose(net.intrinsic_length(0), torch.tensor(1e-6))
    assert net.maps[0].psi is None and all(m.psi is not None and m.psi.requires_grad for m in net.maps[1:])
    assert net.log_lengths[0].requires_grad


def test_penalty_is_the_psi_decay():
    net = IsoMLP([4, 5, 5, 3])
    with torch.no_grad():
        net.maps[1].psi.fill_(1.0)
        net.maps[2].psi.fill_(2.0)
    assert torch.isclose(net.penalty(), torch.tensor(0.1 * (5 * 1.0 + 3 * 4.0)))
    assert IsoMLP([4, 5, 3], psi="trainable").penalty() == 0
    assert TanhMLP([4, 5, 3]).penalty() == 0
    assert ReLUMLP([4, 5, 3]).penalty() == 0


@pytest.mark.parametrize("cls", [IsoMLP, TanhMLP, ReLUMLP])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_any_batch_and_dtype_and_backward(cls, dtype):
    net = cls([12, 8, 8, 3]).to(dtype)
    for batch in (1, 5):
        x = torch.randn(batch, 12, dtype=dtype)
        y = net(x)
        assert y.shape == (batch, 3) and y.dtype == dtype
    assert net(torch.randn(2, 3, 2, 2, dtype=dtype)).shape == (2, 3)  # images are flattened
    y.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


@pytest.mark.parametrize(("cls", "nonlinearity"), [(TanhMLP, torch.tanh), (ReLUMLP, torch.relu)])
def test_elementwise_mlps_are_the_elementwise_networks(float64, cls, nonlinearity):
    torch.manual_seed(0)
    net = cls([5, 6, 4, 2], init="xavier_uniform")
    with torch.no_grad():
        for layer in net.maps:
            layer.bias.normal_()
    x = torch.randn(3, 5)
    h = nonlinearity(x @ net.maps[0].weight.T + net.maps[0].bias)
    h = nonlinearity(h @ net.maps[1].weight.T + net.maps[1].bias)
    assert torch.allclose(net(x), h @ net.maps[2].weight.T + net.maps[2].bias, atol=1e-14)
    assert (h == 0).any() == (cls is ReLUMLP)  # tanh is never 0 off the origin; ReLU zeroes negatives


def test_relu_mlp_defaults_to_the_linear_layer_init():
    torch.manual_seed(0)
    net = ReLUMLP([40, 30, 2])
    bound = 1 / 40**0.5  # kaiming_uniform with a = sqrt(5): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as nn.Linear
    assert net.init == "kaiming_uniform" and net.maps[0].weight.abs().max() <= bound
    assert net.maps[0].weight.abs().max() > 0.9 * bound


@pytest.mark.parametrize("cls", [IsoMLP, TanhMLP, ReLUMLP])
def test_spec_rebuilds_the_same_network(cls):
    net = cls([6, 5, 4, 3])
    twin = build_backbone(net.spec())
    twin.load_state_dict(net.state_dict())
    x = torch.randn(2, 6)
    assert type(twin) is cls and torch.equal(twin(x), net(x))


@pytest.mark.parametrize("cls", [IsoMLP, TanhMLP, ReLUMLP])
def test_image_batches_are_flattened_in_channel_height_width_order(float64, cls):
    net = cls([12, 5, 3], input_shape=(3, 2, 2))
    x = torch.randn(4, 3, 2, 2)
    assert net.input_shape == (3, 2, 2) and net.spec()["input_shape"] == [3, 2, 2]
    assert torch.equal(net(x), net(x.reshape(4, 12)))  # what torch's flatten(1) gives: C, then H, then W
    with pytest.raises(ValueError, match=r"expected input of shape \(B, 3, 2, 2\) or \(B, 12\), got \(4, 13\)"):
        net(torch.randn(4, 13))


def test_input_shape_must_hold_the_input_width():
    with pytest.raises(ValueError, match=r"input_shape=\(3, 2, 2\) holds 12 values, but sizes\[0\].* is 10"):
        IsoMLP([10, 4, 3], input_shape=(3, 2, 2))
    with pytest.raises(ValueError, match="input_shape=.*one sample's shape"):
        TanhMLP([10, 4, 3], input_shape=(10, 0))


def test_an_old_spec_without_input_shape_rebuilds_flat():
    spec = dict(type="tanh_mlp", sizes=[6, 5, 3], init="orthogonal")  # checkpoints written before input_shape
    assert build_backbone(spec).input_shape == (6,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(sizes=[10]), "sizes"),
        (dict(sizes=[10, 0, 3]), "sizes"),
        (dict(sizes=[10, 4, 3], psi="sometimes"), "psi='sometimes'.*trainable_decay"),
        (dict(sizes=[10, 4, 3], intrinsic_length="x"), "intrinsic_length='x'"),
        (dict(sizes=[10, 4, 3], init="zeros"), "init='zeros'.*kaiming_uniform.*orthogonal.*xavier_normal"),
        (dict(sizes=[10, 4, 3], activation="relu"), "activation 'relu'"),
        (dict(sizes=[10, 4, 3], intrinsic_length_init=0.0), "intrinsic_length_init"),
    ],
)
def test_invalid_construction_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IsoMLP(kwargs.pop("sizes"), **kwargs)


def test_wrong_input_width_is_named():
    with pytest.raises(ValueError, match=r"expected input of shape \(B, 10\)"):
        IsoMLP([10, 4, 3])(torch.randn(2, 9))
