"""Experience replay with a fixed memory, balanced over experiences (Avalanche's Replay)."""

from avalanche.training import Replay

from isocl.cl.strategy import Count, register_strategy


@register_strategy("replay")
def replay(ctx, mem_size: Count = 500):
    return Replay(**ctx.template_kwargs(), mem_size=mem_size)
