"""The topology policy: the isotropic layer that `iso-X` adds to any strategy X (paper notes §4, §7.1).

Three rules (`policy`):

- `author` (the paper's Exp 3): at each task appended, `n_scaffold` inert random scaffolds in every hidden layer;
  after every epoch `neuroadapt` with the absolute `threshold` (prune scaffolds beyond `n_scaffold`, replace
  promoted ones).
- `demand`: at each task appended, neurons where the new task's gradient demands them (topology/demand.py): per
  hidden layer, one zero-fan-in neuron per direction of the new task's loss gradient outside the input subspace
  the earlier tasks occupy (`occupied_energy` of their probes' second moment) that carries at least
  `grow_fraction` of the strongest gradient direction (at most `max_grow`), its outgoing column along that
  direction (GradMax); after every epoch `neuroadapt` with a threshold relative to the
  layer's own spectrum (`rank_fraction` of its largest singular value), which does not drift as weight decay
  shrinks every singular value.

`adapt` chooses what makes a neuron a scaffold after an epoch and at a removal: `sigma` (above: the singular
value, absolute under `author`, relative under `demand`) or `energy` (topology/energy.py): its share of the
layer's response energy on the probes of the live experiences and samples of the current one is at most
`energy_share`, so the width follows what the live tasks' inputs use rather than the size of the weights.

- `frozen`: nothing changes. `iso-X` under it is X itself (tested: the same accuracy matrix), which is what makes X
  on the same backbone and head the control that differs from `iso-X` only in topology. The probes are drawn from
  a generator of the plugin's own, so keeping them does not move the run's random stream either.

`author` and `demand` are exact at every growth step (float64 tests), and both release and prune at a removal:
- task removed (`forget_experience`, called by isocl/cl/removal.py once its outputs are gone): `topology.release`
  isolates the directions of every hidden layer that only its inputs excited and decays them, and `neuroadapt`
  at once prunes them as surplus scaffolds (under `demand`, whose threshold is relative, they are dropped
  explicitly: `topology.drop_released`). To tell a task's directions apart the plugin keeps `n_probe` training
  inputs of each experience (probes); they are only ever passed forward, never trained on.

Every change is followed by the optimiser and every other holder of parameter-shaped state (isocl/cl/follow.py).
The output head is not the policy's business: the scenario's `head` applies to every strategy alike.
"""

from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from avalanche.core import SupervisedPlugin
from pydantic import Field

from isocl import topology
from isocl.cl.ewc import fisher_factors
from isocl.cl.follow import change_topology
from isocl.cl.samples import random_samples
from isocl.topology.release import hidden_activations


@dataclass(frozen=True)
class TopologyPolicy:
    """Every setting of the topology layer, with its defaults in this one place (settable per strategy)."""

    # growth and adaptation rule (module docstring); demand by evidence: README "Growth policies compared"
    policy: Literal["author", "demand", "frozen"] = "demand"
    threshold: Annotated[float, Field(ge=0)] = 0.95  # singular value at or below which a neuron is a scaffold
    n_scaffold: Annotated[int, Field(ge=0)] = 5  # scaffolds kept per hidden layer (the author's Exp 3)
    n_probe: Annotated[int, Field(ge=1)] = 256  # inputs kept per experience to find its directions at removal
    release_ratio: Annotated[float, Field(gt=0)] = 4.0  # removed/retained activation energy that marks a direction
    release_decay: Annotated[float, Field(ge=0, le=1)] = 0.1  # factor on released neurons' incoming weights
    rank_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.05  # demand: scaffold if sigma <= this * largest sigma
    grow_fraction: Annotated[float, Field(gt=0, le=1)] = 0.2  # demand: a direction this strong gets a neuron
    max_grow: Annotated[int, Field(ge=0)] = 64  # demand: at most this many new neurons per layer and append
    occupied_energy: Annotated[float, Field(gt=0, le=1)] = 0.99  # demand: earlier tasks' input share kept off
    adapt: Literal["sigma", "energy"] = "sigma"  # what makes a neuron a scaffold (module docstring)
    energy_share: Annotated[float, Field(ge=0, lt=1)] = 1e-4  # energy: scaffold if its response share <= this


def demand_directions(net, factors: list, earlier_x: torch.Tensor | None, policy: TopologyPolicy) -> list:
    """Per hidden layer k, the outgoing columns of the neurons a new task's gradient asks for (GradMax): `factors`
    are its per-map (delta, input, gain) at some of its samples (isocl.cl.ewc.fisher_factors), `earlier_x` some
    inputs of the earlier tasks (their occupied subspace is not demand), or None."""
    earlier = [earlier_x.flatten(1), *hidden_activations(net, earlier_x)[:-1]] if earlier_x is not None else None
    directions = []
    for k in range(net.n_hidden):
        occupied = topology.occupied_basis(earlier[k], policy.occupied_energy) if earlier else None
        U, t, top = topology.unread_gradient(factors[k][1], factors[k + 1][2], factors[k + 1][0], occupied)
        directions.append(U[:, : topology.demand_count(t, top, policy.grow_fraction, policy.max_grow)])
    return directions


