"""Data sets as cached tensors, and class- or task-incremental streams built from them."""

from isocl.data.sources import DATASETS, DatasetNotFoundError, TensorData, load_dataset
from isocl.data.streams import SETTINGS, Experience, Stream, build_stream, check_split

__all__ = [
    "DATASETS",
    "SETTINGS",
    "DatasetNotFoundError",
    "Experience",
    "Stream",
    "TensorData",
    "build_stream",
    "check_split",
    "load_dataset",
]
