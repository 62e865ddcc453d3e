"""Which errors are worth retrying, and the one retry policy every status call uses."""

from __future__ import annotations

from typing import Any

import tenacity

# Snowflake connector error numbers for an expired or invalid session token: reconnecting fixes them.
SESSION_EXPIRED_ERRNOS = frozenset({390111, 390112, 390114})
# Connector errors raised for network failures, timeouts, 429 and 5xx replies.
_TRANSIENT_ERRNOS = frozenset({250001, 250003, 250005, 251005, 251006, 251011, 251012, 253001, 253005})
_TRANSIENT_HTTP = frozenset({429, 500, 502, 503, 504})
_TRANSIENT_WORDS = ("could not set lock", "conflicting lock", "connection reset", "temporarily unavailable")


def _error_number(exc: BaseException) -> int | None:
    """The Snowflake error number: ``errno`` on connector errors, ``sql_error_code`` on Snowpark ones."""
    number = getattr(exc, "errno", None) or getattr(exc, "sql_error_code", None)
    return number if isinstance(number, int) else None


def is_session_expired(exc: BaseException) -> bool:
    return _error_number(exc) in SESSION_EXPIRED_ERRNOS


def is_transient(exc: BaseException) -> bool:
    """Network trouble, throttling, server errors, expired sessions and busy local databases.

    Classified by attributes and names rather than by importing the connector, which is slow to import.
    """
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    errno = _error_number(exc)
    if errno in _TRANSIENT_ERRNOS or errno in SESSION_EXPIRED_ERRNOS:
        return True
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    if status in _TRANSIENT_HTTP:
        return True
    message = str(exc).lower()
    return any(word in message for word in _TRANSIENT_WORDS)


def retry_policy(attempts: int = 5, max_wait: float = 30.0, **kwargs: Any) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying``/``AsyncRetrying``: transient errors only, backoff."""
    return {
        "retry": tenacity.retry_if_exception(is_transient),
        "stop": tenacity.stop_after_attempt(attempts),
        "wait": tenacity.wait_exponential(multiplier=1, min=1, max=max_wait),
        "reraise": True,
        **kwargs,
    }
