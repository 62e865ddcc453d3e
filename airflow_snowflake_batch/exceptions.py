"""Errors raised by the provider.

Every message names the object that was wrong, what was expected, and where it came from,
so a DAG author can fix the task without reading this package's source.
"""

from __future__ import annotations


class SnowflakeBatchInferenceError(Exception):
    """Base class of every error this provider raises."""


class InvalidArgumentError(SnowflakeBatchInferenceError, ValueError):
    """An operator argument (a duration, a count, a prefix...) is not a value the provider can use."""


class InvalidIdentifierError(SnowflakeBatchInferenceError, ValueError):
    """A name or stage location is not a valid Snowflake identifier or location."""


class ModelNotFoundError(SnowflakeBatchInferenceError):
    """The model, version or alias does not exist in the registry."""


class FunctionResolutionError(SnowflakeBatchInferenceError):
    """The requested model function is unknown, or none was given and the model has several."""


class InputValidationError(SnowflakeBatchInferenceError):
    """The input table or query does not match the function's signature."""


class StageValidationError(SnowflakeBatchInferenceError):
    """A stage or stage location cannot be used as asked (missing, external, not empty, nested...)."""


class BatchJobError(SnowflakeBatchInferenceError):
    """A batch inference job failed, was cancelled, timed out, or could not be controlled."""


class ResultsNotReadyError(SnowflakeBatchInferenceError):
    """A job's output folder has no ``_SUCCESS`` marker, so its results are incomplete."""


class MissingExtraError(SnowflakeBatchInferenceError, ImportError):
    """An optional feature's dependencies are not installed; the message names the extra to install."""


class WorkspacePathError(SnowflakeBatchInferenceError):
    """A local workspace path would lead outside the workspace (a symlink, or a name made of dots)."""
