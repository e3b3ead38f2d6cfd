"""UI sessions (issue 11, class 5): crafted cookies are no session, sign-out revokes every copy,
and the cookie is Secure when a trusted proxy says the browser came over HTTPS."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr

from api.core.config import Settings
from api.core.metrics import create_metrics
from api.core.security import SESSION_COOKIE
from api.embeddings.factory import Embedders
from api.main import create_app

KEY = "sessions-key-0123456789abcdef"
HTML = {"Accept": "text/html,application/xhtml+xml"}
CRAFTED = [
    "²²²².abc",
    "١٢٣.x",
    "１２３." + "a" * 64,
    "²" * 12 + "." + "a" * 64,
    "nodot",
    "1800000000." + "z" * 64,
    "1800000000." + "A" * 64,
    "9" * 12 + "." + "a" * 64,
    "x" * 6000,
]
Started = Callable[..., Any]


@pytest.fixture
def started(settings: Settings, embedders: Embedders, database_url: str) -> Started:
    """`async with started(client_address, **settings) as (app, new_client)`."""

    @asynccontextmanager
    async def start(
        client: tuple[str, int] = ("127.0.0.1", 50000), **update: Any
    ) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
        update.setdefault("api_key", SecretStr(KEY))
        changed = settings.model_copy(update={"index_worker_in_process": False, **update})
        app = create_app(
            changed, embedders=embedders, database_url=database_url, metrics=create_metrics()
        )
        async with LifespanManager(app) as manager:
            application: FastAPI = manager.app  # type: ignore[assignment]
            transport = httpx.ASGITransport(app=application, client=client)

            def new_client() -> httpx.AsyncClient:
                return httpx.AsyncClient(transport=transport, base_url="http://test")

            yield new_client

    return start


async def sign_in(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    response = await client.post("/ui/login", data={"api_key": KEY}, headers=headers)
    assert response.status_code == 303, response.text
    return response


async def epoch(conn: asyncpg.Connection) -> int:
    # The row is gone after the tests' truncation, which means epoch 0, as on a fresh database.
    return int(await conn.fetchval("SELECT coalesce(max(epoch), 0) FROM ui_session_epoch"))


@pytest.mark.parametrize("cookie", CRAFTED)
async def test_a_crafted_cookie_is_no_session(started: Started, cookie: str) -> None:
    # As raw bytes (UTF-8, as a browser sends them): httpx's cookie jar takes ASCII only.
    raw = {"Cookie": f"{SESSION_COOKIE}={cookie}".encode()}
    async with started() as new_client, new_client() as client:
        api = await client.get("/v1/events", headers=raw)
        assert api.status_code == 401, api.text
        assert api.json() == {"error": "unauthorized", "detail": "The API key is not valid."}
        page = await client.get("/ui/events", headers={**HTML, **raw})
        assert page.status_code == 303
        assert page.headers["location"].startswith("/ui/login")
        # Sign-out with it clears it and ends no one's session.
        assert (await client.post("/ui/logout", headers=raw)).status_code == 303


async def test_sign_out_revokes_every_copy_of_every_session(
    started: Started, conn: asyncpg.Connection
) -> None:
    async with (
        started() as new_client,
        new_client() as laptop,
        new_client() as phone,
        new_client() as thief,
    ):
        await sign_in(laptop)
        await sign_in(phone)
        copied = laptop.cookies[SESSION_COOKIE]
        thief.cookies.set(SESSION_COOKIE, copied)
        for client in (laptop, phone, thief):
            assert (await client.get("/v1/events")).status_code == 200
        before = await epoch(conn)

        out = await laptop.post("/ui/logout")
        assert out.status_code == 303 and out.headers["location"] == "/ui/login"
        assert await epoch(conn) == before + 1
        assert SESSION_COOKIE not in laptop.cookies
        for client in (phone, thief):
            assert (await client.get("/v1/events")).status_code == 401
        # The copy kept by hand after sign-out is refused too.
        laptop.cookies.set(SESSION_COOKIE, copied)
        assert (await laptop.get("/v1/events")).status_code == 401

        # Signing in again works, at the new epoch.
        laptop.cookies.clear()
        await sign_in(laptop)
        assert (await laptop.get("/v1/events")).status_code == 200


async def test_a_stranger_cannot_sign_everyone_out(
    started: Started, conn: asyncpg.Connection
) -> None:
    async with started() as new_client, new_client() as user, new_client() as stranger:
        await sign_in(user)
        before = await epoch(conn)
        valid = user.cookies[SESSION_COOKIE]
        tampered = valid[:-1] + ("1" if valid.endswith("0") else "0")
        for cookie in (None, "123.abc", tampered):
            if cookie is not None:
                stranger.cookies.set(SESSION_COOKIE, cookie)
            assert (await stranger.post("/ui/logout")).status_code == 303
        assert await epoch(conn) == before
        assert (await user.get("/v1/events")).status_code == 200


async def test_secure_behind_a_trusted_tls_proxy(started: Started) -> None:
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    async with started() as new_client, new_client() as client:
        plain = await sign_in(client)
        assert "secure" not in plain.headers["set-cookie"].lower()
        proxied = await sign_in(client, **https)
        assert "; secure" in proxied.headers["set-cookie"].lower()
        out = await client.post("/ui/logout", headers=https)
        assert "; secure" in out.headers["set-cookie"].lower()

    # A network given in TRUSTED_PROXIES, as for a proxy in another container.
    async with (
        started(client=("10.1.2.3", 40000), trusted_proxies=("10.0.0.0/8",)) as new_client,
        new_client() as client,
    ):
        assert "; secure" in (await sign_in(client, **https)).headers["set-cookie"].lower()


@pytest.mark.parametrize(
    ("client", "trusted"),
    [(("127.0.0.1", 50000), ()), (("198.51.100.7", 50000), ("127.0.0.1", "::1"))],
)
async def test_forwarded_headers_from_anyone_else_are_ignored(
    started: Started, client: tuple[str, int], trusted: tuple[str, ...]
) -> None:
    async with (
        started(client=client, trusted_proxies=trusted) as new_client,
        new_client() as http,
    ):
        response = await sign_in(http, **{"X-Forwarded-Proto": "https"})
        assert "secure" not in response.headers["set-cookie"].lower()


def test_trusted_proxies_must_be_addresses() -> None:
    parsed = Settings(_env_file=None, trusted_proxies=" 10.0.0.0/8, ::1 ,")
    assert parsed.trusted_proxies == ("10.0.0.0/8", "::1")
    assert Settings(_env_file=None, trusted_proxies="").trusted_proxies == ()
    with pytest.raises(ValueError, match="TRUSTED_PROXIES entry 'proxy.local'"):
        Settings(_env_file=None, trusted_proxies="proxy.local")
