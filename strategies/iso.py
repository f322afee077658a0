"""iso: an isotropic network that grows scaffold neurons and output units for each new experience and applies the
scaffold-buffer rule after every epoch (paper notes §4; threshold 0.95, 5 scaffolds: the author's Exp 3)."""

from avalanche.training import Naive

from isocl.cl import NeuroPlugin
from isocl.harness.registry import register_strategy


@register_strategy("iso", backbones=("iso_mlp",))
def iso(ctx, threshold: float = 0.95, n_scaffold: int = 5, release_ratio: float = 4.0, release_decay: float = 0.1):
    return Naive(
        **ctx.template_kwargs(
            NeuroPlugin(threshold, n_scaffold, release_ratio=release_ratio, release_decay=release_decay)
        )
    )
