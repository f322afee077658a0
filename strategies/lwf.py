"""Learning without Forgetting (Li and Hoiem, 2017): distil the previous model's outputs on new data.

`alpha_growth: linear` weighs the distillation by alpha * e while training experience e (0-based), as the loss of
van de Ven and Tolias (2018), (1/t) CE + ((t - 1)/t) T^2 KD, does relative to its cross-entropy: with their
per-class mean over 2 shared outputs and T = 2 that is alpha = 2 in the domain setting. Their code made the LwF
row of Hsu et al. (2018), Table 2 (README "Split MNIST in three settings").

`distill: padded` is their class-incremental distillation: the teacher's probabilities over the classes it was
trained on, padded with zeros for every other output, against the student's softmax over all outputs, so the
distillation also pushes the new classes' probability down on new data. Avalanche's (`previous`) compares both
models over the previous classes only, which leaves the new classes' outputs free.
"""

from typing import Literal

import torch
import torch.nn.functional as F
from avalanche.training import LwF
from avalanche.training.regularization import LearningWithoutForgetting

from isocl.cl.strategy import NonNegative, Positive, register_strategy


class GrowingAlpha(tuple):
    """alpha * e at index e: Avalanche's LwF looks a tuple alpha up by the number of experiences trained so far."""

    def __new__(cls, alpha: float):
        weights = super().__new__(cls)
        weights.alpha = alpha
        return weights

    def __getitem__(self, experience: int) -> float:
        return self.alpha * experience

    def __repr__(self) -> str:
        return f"GrowingAlpha({self.alpha})"


class PaddedTeacherLwF(LearningWithoutForgetting):
    def _distillation_loss(self, out, prev_out, active_units):
        previous = list(active_units)
        teacher = torch.zeros_like(prev_out)  # probability 0 for every class the teacher was not trained on
        teacher[:, previous] = torch.softmax(prev_out[:, previous] / self.temperature, dim=1)
        return F.kl_div(torch.log_softmax(out / self.temperature, dim=1), teacher, reduction="batchmean")


@register_strategy("lwf")
def lwf(
    ctx,
    alpha: NonNegative = 1.0,
    temperature: Positive = 2.0,
    alpha_growth: Literal["constant", "linear"] = "constant",
    distill: Literal["previous", "padded"] = "previous",
):
    weight = GrowingAlpha(alpha) if alpha_growth == "linear" else alpha
    strategy = LwF(**ctx.template_kwargs(), alpha=weight, temperature=temperature)
    if distill == "padded":
        (plugin,) = [p for p in strategy.plugins if hasattr(p, "lwf")]
        plugin.lwf = PaddedTeacherLwF(weight, temperature)
    return strategy
