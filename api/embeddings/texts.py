"""The text a stored JSON document (an event's content) is embedded from."""

import json
from collections.abc import Iterator, Sequence
from typing import Any


def text_for_embedding(content: dict[str, Any], fields: Sequence[str]) -> str:
    """The text an event is embedded from.

    The first non-empty string among `fields` (text, body, message, content, title by default);
    else every string value of the content in order; else the content as compact JSON.
    """
    for field in fields:
        value = content.get(field)
        if isinstance(value, str) and value.strip():
            return value
    strings = [value for value in _string_values(content) if value.strip()]
    if strings:
        return "\n".join(strings)
    return json.dumps(content, separators=(",", ":"), sort_keys=True)


def _string_values(value: Any) -> Iterator[str]:
    """Every string value, in document order; iterative, as stored rows may be deep."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
