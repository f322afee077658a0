"""Elastic Weight Consolidation (Kirkpatrick et al., 2017): a Fisher-weighted pull towards past weights.

Avalanche's diagonal Fisher. On the topology layer it is `iso-ewc-diag` (`iso-ewc` names the factored EWC, see
ewc_factored.py): its importances follow growth exactly and rotations approximately (isocl/cl/follow.py).
"""

from typing import Literal

from avalanche.training import EWC

from isocl.cl.strategy import Fraction, NonNegative, register_strategy


@register_strategy("ewc")
def ewc(
    ctx,
    ewc_lambda: NonNegative = 100.0,
    mode: Literal["separate", "online"] = "separate",
    decay_factor: Fraction | None = None,
):
    return EWC(**ctx.template_kwargs(), ewc_lambda=ewc_lambda, mode=mode, decay_factor=decay_factor)
