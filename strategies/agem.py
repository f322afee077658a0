"""Averaged GEM (Chaudhry et al., 2019): project the gradient so the memory's average loss does not rise."""

from avalanche.training import Naive
from avalanche.training.plugins import AGEMPlugin

from isocl.cl.strategy import Count, register_strategy


class CheckpointableAGEMPlugin(AGEMPlugin):
    """AGEM keeps a live iterator over its memory, which cannot be pickled: drop it, rebuild it on load."""

    def __getstate__(self):
        return {**self.__dict__, "buffer_dliter": None}

    def __setstate__(self, state):
        self.__dict__.update(state)
        loader = self.buffer_dataloader
        self.buffer_dliter = iter(loader) if loader is not None else iter([])


@register_strategy("agem")
def agem(ctx, patterns_per_exp: Count = 100, sample_size: Count = 64):
    return Naive(**ctx.template_kwargs(CheckpointableAGEMPlugin(patterns_per_exp, sample_size)))
