"""Learning without Forgetting (Li and Hoiem, 2017): distil the previous model's outputs on new data."""

from avalanche.training import LwF

from isocl.harness.registry import register_strategy


@register_strategy("lwf")
def lwf(ctx, alpha: float = 1.0, temperature: float = 2.0):
    return LwF(**ctx.template_kwargs(), alpha=alpha, temperature=temperature)
