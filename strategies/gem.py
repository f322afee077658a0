"""Gradient Episodic Memory (Lopez-Paz and Ranzato, 2017): one QP per step (needs quadprog).

`rehearsal: N` also trains on a replay memory of N samples mixed into every batch, with the projection applied to
the mixed batches: the GEM of Hsu et al. (2018), whose GEM agent extends their naive rehearsal (their code at the
commit that made Table 2 concatenates the memory into each task's training set).
"""

from typing import Annotated

from avalanche.training import GEM
from avalanche.training.plugins import ReplayPlugin
from pydantic import Field

from isocl.cl.strategy import Count, NonNegative, register_strategy


@register_strategy("gem")
def gem(ctx, patterns_per_exp: Count = 100, memory_strength: NonNegative = 0.5,
        rehearsal: Annotated[int, Field(ge=0)] = 0):  # fmt: skip
    replay = (ReplayPlugin(mem_size=rehearsal),) if rehearsal else ()
    return GEM(**ctx.template_kwargs(*replay), patterns_per_exp=patterns_per_exp, memory_strength=memory_strength)
