"""Avalanche adapters: the classifier wrapper and the plugins the harness adds to every strategy."""

from isocl.cl.classifier import MASK, Classifier, TaskClassifier, build_classifier
from isocl.cl.plugins import EpochProgress, PenaltyPlugin

__all__ = ["MASK", "Classifier", "EpochProgress", "PenaltyPlugin", "TaskClassifier", "build_classifier"]
