"""How the operator commands reach a running service: its address and its API key.

The key is read exactly as the service reads its own, through `api.core.config.Settings`: API_KEY
from the environment, else from `.env` in the current directory. So once the service has a key,
`make index` and the benchmarks send it with nothing more to configure.
"""

from functools import lru_cache

import httpx
from pydantic import ValidationError

from api.core.config import Settings

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


@lru_cache
def service_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise SystemExit(f"The settings (environment or .env) are not valid:\n{exc}") from None


def auth_headers(settings: Settings | None = None) -> dict[str, str]:
    """`Authorization: Bearer <API_KEY>` when a key is configured, else nothing."""
    key = (settings or service_settings()).api_key
    return {"Authorization": f"Bearer {key.get_secret_value()}"} if key is not None else {}


def default_url(settings: Settings | None = None) -> str:
    """Where `make run` serves with these settings (a wildcard HOST is reached on loopback)."""
    settings = settings or service_settings()
    host = "127.0.0.1" if settings.host in WILDCARD_HOSTS else settings.host
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{host}:{settings.port}"


def refusal(response: httpx.Response) -> str | None:
    """What to tell the operator when the service refused the credentials, else None."""
    if response.status_code != 401:
        return None
    if "authorization" in response.request.headers:
        return (
            "The service refused the API key (401): API_KEY (environment or .env) must be the "
            "key the service was started with."
        )
    return (
        "The service requires an API key (401): set API_KEY in the environment or in .env "
        "to the key the service was started with."
    )
