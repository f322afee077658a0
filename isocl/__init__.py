"""isocl: continual-learning benchmarks on isotropic networks that grow and shrink."""

__version__ = "0.1.0"
