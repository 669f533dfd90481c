"""The exceptions the product raises on purpose; the CLI and UI turn them into messages."""


class PolicyQAError(Exception):
    """Base class: the message is written for the person using the product."""


class ConfigError(PolicyQAError):
    """A setting has a value we cannot use."""


class IndexMissingError(PolicyQAError):
    """No index exists where one was expected."""


class IndexMismatchError(PolicyQAError):
    """The index on disk was built with another model, chunker or format version."""


class StoreUnavailableError(PolicyQAError):
    """The store holding the index cannot be reached or used (a Milvus server that is down)."""


class IndexLockedError(PolicyQAError):
    """Another process is building the index right now."""


class EmptyCorpusError(PolicyQAError):
    """The corpus folder holds no readable document."""


class DocumentError(PolicyQAError):
    """A document cannot be read (binary, undecodable, unsupported type)."""


class QuestionError(PolicyQAError):
    """A question cannot be answered as given (empty, too long, unreadable)."""
