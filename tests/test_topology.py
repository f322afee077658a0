"""Topology operations: exact where the math says exact (float64), bounded where it says bounded."""

import copy
import math

import pytest
import torch

from isocl import topology as T
from isocl.nn import IsoMLP, ReLUMLP, TanhMLP
from isocl.topology.decompose import left_basis
from isocl.topology.layout import apply_step

from .nets import inputs, make_net, random_orthogonal

EXACT = 1e-10  # relative to the output scale


def relative_change(before: torch.Tensor, after: torch.Tensor) -> float:
    return float((after - before).abs().max() / before.abs().max())


def preserves(net, op, *, outputs=None) -> float:
    x = inputs(net)
    with torch.no_grad():
        before = net(x)
        op()
        after = net(x)
    outputs = outputs if outputs is not None else slice(None)
    return relative_change(before[:, outputs], after[:, outputs])


shapes = pytest.mark.parametrize("reshaped", [False, True], ids=["fresh", "reshaped"])


@shapes
def test_every_rotation_is_exact(float64, reshaped):
    net = make_net(reshaped=reshaped)
    for k in range(net.n_hidden):
        R = random_orthogonal(net.sizes[k + 1], seed=k)
        assert preserves(net, lambda R=R, k=k: apply_step(net, T.Rotation(k, R))) < EXACT


@shapes
def test_diagonalise_is_exact_and_orders_neurons(float64, reshaped):
    net = make_net(reshaped=reshaped)
    for k in range(net.n_hidden):
        expected = T.singular_values(net, k)
        change = T.diagonalise(net, k)
        W = net.maps[k].weight.detach()
        gram = W @ W.T
        off_diagonal = gram - torch.diag(gram.diagonal())
        assert float(off_diagonal.abs().max()) < 1e-12 * float(gram.abs().max())
        assert torch.allclose(W.norm(dim=1), expected, atol=1e-12)
        assert torch.all(change.info["singular_values"][:-1] >= change.info["singular_values"][1:] - 1e-12)
    net2 = make_net(reshaped=reshaped)
    assert all(preserves(net2, lambda k=k: T.diagonalise(net2, k)) < EXACT for k in range(net2.n_hidden))


@shapes
def test_full_diagonalise_is_exact_with_exact_zeros(float64, reshaped):
    net = make_net(reshaped=reshaped)
    for k in range(1, net.n_hidden):
        assert preserves(net, lambda k=k: T.full_diagonalise(net, k)) < EXACT
        W = net.maps[k].weight.detach()
        off_diagonal = W.clone()
        off_diagonal.diagonal().zero_()
        assert torch.count_nonzero(off_diagonal) == 0
        assert torch.count_nonzero(W) <= min(W.shape)


