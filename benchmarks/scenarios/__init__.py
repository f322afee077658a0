"""The shipped scenario files, installed as the package `isocl.scenarios` (`isocl list` shows them)."""
