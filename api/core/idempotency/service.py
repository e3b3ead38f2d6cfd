"""Run a write once per Idempotency-Key: a retry of the same request replays the stored result.

The key is claimed, the write made and its response stored in one transaction, so either all
three happen or none does. A second request with the key waits on the first one's row (the
primary key) and then replays what it stored; a failed request stores nothing and may be
retried with the same key. Slow preparation (embedding) runs before the transaction.
"""

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

import asyncpg
from pydantic import BaseModel

from api.core.idempotency import repository
from api.core.idempotency.exceptions import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)

# How long a key is remembered; a retry after that writes again. (Candidate setting.)
TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 200
# Expired keys deleted per claimed key: the purge keeps pace with the writes without a job.
PURGE_BATCH = 100
_PRINTABLE = re.compile(r"[\x20-\x7e]+")

Result = TypeVar("Result", bound=BaseModel)


@dataclass(frozen=True)
class IdempotencyKey:
    key: str
    request_hash: str


@dataclass(frozen=True)
class Outcome(Generic[Result]):
    result: Result
    status_code: int
    replayed: bool


def parse_key(raw: str, *, method: str, path: str, body: bytes) -> IdempotencyKey:
    """The header's key with the fingerprint of its request, or InvalidIdempotencyKey."""
    if not raw.strip() or len(raw) > MAX_KEY_LENGTH or not _PRINTABLE.fullmatch(raw):
        raise InvalidIdempotencyKey(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."
        )
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: parts cannot run together
        digest.update(part)
    return IdempotencyKey(key=raw, request_hash=digest.hexdigest())


def _replay(
    stored: repository.StoredKey, key: IdempotencyKey, response_model: type[Result]
) -> Outcome[Result]:
    if stored.request_hash != key.request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for a different request (method, path or body); "
            "use a new key for a new request."
        )
    if stored.status_code is None or stored.response_body is None:
        raise IdempotencyKeyInFlight("A request with this Idempotency-Key is still running.")
    result = response_model.model_validate_json(stored.response_body)
    return Outcome(result=result, status_code=stored.status_code, replayed=True)


async def stored_outcome(
    conn: asyncpg.Connection,
    key: IdempotencyKey,
    response_model: type[Result],
    *,
    ttl: timedelta = TTL,
) -> Outcome[Result] | None:
    """The response stored for `key` (a retry), or None when the key is new."""
    stored = await repository.find(conn, key.key, ttl=ttl)
    return None if stored is None else _replay(stored, key, response_model)


async def write_once(
    conn: asyncpg.Connection,
    key: IdempotencyKey | None,
    *,
    response_model: type[Result],
    status_code: int,
    write: Callable[[], Awaitable[Result]],
    ttl: timedelta = TTL,
) -> Outcome[Result]:
    """`write()` in a transaction, once per key: the key is claimed and the response stored in
    the same transaction. Look the key up first (`stored_outcome`), before any slow work: a
    request that lost the race to a concurrent one with the same key replays its response.
    """
    async with conn.transaction():
        if key is None:
            return Outcome(result=await write(), status_code=status_code, replayed=False)
        if not await repository.claim(conn, key.key, request_hash=key.request_hash, ttl=ttl):
            # A concurrent request with this key committed first: what we prepared is dropped.
            stored = await repository.find(conn, key.key, ttl=ttl)
            if stored is None:
                raise IdempotencyKeyInFlight("A request with this Idempotency-Key is running.")
            return _replay(stored, key, response_model)
        result = await write()
        await repository.record(
            conn, key.key, status_code=status_code, response_body=result.model_dump_json()
        )
        await repository.purge(conn, ttl=ttl, limit=PURGE_BATCH)
    return Outcome(result=result, status_code=status_code, replayed=False)
