"""Synaptic Intelligence (Zenke et al., 2017): path-integral importances, a quadratic pull like EWC's."""

from avalanche.training import SynapticIntelligence

from isocl.harness.registry import register_strategy


@register_strategy("si")
def si(ctx, si_lambda: float = 1.0, eps: float = 1e-7):
    return SynapticIntelligence(**ctx.template_kwargs(), si_lambda=si_lambda, eps=eps)
