"""Gradient Episodic Memory (Lopez-Paz and Ranzato, 2017): one QP per step (needs quadprog)."""

from avalanche.training import GEM

from isocl.cl.strategy import Count, NonNegative, register_strategy


@register_strategy("gem")
def gem(ctx, patterns_per_exp: Count = 100, memory_strength: NonNegative = 0.5):
    return GEM(**ctx.template_kwargs(), patterns_per_exp=patterns_per_exp, memory_strength=memory_strength)