def grow_by_demand(net, directions: list[torch.Tensor]) -> topology.Change:
    change = topology.Change("append")
    for k, columns in enumerate(directions):  # shallow first: layer k's directions live in layer k+1 as it is
        change = change + topology.grow_towards(net, k, columns)
    return change


def adapt(net, policy: TopologyPolicy, served: torch.Tensor | None = None) -> topology.Change:
    """After an epoch: `neuroadapt` with the policy's threshold (relative to the spectrum under `demand`), or with
    energy scaffolds measured on `served`, the inputs the network must serve (none: nothing changes)."""
    if policy.adapt == "energy":
        if served is None or not len(served):
            return topology.Change("neuroadapt_energy")
        return topology.neuroadapt_energy(net, served, policy.energy_share, policy.n_scaffold)
    if policy.policy == "demand":
        return topology.neuroadapt(net, policy.rank_fraction, policy.n_scaffold, relative=True)
    return topology.neuroadapt(net, policy.threshold, policy.n_scaffold)


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

    @property
    def frozen(self) -> bool:
        return self.policy.policy == "frozen"

    def before_training_exp(self, strategy, **kwargs):
        check_isotropic(strategy.model)
        if self.frozen:
            return
        if self.policy.policy == "demand":
            directions = self._demand(strategy)
            change_topology(strategy, lambda: self._grow_towards(strategy.model.backbone, directions))
        else:
            change_topology(strategy, lambda: self._grow_all(strategy.model.backbone))

    def _grow_all(self, net) -> topology.Change:
        change = topology.Change("append")
        for k in range(net.n_hidden):
            change = change + topology.grow(net, k, self.policy.n_scaffold)
        return change

    def _demand(self, strategy) -> list[torch.Tensor]:
        """Per hidden layer, the outgoing directions of the neurons the new experience's gradient asks for."""
        x, y = self._samples(strategy)
        model, net = strategy.model, strategy.model.backbone
        device = next(net.parameters()).device
        factors = fisher_factors(model, x.to(device), y.to(device), strategy.experience.task_label).maps
        earlier = torch.cat(list(self.probes.values())).to(device) if self.probes else None
        return demand_directions(net, factors, earlier, self.policy)

    def _grow_towards(self, net, directions: list[torch.Tensor]) -> topology.Change:
        return grow_by_demand(net, directions)

    def after_training_epoch(self, strategy, **kwargs):
        if self.frozen:
            return
        served = self._served(strategy) if self.policy.adapt == "energy" else None
        change_topology(strategy, lambda: self._adapt(strategy.model.backbone, served))

    def _served(self, strategy, current: bool = True) -> torch.Tensor | None:
        """The inputs the network must serve: the live experiences' probes and, while one trains, its samples."""
        inputs = list(self.probes.values()) + ([self._samples(strategy)[0]] if current else [])
        return torch.cat(inputs).to(next(strategy.model.backbone.parameters()).device) if inputs else None

    def _adapt(self, net, served: torch.Tensor | None = None) -> topology.Change:
        return adapt(net, self.policy, served)

    def after_training_exp(self, strategy, **kwargs):
        inputs, _ = self._samples(strategy, after=True)
        self.probes[strategy.experience.current_experience] = inputs.cpu()

    def _samples(self, strategy, after: bool = False):
        """n_probe samples of the current experience, from a generator seeded by the run's seed and the experience:
        the global random stream (which shuffles the training data) is left alone."""
        seed = torch.initial_seed() * 1000 + 2 * strategy.experience.current_experience + after
        generator = torch.Generator().manual_seed(seed % 2**63)
        return random_samples(strategy.experience.dataset, self.policy.n_probe, generator)

    def forget_experience(self, strategy, removal) -> None:
        """Release the withdrawn experience's directions and prune them (module docstring)."""
        removed = self.probes.pop(removal.experience, None)
        if removed is not None and not self.frozen:
            served = self._served(strategy, current=False) if self.policy.adapt == "energy" else None
            change_topology(strategy, lambda: self._release(strategy.model.backbone, removed, served))

    def _release(self, net, removed: torch.Tensor, served: torch.Tensor | None = None) -> topology.Change:
        device = next(net.parameters()).device
        retained = torch.cat(list(self.probes.values())).to(device) if self.probes else None
        policy = self.policy
        released = topology.release(
            net, removed.to(device), retained, ratio=policy.release_ratio, decay=policy.release_decay
        )
        if policy.policy == "demand" or policy.adapt == "energy":  # neither threshold need catch decayed neurons
            released = released + topology.drop_released(net, released.info["released"])
        return released + self._adapt(net, served)
