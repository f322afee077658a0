"""Elastic Weight Consolidation (Kirkpatrick et al., 2017): a Fisher-weighted pull towards past weights."""

from avalanche.training import EWC

from isocl.harness.registry import register_strategy


@register_strategy("ewc")
def ewc(ctx, ewc_lambda: float = 100.0, mode: str = "separate", decay_factor: float | None = None):
    return EWC(**ctx.template_kwargs(), ewc_lambda=ewc_lambda, mode=mode, decay_factor=decay_factor)
