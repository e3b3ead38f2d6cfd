"""Property: a request is served iff its Host is served and, for a write, a browser did not send
it from another site. Generated Host / Origin / Sec-Fetch-Site combinations (served, foreign and
malformed names, ports, IPv6, letter case, trailing dots, `null`, userinfo tricks) go to a form
route of the UI and a JSON route of the API, through the real app and database.

The expected verdict is worked out here from how each value was built, not by the code under test.
"""

import itertools
from dataclasses import dataclass

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

# The session app (tests/conftest.py) serves these besides nothing else; `test` is configured
# in ALLOWED_HOSTS, so it is also trusted as an Origin on any port.
LOOPBACK = ["localhost", "127.0.0.1", "[::1]"]
CONFIGURED = ["test", "testserver"]
FOREIGN = [
    "attacker.example",
    "localhost.evil.example",
    "evil-localhost",
    "127.0.0.2",
    "[::2]",
    "10.0.0.1",
    "0.0.0.0",
    "testx",
]
MALFORMED_HOSTS = [
    "localhost@evil.example",
    "evil.example@localhost",
    "local host",
    "localhost:abc",
    "localhost:99999",
    "localhost:0",
    "localhost:",
    "localhost:80:80",
    "[::1",
    "::1",
    "[fe80::1%25eth0]",
    "http://localhost",
    "localhost/x",
    "²",
    "ｌocalhost",
    "loc\x00alhost",
]
DEFAULT_PORT = {"http": 80, "https": 443}
_unique = itertools.count()


@dataclass(frozen=True)
class Name:
    text: str  # as sent
    canonical: str  # lowercase, no trailing dot
    served: bool
    trusted_origin: bool


def spelled(name: str) -> st.SearchStrategy[str]:
    """`name` in another letter case, with or without the trailing dot of a fully qualified name."""
    cases = st.sampled_from([name, name.upper(), name.title()])
    if name.startswith("["):
        return cases
    return st.tuples(cases, st.booleans()).map(lambda pair: pair[0] + ("." if pair[1] else ""))


def name_of(canonical: str) -> st.SearchStrategy[Name]:
    served = canonical in LOOPBACK or canonical in CONFIGURED
    return spelled(canonical).map(
        lambda text: Name(text, canonical, served, canonical in CONFIGURED)
    )


served_names = st.sampled_from(LOOPBACK + CONFIGURED).flatmap(name_of)
foreign_names = st.sampled_from(FOREIGN).flatmap(name_of)
any_name = st.one_of(served_names, foreign_names)
ports = st.one_of(st.none(), st.sampled_from([80, 443, 8001, 8080, 65535]))
schemes = st.sampled_from(["http", "https", "HTTP"])


def authority(name: Name, port: int | None) -> str:
    return name.text if port is None else f"{name.text}:{port}"


@dataclass(frozen=True)
class Host:
    header: bytes
    verdict: str  # "ok", "foreign" or "malformed"
    name: Name | None = None
    port: int | None = None


def host_from(name: Name, port: int | None) -> Host:
    return Host(authority(name, port).encode(), "ok" if name.served else "foreign", name, port)


# Served names twice as often: most of what is interesting happens once the Host is accepted.
hosts = st.one_of(
    st.builds(host_from, served_names, ports),
    st.builds(host_from, served_names, ports),
    st.builds(host_from, foreign_names, ports),
    st.sampled_from(MALFORMED_HOSTS).map(lambda text: Host(text.encode("utf-8"), "malformed")),
)


@dataclass(frozen=True)
class OriginCase:
    header: str | None
    kind: str  # "absent", "null", "trick", or "url"
    scheme: str = "http"
    name: Name | None = None
    port: int | None = None


def url_origin(scheme: str, name: Name, port: int | None) -> OriginCase:
    return OriginCase(f"{scheme}://{authority(name, port)}", "url", scheme, name, port)


TRICKS = [
    "http://localhost@evil.example",
    "http://evil.example@localhost",
    "http://test/",
    "http://test:8001/path",
    "ftp://test",
    "test",
    "http://",
    "chrome-extension://abcdef",
]


