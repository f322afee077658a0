"""Joint training on all experiences at once: the offline upper bound (one row in the accuracy matrix)."""

from avalanche.training import JointTraining

from isocl.cl.strategy import register_strategy


@register_strategy("joint", trains_once=True)
def joint(ctx):
    return JointTraining(**ctx.template_kwargs())
