"""Averaged GEM (Chaudhry et al., 2019): project the gradient so the memory's average loss does not rise."""

from avalanche.training import Naive
from avalanche.training.plugins import AGEMPlugin

from isocl.cl.strategy import Count, register_strategy


@register_strategy("agem")
def agem(ctx, patterns_per_exp: Count = 100, sample_size: Count = 64):
    return Naive(**ctx.template_kwargs(AGEMPlugin(patterns_per_exp, sample_size)))