@st.composite
def host_and_origin(draw: st.DrawFn) -> tuple[Host, OriginCase]:
    host = draw(hosts)
    choices = [
        st.just(OriginCase(None, "absent")),
        st.just(OriginCase("null", "null")),
        st.sampled_from(TRICKS).map(lambda text: OriginCase(text, "trick")),
        st.builds(url_origin, schemes, any_name, ports),
    ]
    if host.name is not None:
        # The page's own origin, spelled another way, or the same name on another port.
        same = name_of(host.name.canonical)
        choices += [
            st.builds(url_origin, schemes, same, st.just(host.port)),
            st.builds(url_origin, schemes, same, ports),
        ]
    return host, draw(st.one_of(choices))


fetch_sites = st.one_of(
    st.none(),
    st.sampled_from(["same-origin", "none", "same-site", "cross-site", "SAME-ORIGIN", "bogus"]),
)


def effective_port(port: int | None, scheme: str) -> int:
    return port if port is not None else DEFAULT_PORT[scheme]


def expected_status(host: Host, origin: OriginCase, site: str | None, *, write: bool) -> int:
    if host.verdict == "malformed":
        return 400
    if host.verdict == "foreign":
        return 421
    if not write:
        return 200
    if site is not None and site.lower() not in ("same-origin", "none"):
        return 403
    if origin.kind == "absent":
        return 200
    if origin.kind != "url":
        return 403
    assert origin.name is not None and host.name is not None
    scheme = origin.scheme.lower()
    same = origin.name.canonical == host.name.canonical and effective_port(
        origin.port, scheme
    ) == effective_port(host.port, scheme)
    return 200 if same or origin.name.trusted_origin else 403


def request_headers(host: Host, origin: OriginCase, site: str | None) -> list[tuple[bytes, bytes]]:
    headers = [(b"Host", host.header)]
    if origin.header is not None:
        headers.append((b"Origin", origin.header.encode()))
    if site is not None:
        headers.append((b"Sec-Fetch-Site", site.encode()))
    return headers


PROPERTY = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


async def stored_metadata(client: httpx.AsyncClient, event_id: str) -> dict[str, object]:
    response = await client.get(f"/v1/events/{event_id}")
    assert response.status_code == 200
    metadata: dict[str, object] = response.json()["metadata"]
    return metadata


async def new_event(client: httpx.AsyncClient) -> str:
    response = await client.post("/v1/events", json={"content": {"text": "property"}})
    assert response.status_code == 201
    return str(response.json()["id"])


@PROPERTY
@given(pair=host_and_origin(), site=fetch_sites, method=st.sampled_from(["POST", "GET"]))
async def test_ui_form_route(
    client: httpx.AsyncClient, pair: tuple[Host, OriginCase], site: str | None, method: str
) -> None:
    host, origin = pair
    event_id = await new_event(client)
    key = f"k{next(_unique)}"
    headers = request_headers(host, origin, site)
    if method == "POST":
        path = f"/ui/events/{event_id}/metadata"
        response = await client.post(path, data={"key": key, "value": "1"}, headers=headers)
    else:
        response = await client.get(f"/ui/events/{event_id}", headers=headers)
    expected = expected_status(host, origin, site, write=method == "POST")
    event(f"{method} -> {expected}")
    assert response.status_code == expected, (headers, response.text)
    if expected != 200:
        assert set(response.json()) == {"error", "detail"}
    written = (await stored_metadata(client, event_id)).get(key)
    assert written == (1 if method == "POST" and expected == 200 else None)


@PROPERTY
@given(pair=host_and_origin(), site=fetch_sites)
async def test_json_route(
    client: httpx.AsyncClient, pair: tuple[Host, OriginCase], site: str | None
) -> None:
    host, origin = pair
    event_id = await new_event(client)
    key = f"k{next(_unique)}"
    headers = [*request_headers(host, origin, site), (b"Content-Type", b"application/json")]
    response = await client.patch(
        f"/v1/events/{event_id}/metadata",
        content=f'{{"{key}": 1}}'.encode(),
        headers=headers,
    )
    expected = expected_status(host, origin, site, write=True)
    event(f"PATCH -> {expected}")
    assert response.status_code == expected, (headers, response.text)
    written = (await stored_metadata(client, event_id)).get(key)
    assert written == (1 if expected == 200 else None)
