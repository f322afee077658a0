"""A backbone seen by Avalanche: logits indexed by class label, masked to the sample's task in task-IL.

The backbone's output units map to class labels through `output_classes`, so outputs can be added (new
classes) or removed (a withdrawn task) without relabelling data. Labels with no output unit, and in the task
setting every class outside the sample's task, get MASK: softmax gives them probability 0.

Avalanche treats the two settings differently by type: plugins such as LwF ask a `MultiTaskModule` for a
{task: logits} dict when they pass no task labels, and a plain module for a tensor. So the class setting uses
`Classifier` (single head) and the task setting `TaskClassifier` (one head per task: the output rows of that
task's classes).
"""

from contextlib import contextmanager

import torch
from avalanche.models import MultiTaskModule
from torch import Tensor, nn

from isocl import topology

MASK = -1e4


class Classifier(nn.Module):
    def __init__(self, backbone: nn.Module, n_classes: int, task_classes: list[list[int]] | None = None):
        """task_classes: the classes of each task (task setting); None for class-incremental single-head."""
        super().__init__()
        self.backbone = backbone
        self.n_classes = n_classes
        self.register_buffer("output_classes", torch.arange(backbone.sizes[-1]))
        allowed = torch.ones(1, n_classes, dtype=torch.bool)
        if task_classes is not None:
            allowed = torch.zeros(len(task_classes), n_classes, dtype=torch.bool)
            for task, classes in enumerate(task_classes):
                allowed[task, classes] = True
        self.register_buffer("task_allowed", allowed)

    def logits(self, x: Tensor, task_labels: Tensor | int | None = None, trace: list | None = None) -> Tensor:
        """(B, n_classes) logits; with task labels in the task setting, masked to each sample's task.
        trace: a list that receives the backbone's per-map `MapTrace`s."""
        out = self.backbone(x) if trace is None else self.backbone(x, trace=trace)
        identity = torch.arange(out.shape[1], device=out.device)
        if out.shape[1] != self.n_classes or not torch.equal(self.output_classes, identity):
            out = out.new_full((out.shape[0], self.n_classes), MASK).index_copy(1, self.output_classes, out)
        if self.task_allowed.shape[0] > 1 and task_labels is not None:
            rows = torch.as_tensor(task_labels, device=out.device).expand(out.shape[0])
            out = out.masked_fill(~self.task_allowed[rows], MASK)
        return out

    def forward(self, x: Tensor, task_labels: Tensor | int | None = None) -> Tensor:
        return self.logits(x, task_labels)

    def add_class_outputs(self, classes: list[int]) -> topology.Change:
        """New zero-initialised output units for `classes`; every existing logit is unchanged."""
        classes = [c for c in classes if c not in set(self.output_classes.tolist())]
        change = topology.add_outputs(self.backbone, len(classes))
        self.output_classes = torch.cat([self.output_classes, self.output_classes.new_tensor(classes)])
        return change

    def remove_class_outputs(self, classes: list[int]) -> topology.Change:
        """Remove the output units of `classes`; the other logits are unchanged."""
        drop = set(classes)
        kept = [i for i, c in enumerate(self.output_classes.tolist()) if c not in drop]
        change = topology.remove_outputs(self.backbone, [i for i in range(len(self.output_classes)) if i not in kept])
        self.output_classes = self.output_classes[kept]
        return change


class TaskClassifier(Classifier, MultiTaskModule):
    """Task-incremental: Avalanche passes task labels; without them it gets {task: logits} per trained task."""

    def __init__(self, backbone: nn.Module, n_classes: int, task_classes: list[list[int]]):
        super().__init__(backbone, n_classes, task_classes)
        self._task_view: int | None = None

    def forward(self, x: Tensor, task_labels: Tensor | int | None = None) -> Tensor | dict:
        if task_labels is None and self._task_view is None:
            return self.forward_all_tasks(x)
        return self.logits(x, self._task_view if task_labels is None else task_labels)

    def forward_single_task(self, x: Tensor, task_label: int) -> Tensor:
        return self.logits(x, task_label)

    @contextmanager
    def single_task(self, task: int):
        """Within this block, a call without task labels answers as task `task` (a tensor, not a dict)."""
        self._task_view = task
        try:
            yield
        finally:
            self._task_view = None


def build_classifier(backbone: nn.Module, n_classes: int, task_classes: list[list[int]] | None) -> Classifier:
    if task_classes is None:
        return Classifier(backbone, n_classes)
    return TaskClassifier(backbone, n_classes, task_classes)
