"""iso-ewc: the iso topology policy plus an EWC whose Fisher follows every rotation, growth and pruning exactly
(isocl/cl/ewc.py: a factored empirical Fisher of sampled per-sample gradients, online anchors)."""

from avalanche.training import Naive

from isocl.cl import NeuroPlugin
from isocl.cl.ewc import TopologyEWC
from isocl.harness.registry import register_strategy


@register_strategy("iso-ewc", backbones=("iso_mlp",))
def iso_ewc(
    ctx,
    threshold: float = 0.95,
    n_scaffold: int = 5,
    ewc_lambda: float = 100.0,
    n_samples: int = 32,
    release_ratio: float = 4.0,
    release_decay: float = 0.1,
):
    ewc = TopologyEWC(ewc_lambda, n_samples)
    return Naive(
        **ctx.template_kwargs(
            NeuroPlugin(
                threshold, n_scaffold, followers=[ewc], release_ratio=release_ratio, release_decay=release_decay
            ),
            ewc,
        )
    )
