"""Whole runs of the entry points (experiments/*.py), as functions of their settings.

An entry point parses its flags into these settings and makes one call; the logic (seed
loop, resumption, evaluation, summaries, plots, results.json) lives here, importable and
testable without absl flags."""


class UsageError(ValueError):
    """Settings that cannot be run as given (the entry point reports it as a usage error)."""


class RunError(RuntimeError):
    """A run that cannot go on: missing data, an unusable checkpoint (reported as ``error: ...``)."""
