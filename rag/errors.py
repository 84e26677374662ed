"""Domain errors. Library code raises these; the CLIs and the app turn them into messages once."""


class RagError(Exception):
    """Base class: the message is written for the person running the product."""


class ConfigError(RagError):
    """A setting has a bad value; the message names the setting and the fix."""


class ModelNotFoundError(RagError):
    """A configured model is missing or damaged."""


class IndexNotFoundError(RagError):
    """There is no index at the given directory."""


class IndexMismatchError(RagError):
    """The index was built with another embedder or chunker than the one in use."""


class IndexLockedError(RagError):
    """Another process is writing to the index."""


class AccessDeniedError(RagError):
    """The caller may read this but not change it (or may not manage users and
    collections); the message says which role would be needed."""
