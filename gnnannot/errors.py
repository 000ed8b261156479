"""Exception types. Every user-facing failure raises a subclass of :class:`GnnAnnotError`
with a message that names the file/key and the expected vs found value."""


class GnnAnnotError(Exception):
    """Base class of all errors gnnannot reports to users (the CLI prints them without a
    traceback and exits with status 2)."""


class DataError(GnnAnnotError):
    """Input data (dataset folder, annotation, scribble, flow file, cache) is missing or
    malformed."""


class ConfigError(GnnAnnotError):
    """A parameter has an invalid value."""


class DownloadError(GnnAnnotError):
    """A download failed or its checksum did not match."""
