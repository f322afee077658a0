"""Data sets as cached tensors, and class-, task- or domain-incremental streams built from them."""

from isocl.data import mnist  # noqa: F401  (registers mnist and fashion_mnist)
from isocl.data.domain import DOMAIN_KINDS, domain_options
from isocl.data.sources import DATASETS, DataFileError, DatasetNotFoundError, TensorData, load_dataset
from isocl.data.streams import NORMALISATIONS, SETTINGS, Experience, Stream, build_stream, check_split

__all__ = [
    "DATASETS",
    "DOMAIN_KINDS",
    "NORMALISATIONS",
    "SETTINGS",
    "DataFileError",
    "DatasetNotFoundError",
    "Experience",
    "Stream",
    "TensorData",
    "build_stream",
    "check_split",
    "domain_options",
    "load_dataset",
]
