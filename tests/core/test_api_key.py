"""API_KEY: open without it; with it, every route but the public ones needs the key or a session."""

import time
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from api.core.config import Settings
from api.core.security import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    is_loopback,
    keys_match,
    safe_next,
    session_token,
    session_valid,
    warn_if_exposed,
)
from tests.conftest import AppFactory

KEY = "s3cret-key-for-tests-0123456789"
# One route per protected area; each answers 200 (or 303 for the bare /ui) with the key.
PROTECTED = [
    ("GET", "/v1/events"),
    ("POST", "/v1/search"),
    ("GET", "/v1/code/index/repositories"),
    ("GET", "/ui/events"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
]


async def call(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    if method == "POST":
        kwargs.setdefault("json", {})
    return await client.request(method, path, **kwargs)


async def test_without_a_key_everything_is_open(client: httpx.AsyncClient) -> None:
    for method, path in PROTECTED:
        response = await call(client, method, path)
        assert response.status_code == 200, (path, response.text)
    schema = (await client.get("/openapi.json")).json()
    assert "securitySchemes" not in schema.get("components", {})


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_protected_routes_need_the_key(app_with: AppFactory, method: str, path: str) -> None:
    async with app_with(api_key=KEY) as client:
        missing = await call(client, method, path)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"] == "unauthorized"
        assert "API_KEY" in missing.json()["detail"]

        for headers in ({"Authorization": "Bearer nope"}, {"X-API-Key": KEY + "x"}):
            wrong = await call(client, method, path, headers=headers)
            assert wrong.status_code == 401
            assert wrong.json() == {"error": "unauthorized", "detail": "The API key is not valid."}

        for headers in ({"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}):
            ok = await call(client, method, path, headers=headers)
            assert ok.status_code == 200, (path, ok.text)


async def test_public_routes_stay_open(app_with: AppFactory) -> None:
    async with app_with(api_key=KEY) as client:
        for path in ("/health", "/readiness", "/metrics", "/static/favicon.svg", "/ui/login"):
            assert (await client.get(path)).status_code == 200, path
        # Default-deny: an unknown path does not even say whether it exists.
        assert (await client.get("/no/such/path")).status_code == 401
        assert (await client.get("/mcp")).status_code == 401


async def test_metrics_can_be_put_behind_the_key(app_with: AppFactory) -> None:
    async with app_with(api_key=KEY, metrics_public=False) as client:
        assert (await client.get("/metrics")).status_code == 401
        bearer = {"Authorization": f"Bearer {KEY}"}
        assert (await client.get("/metrics", headers=bearer)).status_code == 200
        assert (await client.get("/health")).status_code == 200


async def test_trailing_slash_does_not_bypass_the_check(app_with: AppFactory) -> None:
    async with app_with(api_key=KEY) as client:
        assert (await client.get("/v1/events/")).status_code == 401
        assert (await client.get("/health/")).status_code == 200


async def test_browser_is_sent_to_the_login_page_and_back(app_with: AppFactory) -> None:
    async with app_with(api_key=KEY) as client:
        html = {"Accept": "text/html,application/xhtml+xml"}
        page = await client.get("/ui/events?offset=0", headers=html)
        assert page.status_code == 303
        assert page.headers["location"] == "/ui/login?next=%2Fui%2Fevents%3Foffset%3D0"

        form = await client.get(page.headers["location"], headers=html)
        assert form.status_code == 200
        assert 'name="api_key"' in form.text
        assert 'value="/ui/events?offset=0"' in form.text

        refused = await client.post("/ui/login", data={"api_key": "wrong", "next": "/ui/events"})
        assert refused.status_code == 401
        assert "not valid" in refused.text
        assert SESSION_COOKIE not in refused.cookies

        signed_in = await client.post("/ui/login", data={"api_key": KEY, "next": "/ui/events"})
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/ui/events"
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert KEY not in cookie, "the cookie must not hold the key itself"

        # httpx keeps the cookie, as a browser does; htmx requests carry it the same way.
        events = await client.get("/ui/events", headers=html)
        assert events.status_code == 200
        assert "Sign out" in events.text
        fragment = await client.get("/ui/search?q=x", headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert (await client.get("/v1/events")).status_code == 200

        out = await client.post("/ui/logout")
        assert out.status_code == 303
        assert out.headers["location"] == "/ui/login"
        assert (await client.get("/ui/events", headers=html)).status_code == 303


async def test_htmx_request_without_a_session_is_told_to_sign_in(app_with: AppFactory) -> None:
    async with app_with(api_key=KEY) as client:
        response = await client.get("/ui/search?q=x", headers={"HX-Request": "true"})
        assert response.status_code == 401
        assert response.headers["hx-redirect"] == "/ui/login"


async def test_login_never_redirects_off_site(app_with: AppFactory) -> None:
    async with app_with(api_key=KEY) as client:
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
            response = await client.post("/ui/login", data={"api_key": KEY, "next": target})
            assert response.headers["location"] == "/ui/"


async def test_a_forged_or_stale_cookie_is_refused(app_with: AppFactory) -> None:
    async with app_with(api_key=KEY) as client:
        old = session_token(SecretStr(KEY), issued=int(time.time()) - SESSION_MAX_AGE_SECONDS - 5)
        other = session_token(SecretStr("another key"))
        for value in (old, other, "123.abc", "garbage"):
            client.cookies.set(SESSION_COOKIE, value)
            response = await client.get("/v1/events")
            assert response.status_code == 401
            assert response.json()["detail"] == "The API key is not valid."


async def test_openapi_declares_the_key(app_with: AppFactory) -> None:
    async with app_with(api_key=KEY) as client:
        schema = (await client.get("/openapi.json", headers={"X-API-Key": KEY})).json()
        schemes = schema["components"]["securitySchemes"]
        assert schemes["bearer"]["scheme"] == "bearer"
        assert schemes["apiKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        assert schema["paths"]["/v1/events"]["get"]["security"]
        assert "security" not in schema["paths"]["/health"]["get"]


def test_keys_compare_by_digest_whatever_their_length() -> None:
    key = SecretStr(KEY)
    assert keys_match(KEY, key)
    assert not keys_match("", key)
    assert not keys_match(KEY[:-1], key)
    assert not keys_match(KEY + "0", key)
    assert not keys_match("x" * 10_000, key)
    assert not keys_match("ключ", key)


def test_session_tokens() -> None:
    key = SecretStr(KEY)
    now = 1_800_000_000
    token = session_token(key, issued=now)
    assert session_valid(token, key, now=now + 10)
    assert not session_valid(token, key, now=now + SESSION_MAX_AGE_SECONDS + 1)
    assert not session_valid(token, SecretStr("other"), now=now)
    tampered = token[:-1] + ("1" if token.endswith("0") else "0")
    assert not session_valid(tampered, key, now=now)


def test_safe_next() -> None:
    assert safe_next("/ui/code?x=1") == "/ui/code?x=1"
    assert safe_next(None) == "/ui/"
    assert safe_next("//evil") == "/ui/"
    assert safe_next("http://evil") == "/ui/"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("", False)],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_start_up_warns_when_exposed_without_a_key(settings: Settings) -> None:
    exposed = settings.model_copy(update={"host": "0.0.0.0"})
    with capture_logs() as logs:
        warn_if_exposed(exposed)
        warn_if_exposed(settings)  # loopback: fine
        warn_if_exposed(exposed.model_copy(update={"api_key": SecretStr(KEY)}))
    assert [entry["event"] for entry in logs] == ["api_key_not_set"]
    assert logs[0]["log_level"] == "warning"
    assert "API_KEY" in logs[0]["message"]


async def test_the_lifespan_logs_the_warning(app_with: AppFactory) -> None:
    with capture_logs() as logs:
        async with app_with(host="0.0.0.0") as client:
            assert (await client.get("/v1/events")).status_code == 200
    assert any(entry["event"] == "api_key_not_set" for entry in logs)


def test_empty_api_key_means_unset() -> None:
    assert Settings(_env_file=None, api_key="  ").api_key is None
    assert Settings(_env_file=None, api_key=KEY).api_key == SecretStr(KEY)
    assert KEY not in repr(Settings(_env_file=None, api_key=KEY))


def test_short_key_is_warned_about(settings: Settings) -> None:
    with capture_logs() as logs:
        warn_if_exposed(settings.model_copy(update={"api_key": SecretStr("short")}))
    assert [entry["event"] for entry in logs] == ["api_key_short"]


@pytest.mark.parametrize("bad", ["with space", "ключ-0123456789abcdef", "tab\there"])
def test_key_must_fit_in_a_header(bad: str) -> None:
    with pytest.raises(ValueError, match="API_KEY must be printable ASCII"):
        Settings(_env_file=None, api_key=bad)
