"""What one process keeps for a while: values by key, each for `ttl_seconds` after it was put.

The per-process memories of the service (which tenants are large, which have their own BM25
index, tenants by name) share it: a read older than the TTL is gone, and at most `max_entries`
are kept, the oldest put dropped first, so no stream of keys grows it without bound.
"""

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Kept(Generic[K, V]):
    def __init__(
        self,
        *,
        ttl_seconds: float = 30.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        """The value put for `key` less than `ttl_seconds` ago, else None."""
        entry = self._entries.get(key)
        if entry is None or self.clock() - entry[0] >= self.ttl_seconds:
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        self._entries.pop(key, None)  # to the end: the newest
        self._entries[key] = (self.clock(), value)
        while len(self._entries) > self.max_entries:
            del self._entries[next(iter(self._entries))]

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
