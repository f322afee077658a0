"""iso-replay: the iso topology policy plus experience replay from a fixed memory."""

from avalanche.training import Naive
from avalanche.training.plugins import ReplayPlugin

from isocl.cl import NeuroPlugin
from isocl.harness.registry import register_strategy


@register_strategy("iso-replay", backbones=("iso_mlp",))
def iso_replay(
    ctx,
    threshold: float = 0.95,
    n_scaffold: int = 5,
    mem_size: int = 500,
    release_ratio: float = 4.0,
    release_decay: float = 0.1,
):
    return Naive(
        **ctx.template_kwargs(
            NeuroPlugin(threshold, n_scaffold, release_ratio=release_ratio, release_decay=release_decay),
            ReplayPlugin(mem_size=mem_size),
        )
    )
