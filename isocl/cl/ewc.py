"""EWC whose importances follow rotations, growth and pruning exactly (`ewc-factored`; `iso-ewc` is it with topology).

Avalanche's EWC keeps a diagonal Fisher per parameter entry: it asserts when a tensor shrinks, and no diagonal can
follow a rotation of a hidden layer (the diagonal of R^T diag(F) R is not diag(R^T F R)). Here the Fisher of each
finished experience is the empirical Fisher of `n_samples` per-sample gradients, F = mean_s g_s g_s^T, stored in
factored form: for map k, g_s restricted to W_k is delta_{k,s} a_{k-1,s}^T, to b_k is delta_{k,s} and to psi_k is
gain_s delta_{k,s} (delta = dL/dz). The penalty is

    lambda / 2 * sum_experiences mean_s ( sum_k delta_k^T dW_k a_{k-1} + delta_k^T db_k + gain delta_k^T dpsi_k )^2

with dW = W - W* around the parameters after the latest experience (online EWC, Schwarz et al. 2018). A rotation
R of layer k turns delta_k, a_k, the parameters and the anchors all by R^T, so the penalty is exactly invariant;
new neurons get zero entries (no importance), removed ones are dropped. Unlike the diagonal it keeps the
correlations between weights, within the span of the stored samples. Cost per step: about n_samples x (number of
experiences) extra sample-sized matrix products.
"""

import torch
import torch.nn.functional as F
from avalanche.core import SupervisedPlugin
from torch import Tensor

from isocl.cl.samples import random_samples
from isocl.topology import Change, parameter_axes, transform


class FisherFactors:
    """Per-sample gradient factors of one experience: per map k, (deltas (N, n_k), inputs (N, n_{k-1}), gains)."""

    def __init__(self, maps: list[tuple[Tensor, Tensor, Tensor | None]]):
        self.maps = maps

    def follow(self, change: Change) -> None:
        for step in change.steps:
            self.maps = [
                (transform(d, {1: k}, step), transform(a, {1: k - 1}, step) if k else a, g)
                for k, (d, a, g) in enumerate(self.maps)
            ]


def gradient_factors(module, loss_of_logits) -> FisherFactors:
    """Per-sample gradient factors of a loss summed over samples, `loss_of_logits(trace)` (it runs the forward
    with the trace list): one backward pass for the whole batch, in eval mode. Samples are independent, so
    dL/dz_s is per sample."""
    trace = []
    was_training = module.training
    module.eval()
    with torch.enable_grad():
        loss = loss_of_logits(trace)
        deltas = torch.autograd.grad(loss, [t.preactivation for t in trace])
    module.train(was_training)
    return FisherFactors(
        [
            (d.detach(), t.inputs.detach(), None if t.gain is None else t.gain.detach())
            for d, t in zip(deltas, trace, strict=True)
        ]
    )


def fisher_factors(model, x: Tensor, y: Tensor, task_label: int | None) -> FisherFactors:
    """Per-sample gradient factors of the cross-entropy at (x, y)."""
    return gradient_factors(
        model, lambda trace: F.cross_entropy(model.logits(x, task_label, trace=trace), y, reduction="sum")
    )


def _projections(net, anchor: dict[str, Tensor], factors: FisherFactors) -> Tensor:
    """g_s^T (theta - theta*) for every stored sample s."""
    u = 0
    for k, (layer, (d, a, g)) in enumerate(zip(net.maps, factors.maps, strict=True)):
        dw = layer.weight - anchor[f"maps.{k}.weight"]
        u = u + ((a @ dw.T) * d).sum(1) + d @ (layer.bias - anchor[f"maps.{k}.bias"])
        if layer.psi is not None and g is not None:
            u = u + g[:, 0] * (d @ (layer.psi - anchor[f"maps.{k}.psi"]))
    return u


class FactoredEWC(SupervisedPlugin):
    def __init__(self, ewc_lambda: float = 100.0, n_samples: int = 32):
        super().__init__()
        self.ewc_lambda = ewc_lambda
        self.n_samples = n_samples
        self.anchor: dict[str, Tensor] = {}
        self.factors: dict[int, FisherFactors] = {}  # per training slot (Avalanche's train_exp_counter)

    def penalty(self, net) -> Tensor:
        if not self.factors:
            return net.maps[0].weight.new_zeros(())
        total = sum(_projections(net, self.anchor, f).square().mean() for f in self.factors.values())
        return 0.5 * self.ewc_lambda * total

    def before_backward(self, strategy, **kwargs):
        strategy.loss = strategy.loss + self.penalty(strategy.model.backbone)

    def after_training_exp(self, strategy, **kwargs):
        x, y = random_samples(strategy.experience.dataset, self.n_samples)
        x, y = x.to(strategy.device), y.to(strategy.device)
        slot = strategy.clock.train_exp_counter
        self.factors[slot] = fisher_factors(strategy.model, x, y, strategy.experience.task_label)
        net = strategy.model.backbone
        self.anchor = {name: p.detach().clone() for name, p, _ in parameter_axes(net)}

    def follow(self, net, change: Change) -> None:
        """Replay a topology change on the anchors and the stored factors."""
        axes = {name: a for name, _, a in parameter_axes(net)}
        for step in change.steps:
            self.anchor = {name: transform(t, axes[name], step) for name, t in self.anchor.items()}
        for factors in self.factors.values():
            factors.follow(change)

    def forget_experience(self, strategy, removal) -> None:
        """A withdrawn experience's Fisher goes."""
        self.factors.pop(removal.slot, None)  # the others followed the output removal (isocl/cl/follow.py)
