"""Domain errors. Each carries what failed; the server maps them to HTTP statuses in one place."""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the bot raises on purpose."""

    http_status = 500
    code = "internal_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_wire(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message, **({"details": self.details} if self.details else {})}


class BadRequest(BotError):
    http_status = 400
    code = "bad_request"


class RequestTimeout(BadRequest):
    http_status = 408
    code = "request_timeout"


class MessageTooLarge(BadRequest):
    http_status = 413
    code = "message_too_large"


class UnsupportedMediaType(BadRequest):
    http_status = 415
    code = "unsupported_media_type"


class NotFound(BotError):
    http_status = 404
    code = "not_found"


class TooManyRequests(BotError):
    """One sender is writing faster than the configured rate; others are unaffected."""

    http_status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, retry_after_seconds=round(retry_after, 1))
        self.retry_after = retry_after


class Unauthorized(BotError):
    http_status = 401
    code = "unauthorized"


class Forbidden(BotError):
    """Credentials were given but are wrong or stale (a bad webhook signature, a replayed request)."""

    http_status = 403
    code = "forbidden"


class ConfigurationError(BotError):
    """Settings or files the bot needs at start-up are missing or wrong."""

    code = "configuration_error"


class ModelLoadError(ConfigurationError):
    code = "model_load_error"


class IndexNotFound(ConfigurationError):
    code = "index_not_found"


class DocumentError(BotError):
    """A source document could not be read; ingestion reports it and skips the file."""

    http_status = 422
    code = "document_error"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}", path=path, reason=reason)
        self.path = path
        self.reason = reason


class StorageError(BotError):
    """The conversation store or the index could not be written (a full disk, say)."""

    http_status = 503
    code = "storage_unavailable"


class AnswerTimeout(BotError):
    """A stage did not finish before the reply's deadline; the customer is told honestly."""

    http_status = 504
    code = "answer_timeout"
