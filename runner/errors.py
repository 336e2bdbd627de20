"""The runner's exceptions: everything it raises on purpose is a RunnerError."""

from __future__ import annotations


class RunnerError(Exception):
    """Base of the runner's own errors."""


class ConfigError(RunnerError):
    """A setting is invalid; the message names the option (or variable), the value and the fix. Exit 2."""
