"""Errors of the idempotency domain; each carries its HTTP status."""

from api.core.errors import AppError, InvalidInput


class InvalidIdempotencyKey(InvalidInput):
    error = "invalid_idempotency_key"


class IdempotencyKeyReused(InvalidInput):
    """The key was first used for another request (another body, path or method)."""

    error = "idempotency_key_reused"


class IdempotencyKeyInFlight(AppError):
    """Never expected: a committed key without its response. Retrying later is safe."""

    status_code = 409
    error = "idempotency_key_in_flight"
