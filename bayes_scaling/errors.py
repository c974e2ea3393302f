"""Errors the package raises for bad input; the CLI prints them as one line."""


class BayesScalingError(ValueError):
    """Bad input of any kind: the message names the column, row or option at fault."""


class DataError(BayesScalingError):
    """A table breaks the schema or a selection matches nothing usable."""


class SpecError(BayesScalingError):
    """An analysis spec or an option has a wrong key or value."""
