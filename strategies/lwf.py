"""Learning without Forgetting (Li and Hoiem, 2017): distil the previous model's outputs on new data."""

from avalanche.training import LwF

from isocl.cl.strategy import NonNegative, Positive, register_strategy


@register_strategy("lwf")
def lwf(ctx, alpha: NonNegative = 1.0, temperature: Positive = 2.0):
    return LwF(**ctx.template_kwargs(), alpha=alpha, temperature=temperature)
