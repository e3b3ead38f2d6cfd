"""Types shared by the fixtures that start apps."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx

# `app_with(**settings)`: an app started with other settings, and a client of it.
AppFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
