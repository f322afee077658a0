"""Naive fine-tuning: train on each experience in turn, nothing against forgetting (the lower bound)."""

from avalanche.training import Naive

from isocl.cl.strategy import register_strategy


@register_strategy("naive")
def naive(ctx):
    return Naive(**ctx.template_kwargs())
