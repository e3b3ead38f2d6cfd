"""Errors of the events domain; each carries its HTTP status."""

from api.core.errors import AppError, NotFound, PayloadTooLarge


class EventNotFound(NotFound):
    error = "event_not_found"

    def __init__(self, event_id: object) -> None:
        super().__init__(f"No event with id {event_id}.")


class UnrenderableEvent(AppError):
    """A stored event breaks the limits every writer enforces (api/core/json_limits.py): written by
    SQL or an older version. Lists and searches leave it out; reading it by id says why."""

    status_code = 409
    error = "event_unrenderable"

    def __init__(self, event_id: object, reason: str) -> None:
        super().__init__(
            f"Event {event_id} is stored in a form this service cannot return ({reason}). "
            f"Delete it (DELETE /v1/events/{event_id}) or repair it in SQL."
        )
        self.event_id = event_id
        self.reason = reason


class TextTooLargeToIndex(PayloadTooLarge):
    """PostgreSQL's full-text vector (tsvector) of one event holds at most 1 MiB of words and
    positions; the body limit lets through more text than that."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            "The text of an event is too large for the full-text index "
            f"({reason}); split it into several events."
        )
