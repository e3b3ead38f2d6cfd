"""What an event's JSON may hold: one set of limits, checked by every writer and every reader.

Content and metadata are stored as jsonb and later served by pydantic (REST, MCP), Jinja (the
web UI) and the JSON Lines export. Each of those has its own ceiling on nesting: pydantic's
serializer fails past about 255 levels, its JSON parser (the import, idempotent replays) past
200, Python's `json` past about 1,000, and every read wraps a value in a few more levels (page,
list, event). A value stored beyond any of them turns every later read that meets the row into
a 500. So writers refuse, at the door, anything deeper than MAX_JSON_DEPTH, far below every
ceiling, and readers leave out (with a warning) a stored row that breaks the same limit, which
only SQL or an older version can have written.

Depth counts objects and arrays: `{}` and `{"a": 1}` are 1 level deep, `{"a": [1]}` is 2.
Every walk is iterative, so input nested 100,000 levels deep costs a loop, not a RecursionError.
"""

import json
import math
import re
from typing import Any

MAX_JSON_DEPTH = 64
# Values (objects, arrays, strings, numbers, booleans, nulls) in one content or one metadata
# object. A 10 MiB body can hold a million tiny values; validating and indexing them (GIN on
# metadata) took seconds of CPU for one request. Real events hold far fewer.
MAX_JSON_VALUES = 100_000

# A tuple, not `dict | list`: isinstance is faster with it, and these walks visit every value.
CONTAINERS = (dict, list)
# A surrogate half on its own is not a character: UTF-8 and jsonb cannot hold it.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonLimitError(ValueError):
    """The value breaks one of the limits above; the message says which."""


def too_deep_message() -> str:
    return f"nested deeper than {MAX_JSON_DEPTH} levels of objects and arrays (MAX_JSON_DEPTH)"


def check_storable(value: Any) -> Any:
    """`value` unchanged, or JsonLimitError: nested deeper than MAX_JSON_DEPTH, more than
    MAX_JSON_VALUES values, a non-finite number (NaN, Infinity; 1e400 parses as Infinity), or a
    lone UTF-16 surrogate such as "\\ud800" in a key or a string (jsonb holds none of them)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 1
    while stack:
        item, depth = stack.pop()
        if isinstance(item, CONTAINERS):
            if depth >= MAX_JSON_DEPTH:
                raise JsonLimitError(too_deep_message())
            # Counted before they are pushed: a million keys are refused without a walk.
            seen += len(item)
            if seen > MAX_JSON_VALUES:
                raise JsonLimitError(
                    f"more than {MAX_JSON_VALUES} values in one object (MAX_JSON_VALUES)"
                )
            if isinstance(item, dict):
                for key in item:
                    _check_string(key)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, float) and not math.isfinite(item):
            raise JsonLimitError(
                "numbers must be finite (JSON has no NaN or Infinity; 1e400 is one)"
            )
        elif isinstance(item, str):
            _check_string(item)
    return value


def _check_string(text: object) -> None:
    if isinstance(text, str) and LONE_SURROGATE.search(text):
        raise JsonLimitError("strings must not contain a lone UTF-16 surrogate such as \\ud800")


def json_depth(value: Any, *, stop_above: int | None = None) -> int:
    """Levels of objects and arrays in `value` (a scalar is 0 deep), counted level by level
    (about as fast as parsing the JSON again); past `stop_above` it stops counting."""
    depth = 0
    level = [value] if isinstance(value, CONTAINERS) else []
    while level:
        depth += 1
        if stop_above is not None and depth > stop_above:
            break
        below: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            below.extend([child for child in children if isinstance(child, CONTAINERS)])
        level = below
    return depth


def load_stored(text: str) -> Any:
    """A stored jsonb value (its text) as Python, or JsonLimitError saying why it cannot be
    served: nested deeper than MAX_JSON_DEPTH, or a number Python will not read (an integer
    of more than 4,300 digits)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonLimitError(too_deep_message()) from None
    except ValueError as exc:
        raise JsonLimitError(f"not readable as JSON ({exc})") from None
    # Fewer brackets than the limit (brackets in strings included) cannot nest deeper: most
    # rows are served without a walk.
    brackets = text.count("{") + text.count("[")
    if brackets > MAX_JSON_DEPTH and json_depth(value, stop_above=MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise JsonLimitError(too_deep_message())
    return value