def test_sparsify_removes_what_the_formula_says(float64):
    net = make_net((20, 16, 16, 16, 16, 5))
    x = inputs(net)
    before = net(x).detach()
    change = T.sparsify(net)
    assert relative_change(before, net(x).detach()) < EXACT
    assert change.info["maps"] == [1, 3]
    assert (change.info["nonzero_before"], change.info["nonzero_after"]) == (1168, 688)  # notes §2.5 [CHECK]
    # n_in n + (D-1) n^2 + n n_out dense, floor(D/2) of the n x n maps keep only n
    n, D = 16, 4
    assert change.info["nonzero_before"] - change.info["nonzero_after"] == (D // 2) * (n * n - n)
    assert T.nonzero_weights(net) == 688


@shapes
def test_grow_is_exact_and_scaffolds_are_inert(float64, reshaped):
    net = make_net(reshaped=reshaped)
    for k in range(net.n_hidden):
        width = net.sizes[k + 1]
        assert preserves(net, lambda k=k: T.grow(net, k, 4)) < EXACT
        assert net.sizes[k + 1] == width + 4
        assert torch.count_nonzero(net.maps[k].weight[-4:]) == 0 and torch.count_nonzero(net.maps[k].bias[-4:]) == 0
        assert torch.count_nonzero(net.maps[k + 1].weight[:, -4:]) > 0  # random outgoing column


@shapes
def test_add_and_remove_outputs_keep_the_other_outputs(float64, reshaped):
    net = make_net(reshaped=reshaped)
    n_out = net.sizes[-1]
    assert preserves(net, lambda: T.add_outputs(net, 3), outputs=slice(0, n_out)) < EXACT
    assert net.sizes[-1] == n_out + 3
    x = inputs(net)
    before = net(x).detach()
    T.remove_outputs(net, [0, n_out + 1])
    kept = [i for i in range(n_out + 3) if i not in (0, n_out + 1)]
    assert torch.equal(net(x).detach(), before[:, kept])


@pytest.mark.parametrize("cls", [IsoMLP, TanhMLP, ReLUMLP])
def test_outputs_change_on_every_backbone(cls):
    net = cls([6, 5, 4])
    x = torch.randn(3, 6)
    before = net(x).detach()
    T.add_outputs(net, 2)
    assert torch.equal(net(x).detach()[:, :4], before) and torch.count_nonzero(net(x)[:, 4:]) == 0
    T.remove_outputs(net, [4, 5])
    assert torch.equal(net(x).detach(), before)


@shapes
def test_prune_of_zero_singular_values_is_exact(float64, reshaped):
    # layer 0 (20 or 23 wide) reads 8 inputs and layer 1 (30 wide) reads 20 or 23: trailing sigmas are 0
    net = make_net(reshaped=reshaped, zero_psi=(1,))
    for k in (0, 1):
        n_zero = net.sizes[k + 1] - net.sizes[k]
        change = T.prune(net, k, n_zero)
        assert float(change.info["removed_singular_values"].max()) < 1e-12
    net = make_net(reshaped=reshaped, zero_psi=(1,))
    for k in (1, 0):  # deepest first, as neuroadapt does
        n_zero = net.sizes[k + 1] - net.sizes[k]
        assert preserves(net, lambda k=k, n=n_zero: T.prune(net, k, n)) < EXACT


def test_prune_without_psi_or_intrinsic_length_is_not_exact(float64):
    # the notes' §3 ablation: o alone (or nothing) leaves the bias residual in the function
    errors = {}
    for psi, o in [("trainable_decay", "trainable"), ("none", "trainable"), ("none", "none")]:
        torch.manual_seed(0)
        net = IsoMLP([8, 20, 12, 5], init="xavier_normal", psi=psi, intrinsic_length=o)
        with torch.no_grad():
            for layer in net.maps:
                layer.bias.normal_()
        errors[psi, o] = preserves(net, lambda net=net: T.prune(net, 0, 12))
    assert errors["trainable_decay", "trainable"] < EXACT
    assert errors["none", "trainable"] > 1e-4 and errors["none", "none"] > 1e-4


def with_smallest_singular_value(net, k, sigma):
    W = net.maps[k].weight
    U, s, Vh = torch.linalg.svd(W, full_matrices=False)
    s = s.clone()
    s[-1] = sigma
    with torch.no_grad():
        W.copy_(U @ torch.diag(s) @ Vh)


@pytest.mark.parametrize("k", [0, 1])
def test_prune_error_is_first_order_in_sigma(float64, k):
    """Pruning a neuron of singular value sigma equals replacing its pre-activation by its bias, a change of at
    most sigma |a_{k-1}|. With psi = 0 downstream every later map is |W_m|_2-Lipschitz and the isotropic tanh is
    1-Lipschitz, so |dy| <= sigma |a_{k-1}| prod_m |W_m|_2, with |a| < 1 for hidden layers and a = x for k = 0."""
    errors = []
    for sigma in (1e-2, 1e-3, 1e-4):
        net = make_net((12, 10, 8, 5), zero_psi=(1, 2))  # no zero sigmas
        with_smallest_singular_value(net, k, sigma)
        x = inputs(net)
        with torch.no_grad():
            before = net(x)
            lipschitz = math.prod(float(torch.linalg.matrix_norm(m.weight, 2)) for m in net.maps[k + 1 :])
            reach = x.norm(dim=1) if k == 0 else torch.ones(len(x))
            T.prune(net, k, 1)
            error = (net(x) - before).norm(dim=1)
        assert torch.all(error <= sigma * reach * lipschitz)
        errors.append(float(error.max()))
    assert errors[0] > 0
    for larger, smaller in zip(errors, errors[1:], strict=False):
        assert 9.0 < larger / smaller < 11.0  # linear in sigma


@pytest.mark.parametrize("k", [0, 1])
def test_prune_many_at_once_equals_one_by_one(float64, k):
    one_by_one = make_net((8, 12, 10, 5), zero_psi=(1,))
    at_once = copy.deepcopy(one_by_one)
    smallest = T.singular_values(at_once, k)[-4:]
    change = T.prune(at_once, k, 4)
    for _ in range(4):
        T.prune(one_by_one, k, 1)
    assert torch.allclose(change.info["removed_singular_values"], smallest, atol=1e-12)
    x = inputs(at_once)
    assert one_by_one.sizes == at_once.sizes
    assert relative_change(one_by_one(x).detach(), at_once(x).detach()) < EXACT


def test_neuroadapt_grows_an_orthogonal_net_exactly(float64):
    net = IsoMLP([8, 10, 10, 3])  # orthogonal init: every sigma is 1 > 0.95, so no scaffold yet
    with torch.no_grad():
        for layer in net.maps:
            layer.bias.normal_()
    assert preserves(net, lambda: T.neuroadapt(net, 0.95, 5)) < EXACT
    # layer 1: 5 new scaffolds; layer 0 (10 wide, 8 inputs) already had 2 zero-sigma rows, so gains 3
    assert net.sizes == [8, 13, 15, 3]


@shapes
def test_neuroadapt_reaches_the_scaffold_buffer(float64, reshaped):
    net = make_net(reshaped=reshaped)
    threshold = float(T.singular_values(net, 1).median())
    change = T.neuroadapt(net, threshold, 3)
    assert list(change.info["layers"]) == list(reversed(range(net.n_hidden)))  # deepest first
    for k, info in change.info["layers"].items():
        assert info["width"] == net.sizes[k + 1]
        assert info["scaffold"] - info["removed"] + info["added"] == 3
    assert int((T.singular_values(net, 0) <= threshold).sum()) == 3
    # shrinking layer k-1 after layer k removes columns of map k, which can turn more of layer k into
    # scaffolds; the next passes settle it (the rule runs once per epoch), and then nothing moves
    for _ in range(net.n_hidden):
        T.neuroadapt(net, threshold, 3)
    for k in range(net.n_hidden):
        assert int((T.singular_values(net, k) <= threshold).sum()) == 3
    assert not T.neuroadapt(net, threshold, 3).changes_shapes


def test_expectation_mode_folds_the_correction_into_the_bias(float64):
    torch.manual_seed(0)
    net = IsoMLP([8, 20, 12, 5], init="xavier_normal", psi="expectation")
    with torch.no_grad():
        for layer in net.maps:
            layer.bias.normal_(std=0.3)
    x = inputs(net)
    with pytest.raises(ValueError, match="forward pass in training mode"):
        T.prune(net, 0, 12)
    net.train()
    net(x)
    error = preserves(net, lambda: T.prune(net, 0, 12))
    assert error < 0.05  # approximate: g_k is replaced by its batch mean


@pytest.mark.parametrize(("cls", "kind"), [(TanhMLP, "tanh_mlp"), (ReLUMLP, "relu_mlp")])
def test_topology_needs_an_isotropic_net(cls, kind):
    net = cls([4, 6, 2])
    with pytest.raises(TypeError, match=rf"prune needs an isotropic backbone.*{cls.__name__} \({kind}\) is not "):
        T.prune(net, 0, 1)
    assert net.sizes == [4, 6, 2]


def test_a_network_without_the_contract_is_named():
    with pytest.raises(TypeError, match="Sequential does not meet the backbone contract"):
        list(T.parameter_axes(torch.nn.Sequential(torch.nn.Linear(2, 3))))


@pytest.mark.parametrize(
    ("op", "error", "message"),
    [
        (lambda n: T.diagonalise(n, 3), IndexError, "hidden layer 3 is out of range.*0..2"),
        (lambda n: T.grow(n, -1, 2), IndexError, "hidden layer -1"),
        (lambda n: T.grow(n, 0, -2), ValueError, "int >= 0"),
        (lambda n: T.prune(n, 0, 20), ValueError, "cannot remove 20 of the 20 neurons"),
        (lambda n: T.full_diagonalise(n, 0), IndexError, "not a hidden-to-hidden map.*1..2"),
        (lambda n: T.full_diagonalise(n, 3), IndexError, "not a hidden-to-hidden map"),
        (lambda n: T.neuroadapt(n, -1.0), ValueError, "threshold"),
        (lambda n: T.remove_outputs(n, [0, 1, 2, 3, 4]), ValueError, "leaving at least one"),
        (lambda n: T.remove_outputs(n, [7]), ValueError, r"0..4"),
    ],
)
def test_bad_input_is_named_and_changes_nothing(op, error, message):
    net = make_net()
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(error, match=message):
        op(net)
    assert all(torch.equal(before[name], value) for name, value in net.state_dict().items())


def test_non_finite_weights_are_refused():
    net = make_net()
    with torch.no_grad():
        net.maps[1].weight[0, 0] = float("nan")
    before = copy.deepcopy(net.state_dict())
    for op in (lambda: T.prune(net, 0, 1), lambda: T.neuroadapt(net), lambda: T.sparsify(net)):
        with pytest.raises(ValueError, match="maps.1.weight holds non-finite"):
            op()
    assert all(torch.equal(before[n].nan_to_num(), v.nan_to_num()) for n, v in net.state_dict().items())


def test_a_failure_half_way_rolls_back(monkeypatch):
    net = make_net()
    before = copy.deepcopy(net.state_dict())

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("isocl.topology.ops._drop_trailing", broken)  # fails after the rotation was applied
    with pytest.raises(RuntimeError, match="disk full"):
        T.prune(net, 1, 2)
    assert net.sizes == [8, 20, 30, 12, 5]
    assert all(torch.equal(before[name], value) for name, value in net.state_dict().items())


# --- the precondition of exact pruning: sigma_j = 0 and psi_k[j] = 0 -------------------------------------------------


def range_basis(W: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis (n, m) of the column space of a tall W (n, m) of full rank m."""
    Q, _ = torch.linalg.qr(W.detach())
    return Q


def psi_on_zero_sigma_neurons(net, k, n_zero) -> torch.Tensor:
    """psi_k in the diagonalised basis of layer k, restricted to its n_zero neurons of singular value 0."""
    U, _ = left_basis(net.maps[k].weight)
    return (U.T @ net.maps[k].psi.detach())[-n_zero:]


def outside_range(W: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The part of v orthogonal to the column space of a tall W."""
    Q = range_basis(W)
    return v.detach() - Q @ (Q.T @ v.detach())


def net_with_zero_sigmas(psi_on_them: bool):
    """Layer 1 (20 wide) reads 12 neurons: 8 neurons of singular value 0 after diagonalisation. psi_1 is random
    along the 12 others; along the 8 it is random too (psi_on_them) or 0 (to rounding)."""
    net = make_net((8, 12, 20, 6, 5))
    if not psi_on_them:
        with torch.no_grad():
            psi = net.maps[1].psi
            psi.sub_(outside_range(net.maps[1].weight, psi))
    return net


def test_prune_of_zero_singular_values_is_exact_when_their_psi_entries_are_zero(float64):
    """The pruned neurons are constants b_j: o_1 absorbs b_j^2, psi_2 the term g_1 b_j W_2[:, j]. psi_1 is non-zero
    on the kept neurons and psi_2 everywhere: only the pruned neurons' own psi entries must vanish."""
    net = net_with_zero_sigmas(psi_on_them=False)
    assert float(psi_on_zero_sigma_neurons(net, 1, 8).abs().max()) < 1e-12
    assert float(net.maps[1].psi.detach().norm()) > 0.2 and float(net.maps[2].psi.detach().norm()) > 0.2
    x = inputs(net)
    with torch.no_grad():
        before = net(x)
        change = T.prune(net, 1, 8)
        after = net(x)
    assert float(change.info["removed_singular_values"].max()) < 1e-12
    assert net.sizes == [8, 12, 12, 6, 5]
    assert relative_change(before, after) < EXACT


def test_prune_of_zero_singular_values_is_not_exact_when_their_psi_entries_are_not(float64):
    """A neuron of singular value 0 with psi_k[j] != 0 computes g_{k-1} psi_k[j] + b_j, which varies with the input:
    neither o_k nor psi_{k+1} (constants) can absorb it, so its removal changes the function."""
    net = net_with_zero_sigmas(psi_on_them=True)
    assert float(psi_on_zero_sigma_neurons(net, 1, 8).norm()) > 0.1
    x = inputs(net)
    with torch.no_grad():
        before = net(x)
        change = T.prune(net, 1, 8)
        after = net(x)
    assert float(change.info["removed_singular_values"].max()) < 1e-12
    assert net.sizes == [8, 12, 12, 6, 5]
    assert relative_change(before, after) > 1e-6


# --- psi = "expectation": exact where the gain is constant over the batch ---------------------------------------------


def expectation_net():
    torch.manual_seed(0)
    net = IsoMLP([8, 20, 12, 5], init="xavier_normal", psi="expectation")
    with torch.no_grad():
        for layer in net.maps:
            layer.bias.normal_()
    return net


def equal_norm_inputs(net, n=64, radius=2.0):
    """Inputs whose hidden pre-activations z_0 = W_0 x + b_0 all have the same norm: z_0 = radius d + b_perp with d a
    unit vector in the column space of W_0 and b_perp the part of b_0 outside it. So g_0 is the same for every
    sample, and replacing g_0 by its batch mean is exact on this batch."""
    W, b = net.maps[0].weight.detach(), net.maps[0].bias.detach()
    Q = range_basis(W)
    g = torch.Generator().manual_seed(2)
    directions = Q @ torch.nn.functional.normalize(torch.randn(Q.shape[1], n, generator=g), dim=0)
    target = radius * directions.T + outside_range(W, b)
    return torch.linalg.lstsq(W, (target - b).T).solution.T


def test_expectation_mode_is_exact_on_a_batch_of_constant_gain(float64):
    """Where g_0 is the same for every sample, E[g_0] W_1 b_perp in the bias is exactly the g_0 W_1 b_perp the pruned
    constants contributed, so pruning them is exact on that batch (any other factor than E[g_0] is not)."""
    net = expectation_net()
    x = equal_norm_inputs(net)
    trace = []
    net.train()
    with torch.no_grad():
        before = net(x, trace=trace)  # also records E[g_0] of this batch
    g = trace[1].gain
    assert float(g.max() - g.min()) < 1e-14 * float(g.max())
    # what the 12 pruned constants fed into map 1 (times g_0): W_1 b_perp
    correction = net.maps[1].weight.detach() @ outside_range(net.maps[0].weight, net.maps[0].bias)
    assert float(correction.norm()) > 0.1 * float(before.abs().max())  # the fold matters: half of it would show
    with torch.no_grad():
        change = T.prune(net, 0, 12)
        after = net.eval()(x)
    assert float(change.info["removed_singular_values"].max()) < 1e-12
    assert relative_change(before, after) < EXACT


def test_expectation_mode_moves_each_sample_by_its_gain_deviation(float64):
    """On any batch the next map's pre-activation moves by exactly (E[g_0] - g_0) times the pruned constants'
    contribution W_1 b_perp: the fold adds E[g_0] W_1 b_perp to the bias where g_0 W_1 b_perp was."""
    net = expectation_net()
    x = inputs(net)
    trace = []
    net.train()
    with torch.no_grad():
        net(x, trace=trace)
    mean_g, g, z1 = float(net.mean_gains[0]), trace[1].gain, trace[1].preactivation
    assert float(g.max() - g.min()) > 1e-3  # a generic batch: g_0 varies
    correction = net.maps[1].weight.detach() @ outside_range(net.maps[0].weight, net.maps[0].bias)
    with torch.no_grad():
        T.prune(net, 0, 12)
        after = []
        net.eval()(x, trace=after)
    expected = z1 + (mean_g - g) * correction
    assert torch.allclose(after[1].preactivation, expected, rtol=0, atol=EXACT * float(z1.abs().max()))


def test_resize_grows_exactly_prunes_like_prune_and_keeps_its_width(float64):
    net = make_net()
    assert preserves(net, lambda: T.resize(net, 1, 34)) < EXACT and net.sizes[2] == 34
    twin = copy.deepcopy(net)
    change = T.resize(net, 1, 25)
    assert change.info["removed"] == 9 and net.sizes[2] == 25
    T.prune(twin, 1, 9)
    x = inputs(net)
    assert torch.equal(net(x), twin(x))  # resize down is prune of the smallest singular values
    assert T.resize(net, 1, 25).steps == () and net.sizes[2] == 25
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="resize"):
            T.resize(net, 1, bad)
    with pytest.raises(IndexError, match="resize: hidden layer 7 is out of range"):
        T.resize(net, 7, 5)
