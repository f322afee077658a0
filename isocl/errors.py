"""Errors a user can fix: every message names the field (or file) and what is allowed. A leaf module."""


class ConfigError(ValueError):
    """An invalid scenario, flag or strategy parameter; the message names the field, the value and what is allowed."""
