"""The output head policy, one for every strategy of a scenario (`head: full | incremental`).

full: every class's output unit exists from the start (Avalanche's usual setting).
incremental: output units are added when their experience arrives (task setting: its head); the first
experience cuts the untrained head down to its classes. Adding units is exact: they start with zero weights,
bias and psi, so every earlier logit is unchanged. The change is followed like any topology change.
"""

from avalanche.core import SupervisedPlugin

from isocl.cl.follow import change_topology

HEADS = ("full", "incremental")


class IncrementalHead(SupervisedPlugin):
    def __init__(self):
        super().__init__()
        self.started = False

    def before_training_exp(self, strategy, **kwargs):
        model = strategy.model
        classes = [int(c) for c in strategy.experience.classes_in_this_experience]
        if self.started:
            change_topology(strategy, lambda: model.add_class_outputs(classes))
            return
        others = [c for c in model.output_classes.tolist() if c not in classes]
        change_topology(strategy, lambda: model.remove_class_outputs(others))
        self.started = True
