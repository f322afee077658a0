"""Harness plugins every strategy gets: the backbone's penalty in the loss, a guard against divergence, progress
bars, widths per epoch."""

import torch
from avalanche.core import SupervisedPlugin
from tqdm.auto import tqdm


class PenaltyPlugin(SupervisedPlugin):
    """Adds the backbone's regulariser (IsoMLP's psi decay; zero for TanhMLP) to every training loss."""

    def before_backward(self, strategy, **kwargs):
        strategy.loss = strategy.loss + strategy.model.backbone.penalty()


class DivergedError(RuntimeError):
    """The training loss (or a parameter) stopped being finite; the message says where."""


class DivergenceGuard(SupervisedPlugin):
    """Stops a run whose loss is not finite before it steps on it. Runs after the strategy's own plugins, so it
    sees the loss with every penalty added. (A topology change that meets a non-finite parameter stops the run the
    same way: topology.NonFiniteError.)"""

    def before_backward(self, strategy, **kwargs):
        if not torch.isfinite(strategy.loss).all():
            where = f"experience {strategy.experience.current_experience}, epoch {strategy.clock.train_exp_epochs}"
            raise DivergedError(f"the training loss is {float(strategy.loss)} at {where}")


class EpochProgress(SupervisedPlugin):
    """One progress bar per training call, advancing by epoch."""

    def __init__(self, enabled: bool = True):
        super().__init__()
        self.enabled = enabled
        self.bar = None

    def before_training_exp(self, strategy, **kwargs):
        if self.enabled:
            self.bar = tqdm(total=strategy.train_epochs, desc="  epochs", leave=False, unit="ep")

    def after_training_epoch(self, strategy, **kwargs):
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{float(strategy.loss):.3f}")

    def after_training_exp(self, strategy, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class WidthRecorder(SupervisedPlugin):
    """Records the backbone's widths and parameter count after every training epoch (after any topology change
    made in the same hook, as it runs last)."""

    def __init__(self):
        super().__init__()
        self.history: list[dict] = []
        self.epoch = 0

    def before_training_exp(self, strategy, **kwargs):
        self.epoch = 0

    def after_training_epoch(self, strategy, **kwargs):
        net = strategy.model.backbone
        self.history.append(
            {"epoch": self.epoch, "widths": net.sizes, "params": sum(p.numel() for p in net.parameters())}
        )
        self.epoch += 1

    def drain(self) -> list[dict]:
        records, self.history = self.history, []
        return records
