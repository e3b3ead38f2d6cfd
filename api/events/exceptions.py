"""Errors of the events domain; each carries its HTTP status."""

from api.errors import InvalidInput, NotFound


class EventNotFound(NotFound):
    error = "event_not_found"

    def __init__(self, event_id: object) -> None:
        super().__init__(f"No event with id {event_id}.")


class InvalidEmbedding(InvalidInput):
    error = "invalid_embedding"
