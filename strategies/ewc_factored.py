"""EWC with a factored empirical Fisher (isocl/cl/ewc.py) that follows rotations, growth and pruning exactly.

On its own it is the control for `iso-ewc` (= `iso-ewc-factored`): the same regulariser with topology frozen.
"""

from avalanche.training import Naive

from isocl.cl.ewc import FactoredEWC
from isocl.cl.strategy import Count, NonNegative, register_strategy


@register_strategy("ewc-factored")
def ewc_factored(ctx, ewc_lambda: NonNegative = 100.0, n_samples: Count = 32):
    return Naive(**ctx.template_kwargs(FactoredEWC(ewc_lambda, n_samples)))
