"""Synaptic Intelligence (Zenke et al., 2017): path-integral importances, a quadratic pull like EWC's."""

from avalanche.training import Naive
from avalanche.training.plugins import SynapticIntelligencePlugin

from isocl.cl.follow import move_through, named_axes
from isocl.cl.strategy import NonNegative, Positive, register_strategy


def _own_copies(snapshot: dict) -> None:
    for value in snapshot.values():
        value.data = value.data.clone()


class CopyingSIPlugin(SynapticIntelligencePlugin):
    """Avalanche 0.6.0 snapshots weights with `param.detach().cpu().flatten()`, which on CPU is a view of the live
    parameter: the 'old' weights then move with every step, each step's weight change reads as 0, every importance
    is 0 and SI trains exactly like naive fine-tuning. Here the snapshots are copies.

    Its state follows topology changes (isocl/cl/follow.py). Avalanche keeps it flattened, so the parameter
    shapes it was flattened from are tracked here. Weights and gradients move like the parameters; importances
    and path integrals (products of two parameter-shaped quantities) take the squared rotation (approximate);
    new entries start at 0."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shapes: dict[str, tuple] = {}  # parameter name -> the shape its flattened state had

    def before_training_exp(self, strategy, **kwargs):
        super().before_training_exp(strategy, **kwargs)
        _own_copies(self.ewc_data[0])  # weights at the start of the experience
        self.shapes = {name: tuple(p.shape) for name, p in strategy.model.named_parameters()}

    def follow(self, net, change) -> None:
        axes = named_axes(net)
        linear = [self.ewc_data[0], *(self.syn_data[k] for k in ("old_theta", "new_theta", "grad"))]
        quadratic = [self.ewc_data[1], self.syn_data["trajectory"], self.syn_data["cum_trajectory"]]
        for stores, squared in ((linear, False), (quadratic, True)):
            for store in stores:
                for name in set(store) & set(axes) & set(self.shapes):
                    moved = move_through(store[name].data.view(self.shapes[name]), axes[name], change, squared=squared)
                    store[name]._data, store[name].shape = moved.flatten().contiguous(), (moved.numel(),)
        self.shapes |= {f"backbone.{name}": tuple(p.shape) for name, p in net.named_parameters()}

    def before_training_iteration(self, strategy, **kwargs):
        super().before_training_iteration(strategy, **kwargs)
        _own_copies(self.syn_data["old_theta"])  # weights before this step


@register_strategy("si")
def si(ctx, si_lambda: NonNegative = 1.0, eps: Positive = 1e-7):
    return Naive(**ctx.template_kwargs(CopyingSIPlugin(si_lambda=si_lambda, eps=eps)))
