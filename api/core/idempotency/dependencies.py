"""The Idempotency-Key request header, validated and fingerprinted with its request."""

from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response

from api.core.idempotency.service import IdempotencyKey, Outcome, parse_key

REPLAYED_HEADER = "Idempotent-Replayed"


async def idempotency_key(
    request: Request,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes retries safe: a repeat of the request with this key returns the "
            "first response instead of writing again (kept 24 h; at most 200 printable chars).",
        ),
    ] = None,
) -> IdempotencyKey | None:
    if key is None:
        return None
    # FastAPI has already read the body to parse it; this returns the cached bytes.
    body = await request.body()
    return parse_key(key, method=request.method, path=request.url.path, body=body)


IdempotencyKeyDep = Annotated[IdempotencyKey | None, Depends(idempotency_key)]


def mark_replay(response: Response, outcome: Outcome[Any]) -> None:
    """Give the response the status the write stored, and say whether it is a replay."""
    response.status_code = outcome.status_code
    if outcome.replayed:
        response.headers[REPLAYED_HEADER] = "true"
