"""The generator's one exception type."""


class GeneratorError(ValueError):
    """The generator cannot produce what was asked (bad arguments, or a contract it does not cover)."""
