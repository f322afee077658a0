"""Avalanche adapters: the classifier, the harness plugins, the head and topology policies, state that follows a
topology change, task removal, and the strategy contract."""

from isocl.cl.classifier import MASK, Classifier, TaskClassifier, build_classifier
from isocl.cl.follow import FollowsChanges, change_topology, follow_change
from isocl.cl.head import HEADS, IncrementalHead
from isocl.cl.plugins import DivergedError, DivergenceGuard, EpochProgress, PenaltyPlugin, WidthRecorder
from isocl.cl.policy import TopologyPlugin, TopologyPolicy

__all__ = [
    "HEADS",
    "MASK",
    "Classifier",
    "DivergedError",
    "DivergenceGuard",
    "EpochProgress",
    "FollowsChanges",
    "IncrementalHead",
    "PenaltyPlugin",
    "TaskClassifier",
    "TopologyPlugin",
    "TopologyPolicy",
    "WidthRecorder",
    "build_classifier",
    "change_topology",
    "follow_change",
]
