"""Cumulative: at each experience, retrain on the union of all data seen so far."""

from avalanche.training import Cumulative

from isocl.cl.strategy import register_strategy


@register_strategy("cumulative", state=("dataset",))
def cumulative(ctx):
    return Cumulative(**ctx.template_kwargs())
