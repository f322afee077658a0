"""Avalanche adapters: the classifier wrapper and the plugins the harness adds to every strategy."""

from isocl.cl.classifier import MASK, Classifier, TaskClassifier, build_classifier
from isocl.cl.neuro import NeuroPlugin
from isocl.cl.plugins import EpochProgress, PenaltyPlugin, WidthRecorder

__all__ = [
    "MASK",
    "Classifier",
    "EpochProgress",
    "NeuroPlugin",
    "PenaltyPlugin",
    "TaskClassifier",
    "WidthRecorder",
    "build_classifier",
]
