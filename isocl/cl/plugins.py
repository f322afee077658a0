"""Harness plugins every strategy gets: the backbone's penalty in the loss, progress bars, widths per epoch."""

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
