"""The exceptions the tool raises for input it can't use: ``DataError`` and its kinds
(``BundleError`` for model bundles, ``MissingColumnsError`` for a log's headers). Catching
``DataError`` catches them all.

Messages are written for the analyst, not the developer: what was expected, what was
found, and what to do. The CLI prints ``str(error)`` as its one-line message and the
dashboard shows it as-is, so messages never contain tracebacks or repr() noise.
"""


class DataError(ValueError):
    """Input the tool cannot use: a malformed log, bad options, too little data."""


class BundleError(DataError):
    """A model bundle that is missing, incomplete, tampered with or of an unknown format."""


class MissingColumnsError(DataError):
    """Fields not found among the file's headers; ``missing`` and ``headers`` say which."""

    def __init__(self, message: str, *, missing: list[str], headers: list[str]):
        super().__init__(message)
        self.missing = missing
        self.headers = headers
