"""The topology policy: the isotropic layer that `iso-X` adds to any strategy X (paper notes §4, §7.1).

- Task appended (before each experience): `n_scaffold` inert scaffold neurons in every hidden layer (exact).
- After every training epoch: `neuroadapt`, the scaffold-buffer rule (prune scaffolds beyond `n_scaffold`,
  replace promoted ones).
- Task removed (`forget_experience`, called by isocl/cl/removal.py once its outputs are gone): `topology.release`
  isolates the directions of every hidden layer that only its inputs excited and decays them, and `neuroadapt`
  at once prunes them as surplus scaffolds. To tell a task's directions apart the plugin keeps `n_probe` training
  inputs of each experience (probes); they are only ever passed forward, never trained on.

Every change is followed by the optimiser and every other holder of parameter-shaped state (isocl/cl/follow.py).
The output head is not the policy's business: the scenario's `head` applies to every strategy alike.
"""

from dataclasses import dataclass
from typing import Annotated

import torch
from avalanche.core import SupervisedPlugin
from pydantic import Field

from isocl import topology
from isocl.cl.follow import change_topology
from isocl.cl.samples import random_samples


@dataclass(frozen=True)
class TopologyPolicy:
    """Every setting of the topology layer, with its defaults in this one place (settable per strategy)."""

    threshold: Annotated[float, Field(ge=0)] = 0.95  # singular value at or below which a neuron is a scaffold
    n_scaffold: Annotated[int, Field(ge=0)] = 5  # scaffolds kept per hidden layer (the author's Exp 3)
    n_probe: Annotated[int, Field(ge=1)] = 256  # inputs kept per experience to find its directions at removal
    release_ratio: Annotated[float, Field(gt=0)] = 4.0  # removed/retained activation energy that marks a direction
    release_decay: Annotated[float, Field(ge=0, le=1)] = 0.1  # factor on released neurons' incoming weights


def check_isotropic(model) -> None:
    if not getattr(model.backbone, "isotropic", False):
        raise ValueError(
            f"the iso strategies change the topology of an isotropic network; the backbone is a "
            f"{type(model.backbone).__name__}: set backbone.type to iso_mlp"
        )


class TopologyPlugin(SupervisedPlugin):
    def __init__(self, policy: TopologyPolicy = TopologyPolicy()):
        super().__init__()
        self.policy = policy
        self.probes: dict[int, torch.Tensor] = {}  # experience id -> some of its training inputs (CPU)

    def before_training_exp(self, strategy, **kwargs):
        check_isotropic(strategy.model)
        change_topology(strategy, lambda: self._grow_all(strategy.model.backbone))

    def _grow_all(self, net) -> topology.Change:
        change = topology.Change("append")
        for k in range(net.n_hidden):
            change = change + topology.grow(net, k, self.policy.n_scaffold)
        return change

    def after_training_epoch(self, strategy, **kwargs):
        change_topology(strategy, lambda: self._adapt(strategy.model.backbone))

    def _adapt(self, net) -> topology.Change:
        return topology.neuroadapt(net, self.policy.threshold, self.policy.n_scaffold)

    def after_training_exp(self, strategy, **kwargs):
        inputs, _ = random_samples(strategy.experience.dataset, self.policy.n_probe)
        self.probes[strategy.experience.current_experience] = inputs.cpu()

    def forget_experience(self, strategy, removal) -> None:
        """Release the withdrawn experience's directions and prune them (module docstring)."""
        removed = self.probes.pop(removal.experience, None)
        if removed is not None:
            change_topology(strategy, lambda: self._release(strategy.model.backbone, removed))

    def _release(self, net, removed: torch.Tensor) -> topology.Change:
        device = next(net.parameters()).device
        retained = torch.cat(list(self.probes.values())).to(device) if self.probes else None
        policy = self.policy
        released = topology.release(
            net, removed.to(device), retained, ratio=policy.release_ratio, decay=policy.release_decay
        )
        return released + self._adapt(net)
