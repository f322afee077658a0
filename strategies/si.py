"""Synaptic Intelligence (Zenke et al., 2017): path-integral importances, a quadratic pull like EWC's."""

from avalanche.training import Naive
from avalanche.training.plugins import SynapticIntelligencePlugin

from isocl.harness.registry import register_strategy


def _own_copies(snapshot: dict) -> None:
    for value in snapshot.values():
        value.data = value.data.clone()


class CopyingSIPlugin(SynapticIntelligencePlugin):
    """Avalanche 0.6.0 snapshots weights with `param.detach().cpu().flatten()`, which on CPU is a view of the live
    parameter: the 'old' weights then move with every step, each step's weight change reads as 0, every importance
    is 0 and SI trains exactly like naive fine-tuning. Here the snapshots are copies."""

    def before_training_exp(self, strategy, **kwargs):
        super().before_training_exp(strategy, **kwargs)
        _own_copies(self.ewc_data[0])  # weights at the start of the experience

    def before_training_iteration(self, strategy, **kwargs):
        super().before_training_iteration(strategy, **kwargs)
        _own_copies(self.syn_data["old_theta"])  # weights before this step


@register_strategy("si")
def si(ctx, si_lambda: float = 1.0, eps: float = 1e-7):
    return Naive(**ctx.template_kwargs(CopyingSIPlugin(si_lambda=si_lambda, eps=eps)))
