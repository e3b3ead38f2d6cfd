"""Host and Origin parsing, the host allow-list, and the MCP transport's rebinding check."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.server.transport_security import TransportSecurityMiddleware
from starlette.requests import Request

from api.core.browser_guard import Accepted, Refusal, judge
from api.core.config import Settings
from api.core.hosts import Authority, HostPolicy, parse_authority, parse_host_list, parse_origin
from api.web.mcp.server import transport_security

DEFAULT = HostPolicy.build((), listen_host="127.0.0.1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost", Authority("localhost")),
        ("LocalHost.:8001", Authority("localhost", 8001)),
        ("127.0.0.1:80", Authority("127.0.0.1", 80)),
        ("[::1]:8001", Authority("[::1]", 8001)),
        ("[0:0:0:0:0:0:0:1]", Authority("[::1]")),
        ("my_api:8001", Authority("my_api", 8001)),
    ],
)
def test_authorities_are_canonical(value: str, expected: Authority) -> None:
    assert parse_authority(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "localhost:",
        "localhost:0",
        "localhost:65536",
        "localhost:8o01",
        "localhost:²",
        "localhost@evil.example",
        "::1",
        "[::1",
        "[::1]x",
        "[fe80::1%eth0]",
        "[127.0.0.1]",
        "a..b",
        "-a.example",
        "ｌocalhost",
        "a" * 300,
        "local host",
    ],
)
def test_malformed_authorities_are_refused(value: str) -> None:
    assert parse_authority(value) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_parsing_any_text_never_raises(text: str) -> None:
    parse_authority(text)
    parse_origin(text)
    verdict = judge("POST", [(b"host", text.encode("utf-8", "surrogatepass"))], DEFAULT)
    assert isinstance(verdict, Accepted | Refusal)


def test_origins() -> None:
    assert str(parse_origin("HTTP://LOCALHOST:8001")) == "http://localhost:8001"
    for value in ("null", "http://localhost/", "ftp://localhost", "localhost", "http://a@b"):
        assert parse_origin(value) is None


def test_the_default_policy_serves_loopback_names_only() -> None:
    for host in ("localhost", "127.0.0.1", "[::1]"):
        assert DEFAULT.allows_host(Authority(host, 8001))
    for host in ("evil.example", "127.0.0.2", "0.0.0.0", "test"):
        assert not DEFAULT.allows_host(Authority(host))


def test_listen_address_and_allowed_hosts() -> None:
    policy = HostPolicy.build(["Mnemo.Example.com.", "::1"], listen_host="192.168.1.20")
    assert policy.configured == {"mnemo.example.com", "[::1]"}
    assert policy.allows_host(Authority("192.168.1.20"))
    assert policy.allows_host(Authority("mnemo.example.com", 443))
    assert not HostPolicy.build((), listen_host="0.0.0.0").allows_host(Authority("0.0.0.0"))
    assert HostPolicy.build(["*"], listen_host="::").allows_host(Authority("anything.example"))


@pytest.mark.parametrize("bad", ["https://mnemo.example.com", "mnemo.example.com:8443", "a b"])
def test_allowed_hosts_entries_must_be_names(bad: str) -> None:
    with pytest.raises(ValueError, match="ALLOWED_HOSTS entry"):
        parse_host_list([bad])
    with pytest.raises(ValueError, match="ALLOWED_HOSTS entry"):
        Settings(_env_file=None, allowed_hosts=bad)


def test_allowed_hosts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", " mnemo.example.com , 10.0.0.5,,")
    assert Settings(_env_file=None).allowed_hosts == ("mnemo.example.com", "10.0.0.5")
    monkeypatch.setenv("ALLOWED_HOSTS", "")
    assert Settings(_env_file=None).allowed_hosts == ()


def mcp_request(headers: dict[str, str]) -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/mcp", "headers": raw})


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"host": "localhost:8001"}, None),
        ({"host": "[::1]:8001", "origin": "http://[::1]:8001"}, None),
        ({"host": "mnemo.example.com", "origin": "https://mnemo.example.com"}, None),
        ({"host": "evil.example:8001"}, 421),
        ({"host": "localhost:8001", "origin": "http://evil.example"}, 403),
    ],
)
async def test_the_mcp_transport_checks_the_same_names(
    headers: dict[str, str], status: int | None
) -> None:
    """The SDK's own check is on, on the allow-list (a second line behind browser_guard)."""
    policy = HostPolicy.build(["mnemo.example.com"], listen_host="127.0.0.1")
    security = transport_security(policy)
    assert security.enable_dns_rebinding_protection
    middleware = TransportSecurityMiddleware(security)
    request = mcp_request({**headers, "content-type": "application/json"})
    refused = await middleware.validate_request(request, is_post=True)
    assert (refused.status_code if refused is not None else None) == status


def test_with_any_host_the_guard_alone_checks_origins() -> None:
    security = transport_security(HostPolicy.build(["*"], listen_host="127.0.0.1"))
    assert not security.enable_dns_rebinding_protection
