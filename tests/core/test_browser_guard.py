"""Other web pages cannot use the service: foreign Host headers and cross-site writes are refused.

Issue 11, class 4. The session app serves `test` and `testserver` besides the loopback names
(tests/conftest.py); `app_with(...)` starts an app with other settings.
"""

from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from api.core.config import Settings
from api.core.security import SESSION_COOKIE, warn_if_exposed
from tests.conftest import AppFactory

KEY = "browser-guard-key-0123456789abcdef"
EVIL = "https://evil.example"
# The ways a browser marks a request made by another site's page.
CROSS_SITE = [
    {"Origin": EVIL},
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://localhost:8080"},
    {"Origin": "http://localhost@evil.example"},
]
SAME_ORIGIN = {"Origin": "http://test", "Sec-Fetch-Site": "same-origin"}


async def new_event(client: httpx.AsyncClient, **headers: str) -> str:
    created = await client.post(
        "/v1/events", json={"content": {"text": "guarded"}, "metadata": {}}, headers=headers
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def metadata_of(client: httpx.AsyncClient, event_id: str, **headers: str) -> dict[str, Any]:
    response = await client.get(f"/v1/events/{event_id}", headers=headers)
    assert response.status_code == 200, response.text
    metadata: dict[str, Any] = response.json()["metadata"]
    return metadata


def upload_parts() -> dict[str, Any]:
    return {
        "data": {"repository": "guarded"},
        "files": [("files", ("a.py", b"def f():\n    return 1\n"))],
    }


async def jobs_queued(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM index_jobs"))


def assert_cross_site_refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "cross_site_request"
    assert "Cross-site request refused" in body["detail"]


@pytest.mark.parametrize("headers", CROSS_SITE)
async def test_cross_site_upload_is_refused_without_a_key(
    client: httpx.AsyncClient, conn: asyncpg.Connection, headers: dict[str, str]
) -> None:
    response = await client.post("/ui/code/upload", headers=headers, **upload_parts())
    assert_cross_site_refused(response)
    assert await jobs_queued(conn) == 0


async def test_same_origin_upload_is_accepted(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    response = await client.post(
        "/ui/code/upload", headers={**SAME_ORIGIN, "HX-Request": "true"}, **upload_parts()
    )
    assert response.status_code == 202, response.text
    assert await jobs_queued(conn) == 1


@pytest.mark.parametrize("headers", CROSS_SITE)
async def test_cross_site_metadata_form_is_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    event_id = await new_event(client)
    response = await client.post(
        f"/ui/events/{event_id}/metadata", data={"key": "pwned", "value": "1"}, headers=headers
    )
    assert_cross_site_refused(response)
    assert await metadata_of(client, event_id) == {}


async def test_same_origin_metadata_form_and_plain_clients_work(client: httpx.AsyncClient) -> None:
    event_id = await new_event(client)
    for key, headers in (
        ("same_origin", SAME_ORIGIN),
        ("user_typed", {"Sec-Fetch-Site": "none"}),
        ("curl", {}),
    ):
        response = await client.post(
            f"/ui/events/{event_id}/metadata", data={"key": key, "value": "1"}, headers=headers
        )
        assert response.status_code == 200, (key, response.text)
    assert await metadata_of(client, event_id) == {"same_origin": 1, "user_typed": 1, "curl": 1}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/events", {"content": {"text": "x"}}),
        ("PATCH", "/v1/events/{id}/metadata", {"a": 1}),
        ("DELETE", "/v1/events/{id}", None),
        ("PUT", "/v1/events/{id}", None),
        ("POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        ("DELETE", "/ui/events/{id}", None),
    ],
)
async def test_every_write_method_and_path_is_guarded(
    client: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    event_id = await new_event(client)
    url = path.format(id=event_id)
    response = await client.request(method, url, json=body, headers={"Origin": EVIL})
    assert_cross_site_refused(response)
    # Reads are not writes: a link from another site still opens the page.
    assert (await client.get(f"/ui/events/{event_id}", headers=CROSS_SITE[2])).status_code == 200
    assert await metadata_of(client, event_id) == {}


async def test_with_a_key_cross_site_is_refused_cookie_or_not(
    app_with: AppFactory, conn: asyncpg.Connection
) -> None:
    async with app_with(api_key=KEY) as client:
        auth = {"X-API-Key": KEY}
        event_id = await new_event(client, **auth)
        # No cookie, and no key either: 403 rather than 401, the request is refused for what it is.
        refused = await client.post(
            f"/ui/events/{event_id}/metadata",
            data={"key": "a", "value": "1"},
            headers=CROSS_SITE[0],
        )
        assert_cross_site_refused(refused)

        signed_in = await client.post("/ui/login", data={"api_key": KEY}, headers=SAME_ORIGIN)
        assert signed_in.status_code == 303 and SESSION_COOKIE in client.cookies
        for headers in CROSS_SITE:
            form = await client.post(
                f"/ui/events/{event_id}/metadata", data={"key": "a", "value": "1"}, headers=headers
            )
            assert_cross_site_refused(form)
            upload = await client.post("/ui/code/upload", headers=headers, **upload_parts())
            assert_cross_site_refused(upload)
            keyed = await client.patch(
                f"/v1/events/{event_id}/metadata",
                json={"a": 1},
                headers={**headers, **auth},
            )
            assert_cross_site_refused(keyed)
        assert await metadata_of(client, event_id, **auth) == {}
        assert await jobs_queued(conn) == 0

        same = await client.post(
            f"/ui/events/{event_id}/metadata", data={"key": "a", "value": "1"}, headers=SAME_ORIGIN
        )
        assert same.status_code == 200, same.text
        assert await metadata_of(client, event_id, **auth) == {"a": 1}


async def test_login_form_is_protected_from_login_csrf(app_with: AppFactory) -> None:
    async with app_with(api_key=KEY) as client:
        for headers in CROSS_SITE:
            response = await client.post("/ui/login", data={"api_key": KEY}, headers=headers)
            assert_cross_site_refused(response)
            assert SESSION_COOKIE not in response.cookies
        assert (await client.post("/ui/logout", headers=CROSS_SITE[0])).status_code == 403


async def test_no_get_changes_state(app_with: AppFactory) -> None:
    async with app_with(api_key=KEY) as client:
        await client.post("/ui/login", data={"api_key": KEY})
        # Sign-out is POST only: an <img src="/ui/logout"> on another page does nothing.
        assert (await client.get("/ui/logout")).status_code == 405
        assert (await client.get("/ui/events", headers={"Accept": "text/html"})).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8001", "evil.localhost"])
async def test_a_foreign_host_is_refused(client: httpx.AsyncClient, host: str) -> None:
    for method, path in (("GET", "/health"), ("GET", "/ui/events"), ("POST", "/mcp")):
        response = await client.request(method, path, headers={"Host": host})
        assert response.status_code == 421, (path, response.text)
        body = response.json()
        assert body["error"] == "host_not_allowed"
        assert "ALLOWED_HOSTS" in body["detail"] and "DNS rebinding" in body["detail"]


@pytest.mark.parametrize(
    "host", ["localhost@evil.example", "evil.example:abc", "[::1", "localhost:99999", "²"]
)
async def test_a_malformed_host_is_a_400(client: httpx.AsyncClient, host: str) -> None:
    response = await client.get("/health", headers={"Host": host.encode("latin-1")})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_host"


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8001",
        "127.0.0.1",
        "127.0.0.1:8001",
        "[::1]",
        "[::1]:8001",
        "LocalHost.",
    ],
)
async def test_loopback_names_are_served_by_default(app_with: AppFactory, host: str) -> None:
    async with app_with(allowed_hosts=()) as client:
        assert (await client.get("/health", headers={"Host": host})).status_code == 200
        origin = f"http://{host.lower().rstrip('.')}"
        write = await client.post(
            "/v1/events", json={"content": {"text": "x"}}, headers={"Host": host, "Origin": origin}
        )
        assert write.status_code == 201, write.text
        assert (await client.get("/health", headers={"Host": "test"})).status_code == 421


async def test_allowed_hosts_extends_the_list(app_with: AppFactory) -> None:
    async with app_with(allowed_hosts=("mnemo.example.com",)) as client:
        for host in ("mnemo.example.com", "MNEMO.example.com:443", "localhost:8001"):
            assert (await client.get("/health", headers={"Host": host})).status_code == 200, host
        assert (await client.get("/health", headers={"Host": "other.example"})).status_code == 421
        # Behind a proxy that rewrites Host, the listed public name is still this site.
        rewritten = await client.post(
            "/v1/events",
            json={"content": {"text": "x"}},
            headers={"Host": "127.0.0.1:8001", "Origin": "https://mnemo.example.com"},
        )
        assert rewritten.status_code == 201, rewritten.text


async def test_any_host_with_star_but_never_a_cross_site_write(app_with: AppFactory) -> None:
    async with app_with(allowed_hosts=("*",)) as client:
        assert (
            await client.get("/health", headers={"Host": "whatever.example"})
        ).status_code == 200
        response = await client.post(
            "/v1/events",
            json={"content": {"text": "x"}},
            headers={"Host": "whatever.example", "Origin": EVIL},
        )
        assert_cross_site_refused(response)


async def test_a_specific_listen_address_serves_its_own_name(app_with: AppFactory) -> None:
    async with app_with(allowed_hosts=(), host="192.168.1.20") as client:
        assert (
            await client.get("/health", headers={"Host": "192.168.1.20:8001"})
        ).status_code == 200
        assert (await client.get("/health", headers={"Host": "192.168.1.21"})).status_code == 421


def test_listening_everywhere_without_allowed_hosts_is_warned_about(settings: Settings) -> None:
    everywhere = settings.model_copy(update={"host": "0.0.0.0", "allowed_hosts": ()})
    with capture_logs() as logs:
        warn_if_exposed(everywhere.model_copy(update={"api_key": SecretStr(KEY)}))
        warn_if_exposed(everywhere.model_copy(update={"allowed_hosts": ("a.example",)}))
        warn_if_exposed(settings.model_copy(update={"allowed_hosts": ()}))  # loopback HOST
    events = [entry["event"] for entry in logs]
    assert events == ["allowed_hosts_loopback_only", "api_key_not_set"]
    assert "ALLOWED_HOSTS" in logs[0]["message"]
    with capture_logs() as logs:
        warn_if_exposed(settings.model_copy(update={"allowed_hosts": ("*",)}))
    assert [entry["event"] for entry in logs] == ["allowed_hosts_any"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_json_endpoints_refuse_bodies_a_form_can_send(
    client: httpx.AsyncClient, conn: asyncpg.Connection, content_type: str | None
) -> None:
    """The content-type rule stays: a cross-site form cannot send application/json."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post(
        "/v1/events", content=b'{"content": {"text": "x"}}', headers=headers
    )
    assert response.status_code == 422, response.text
    assert await conn.fetchval("SELECT count(*) FROM events") == 0


async def test_mcp_refuses_a_rebinding_host_and_origin(client: httpx.AsyncClient) -> None:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    rebound = await client.post("/mcp", json=call, headers={**headers, "Host": "evil.example"})
    assert rebound.status_code == 421
    foreign = await client.post("/mcp", json=call, headers={**headers, "Origin": EVIL})
    assert foreign.status_code == 403
    # A same-origin browser page and a plain MCP client (no Origin) are app_with, whatever the
    # spelling of the loopback name.
    for extra in ({"Host": "LOCALHOST.:8001", "Origin": "http://localhost:8001"}, {}):
        app_with = await client.post("/mcp", json=call, headers={**headers, **extra})
        assert app_with.status_code == 200, app_with.text
        assert "remember" in app_with.text
