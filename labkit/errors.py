"""The one exception type labkit raises for bad input."""


class LabkitError(ValueError):
    """A readable error about bad input: raised early, before any heavy work."""
