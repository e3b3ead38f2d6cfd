"""Host and Origin headers: their canonical forms and the allow-list of names (ALLOWED_HOSTS).

With no key, the service trusts whoever can reach the port, and every page open in the user's
browser can. DNS rebinding points a page's own name at 127.0.0.1: the browser then sends
`Host: attacker.example`, which the allow-list refuses. The Origin rules here are used by
`api.core.browser_guard` against plain cross-site form posts.

Everything is parsed strictly (ASCII names, digits-only ports, bracketed IPv6): a value that is
not exactly a host and an optional port is refused rather than guessed at.
"""

import contextlib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

# Served whatever ALLOWED_HOSTS says: a page cannot own these names, so they cannot be rebound.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
ANY_HOST = "*"
# Listen addresses that name no host of their own: every interface.
WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::", "[::]"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_NAME_CHARS = 253
# One DNS label; underscores are allowed because Docker service names may hold them.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_PORT = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True)
class Authority:
    """A host (canonical: lowercase name without trailing dot, dotted IPv4 or [IPv6]) and port."""

    host: str
    port: int | None = None

    def __str__(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def port_for(self, scheme: str) -> int | None:
        return self.port if self.port is not None else DEFAULT_PORTS.get(scheme)


@dataclass(frozen=True)
class Origin:
    scheme: str
    authority: Authority

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority}"


def canonical_host(name: str) -> str | None:
    """The canonical form of a host name or IP address (no port), or None if it is neither."""
    if name.startswith("[") and name.endswith("]"):
        inside = name[1:-1]
        # A zone id (`fe80::1%eth0`) only means something on this machine's own links.
        if "%" in inside:
            return None
        try:
            return f"[{ipaddress.IPv6Address(inside).compressed}]"
        except ValueError:
            return None
    name = name.lower()
    # `localhost.` is the same name as `localhost`: DNS roots every name with a final dot.
    name = name.removesuffix(".")
    if not name or len(name) > MAX_NAME_CHARS or not name.isascii():
        return None
    try:
        return str(ipaddress.IPv4Address(name))
    except ValueError:
        pass
    if not all(_LABEL.fullmatch(label) for label in name.split(".")):
        return None
    return name


def parse_authority(value: str) -> Authority | None:
    """`host[:port]` as sent in a Host header, or None when it is anything else."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host_part, rest = value[: end + 1], value[end + 1 :]
    else:
        host_part, colon, port_text = value.partition(":")
        rest = colon + port_text
    port = None
    if rest:
        port_text = rest.removeprefix(":")
        if port_text == rest or not _PORT.fullmatch(port_text):
            return None
        port = int(port_text)
        if not 0 < port <= 65535:
            return None
    host = canonical_host(host_part)
    return None if host is None else Authority(host, port)


def parse_origin(value: str) -> Origin | None:
    """`scheme://host[:port]` as browsers send it in Origin; None for `null` or anything else."""
    scheme, separator, rest = value.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in DEFAULT_PORTS:
        return None
    authority = parse_authority(rest)
    return None if authority is None else Origin(scheme, authority)


def parse_host_list(values: Iterable[str]) -> tuple[str, ...]:
    """ALLOWED_HOSTS entries in canonical form; ValueError names the first that is not a host."""
    hosts: list[str] = []
    for value in values:
        entry = value.strip()
        if not entry:
            continue
        if entry == ANY_HOST:
            hosts.append(ANY_HOST)
            continue
        # A bare IPv6 address (`::1`) is accepted as well as the bracketed form of URLs.
        bracketed = f"[{entry}]" if ":" in entry and not entry.startswith("[") else entry
        host = canonical_host(bracketed)
        if host is None:
            raise ValueError(
                f"ALLOWED_HOSTS entry {entry!r} is not a host name or IP address: list names "
                "such as mnemo.example.com or 192.168.1.20 (no scheme, no port), or * for any"
            )
        hosts.append(host)
    return tuple(dict.fromkeys(hosts))


@dataclass(frozen=True)
class HostPolicy:
    """Which Host headers are served, and which Origins may write besides the same origin.

    `configured` are the ALLOWED_HOSTS names (trusted as Host and as Origin, on any port);
    `listen` is HOST's own address when it names one (served as Host only); loopback names are
    always served. `any_host` (ALLOWED_HOSTS=*) serves every well-formed Host.
    """

    configured: frozenset[str] = frozenset()
    listen: frozenset[str] = frozenset()
    any_host: bool = False

    @classmethod
    def build(cls, allowed: Iterable[str], *, listen_host: str) -> "HostPolicy":
        names = set(parse_host_list(allowed))
        any_host = ANY_HOST in names
        names.discard(ANY_HOST)
        listen: set[str] = set()
        if listen_host.strip() not in WILDCARD_ADDRESSES:
            # Not a name a client could send (a unix socket path...): nothing more to serve.
            with contextlib.suppress(ValueError):
                listen.update(parse_host_list([listen_host]))
        return cls(configured=frozenset(names), listen=frozenset(listen), any_host=any_host)

    @property
    def served(self) -> frozenset[str]:
        """Every host name served (besides any other one when `any_host`)."""
        return LOOPBACK_HOSTS | self.configured | self.listen

    def allows_host(self, authority: Authority) -> bool:
        return self.any_host or authority.host in self.served

    def allows_origin(self, origin: Origin, host: Authority) -> bool:
        """The same origin as the Host the request was sent to, or a configured name."""
        here = origin.authority
        if here.host == host.host and here.port_for(origin.scheme) == host.port_for(origin.scheme):
            return True
        return here.host in self.configured

    def describe(self) -> str:
        """The served names, for messages: `localhost, 127.0.0.1, [::1]` first."""
        extra = sorted(self.served - LOOPBACK_HOSTS)
        return ", ".join(["localhost", "127.0.0.1", "[::1]", *extra])
