"""The topology policy of the iso strategies: grow on task append, adapt after every epoch (paper notes §4, §7.1).

At each new experience: output units for its new classes (task setting: its head) and `n_scaffold` inert
scaffold neurons in every hidden layer; earlier tasks' logits are unchanged at that moment. After every training
epoch: `neuroadapt`, the scaffold-buffer rule (prune scaffolds beyond `n_scaffold`, replace promoted ones).
Every change is replayed on the optimiser state (never reset) and on any registered followers (EWC).

When an experience is withdrawn (`forget_experience`, called by isocl/cl/removal.py after its outputs are gone):
`topology.release` isolates the directions of every hidden layer that only its inputs excited and decays them,
and `neuroadapt` at once prunes them as surplus scaffolds. To tell a task's directions apart the plugin keeps
`n_probe` training inputs of each experience; they are only ever passed forward, never trained on.
"""

import torch
from avalanche.core import SupervisedPlugin

from isocl import topology
from isocl.cl.plugins import random_samples
from isocl.nn import IsoMLP


def release_graph(strategy) -> None:
    """Drop the last minibatch's autograd graph before parameters change shape.

    Autograd caches each parameter's shape in a node that lives as long as some graph holds it; the strategy keeps
    its last loss and output, and with them that node, which would then reject gradients of the new shape.
    """
    for name in ("loss", "mb_output"):
        value = getattr(strategy, name, None)
        if hasattr(value, "detach"):
            setattr(strategy, name, value.detach())


class NeuroPlugin(SupervisedPlugin):
    def __init__(
        self,
        threshold: float = 0.95,
        n_scaffold: int = 5,
        followers: list | None = None,
        *,
        n_probe: int = 256,
        release_ratio: float = 4.0,
        release_decay: float = 0.1,
    ):
        super().__init__()
        self.threshold = threshold
        self.n_scaffold = n_scaffold
        self.followers = list(followers or [])  # objects with follow(net, change)
        self.started = False
        self.n_probe = n_probe
        self.release_ratio = release_ratio
        self.release_decay = release_decay
        self.probes: dict[int, torch.Tensor] = {}  # experience id -> some of its training inputs (CPU)

    @staticmethod
    def check_backbone(model) -> None:
        if not isinstance(model.backbone, IsoMLP):
            raise ValueError(
                f"the iso strategies change the topology of an isotropic network; the backbone is a "
                f"{type(model.backbone).__name__}: set backbone.type to iso_mlp"
            )

    def before_training_exp(self, strategy, **kwargs):
        release_graph(strategy)
        model = strategy.model
        self.check_backbone(model)
        classes = list(strategy.experience.classes_in_this_experience)
        if not self.started:  # an untrained head: cut it down to the first experience's classes
            others = [c for c in model.output_classes.tolist() if c not in classes]
            change = model.remove_class_outputs(others)
            self.started = True
        else:
            change = model.add_class_outputs(classes)
        for k in range(model.backbone.n_hidden):
            change = change + topology.grow(model.backbone, k, self.n_scaffold)
        self.follow(strategy, change)

    def after_training_epoch(self, strategy, **kwargs):
        release_graph(strategy)
        self.follow(strategy, topology.neuroadapt(strategy.model.backbone, self.threshold, self.n_scaffold))

    def after_training_exp(self, strategy, **kwargs):
        inputs, _ = random_samples(strategy.experience.dataset, self.n_probe)
        self.probes[strategy.experience.current_experience] = inputs.cpu()

    def forget_experience(self, strategy, removal) -> None:
        """Release the withdrawn experience's directions and prune them (module docstring)."""
        release_graph(strategy)
        removed = self.probes.pop(removal.experience, None)
        if removed is None:
            return
        net = strategy.model.backbone
        device = net.maps[0].weight.device
        retained = torch.cat(list(self.probes.values())).to(device) if self.probes else None
        change = topology.release(
            net, removed.to(device), retained, ratio=self.release_ratio, decay=self.release_decay
        ) + topology.neuroadapt(net, self.threshold, self.n_scaffold)
        self.follow(strategy, change)

    def follow(self, strategy, change: topology.Change) -> None:
        topology.remap_optimizer(strategy.optimizer, strategy.model.backbone, change)
        for follower in self.followers:
            follower.follow(strategy.model.backbone, change)
