"""iso-lwf: the iso topology policy plus distillation of the previous model's outputs (LwF)."""

from avalanche.training import Naive
from avalanche.training.plugins import LwFPlugin

from isocl.cl import NeuroPlugin
from isocl.harness.registry import register_strategy


@register_strategy("iso-lwf", backbones=("iso_mlp",))
def iso_lwf(
    ctx,
    threshold: float = 0.95,
    n_scaffold: int = 5,
    alpha: float = 1.0,
    temperature: float = 2.0,
    release_ratio: float = 4.0,
    release_decay: float = 0.1,
):
    return Naive(
        **ctx.template_kwargs(
            NeuroPlugin(threshold, n_scaffold, release_ratio=release_ratio, release_decay=release_decay),
            LwFPlugin(alpha, temperature),
        )
    )
