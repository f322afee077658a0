"""DER++ (Buzzega et al., 2020): replay stored logits (alpha) and labels (beta) from a class-balanced memory."""

from contextlib import nullcontext

from avalanche.training import DER

from isocl.cl.strategy import Count, NonNegative, register_strategy


class TaskAwareDER(DER):
    """Avalanche's DER stores logits by calling the model without task labels; in the task setting the model
    then answers for the experience's own task."""

    def _after_training_exp(self, **kwargs):
        view = getattr(self.model, "single_task", None)
        with view(self.experience.task_label) if view else nullcontext():
            super()._after_training_exp(**kwargs)


@register_strategy("der", state=("storage_policy",))
def der(ctx, mem_size: Count = 500, alpha: NonNegative = 0.1, beta: NonNegative = 0.5):
    return TaskAwareDER(**ctx.template_kwargs(), mem_size=mem_size, alpha=alpha, beta=beta)
