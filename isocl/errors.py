"""Errors a user can fix: every message names the field (or file) and what is allowed. A leaf module."""


class ConfigError(ValueError):
    """An invalid scenario, flag or strategy parameter; the message names the field, the value and what is allowed."""


class RunFolderError(RuntimeError):
    """A file in a run folder cannot be used (torn, corrupt or foreign); the message names it and how to discard it."""
