"""The one exception type the tool raises for bad input, and its bundle variant.

Messages are written for the analyst, not the developer: what was expected, what was
found, and what to do. The CLI prints ``str(error)`` as its one-line message and the
dashboard shows it as-is, so messages never contain tracebacks or repr() noise.
"""


class DataError(ValueError):
    """Input the tool cannot use: a malformed log, bad options, too little data."""


class BundleError(DataError):
    """A model bundle that is missing, incomplete, tampered with or of an unknown format."""
