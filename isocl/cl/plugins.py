"""Harness plugins every strategy gets: the backbone's penalty in the loss, and progress bars."""

from avalanche.core import SupervisedPlugin
from tqdm.auto import tqdm


class PenaltyPlugin(SupervisedPlugin):
    """Adds the backbone's regulariser (IsoMLP's psi decay; zero for TanhMLP) to every training loss."""

    def before_backward(self, strategy, **kwargs):
        strategy.loss = strategy.loss + strategy.model.backbone.penalty()


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

    def __getstate__(self):  # a checkpoint never holds a terminal handle
        return {**self.__dict__, "bar": None}
