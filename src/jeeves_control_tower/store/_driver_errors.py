"""The one place a PostgreSQL driver failure becomes `StoreError`.

Every PostgreSQL entry point (the database object's methods, the group-commit writers, the LISTEN
connection, webhook storage, the token store through the database object) runs under
`translate_pg_errors`, as a decorator or as `with pg_errors():`. What it catches is whatever the
driver or the network can raise: a server error (asyncpg.PostgresError, which includes a lost
connection and "the database system is starting up"), a client-side one (InterfaceError, e.g.
"connection is closed" or "pool is closing", InternalClientError), OSError (refused, reset) and
a timeout (connect, command or pool acquire). Our own errors pass through unchanged.

`any_db_errors` is the same boundary for an object we did not write (the seed's DatabaseProtocol,
e.g. a user's own database wrapper), which may raise anything: every exception becomes StoreError.
The shipped databases raise StoreError themselves, so for them it changes nothing.

The API maps StoreError to 503 with Retry-After, so an outage reads as "try again", never as a
crash.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import asyncpg

from jeeves_protocols import InterruptError, StoreError

__all__ = ["DRIVER_ERRORS", "any_db_errors", "pg_errors", "translate_pg_errors", "store_error"]

#: What the driver and the network raise (TimeoutError is asyncio's too, since Python 3.11).
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions._base.InternalClientError,
    OSError,
    TimeoutError,
)

P = ParamSpec("P")
R = TypeVar("R")


def store_error(exc: BaseException, what: str = "PostgreSQL unavailable") -> StoreError:
    """The StoreError for a driver failure; the message names the failure even when the driver's
    own text is empty (a bare TimeoutError has none)."""
    text = str(exc).strip()
    return StoreError(f"{what}: {type(exc).__name__}" + (f": {text}" if text else ""))


@contextmanager
def pg_errors() -> Iterator[None]:
    """Driver failures inside the block leave it as StoreError (`from` the original)."""
    try:
        yield
    except InterruptError:
        raise
    except DRIVER_ERRORS as exc:
        raise store_error(exc) from exc


def translate_pg_errors(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """`pg_errors()` around a coroutine function."""

    @functools.wraps(function)
    async def translated(*args: P.args, **kwargs: P.kwargs) -> R:
        with pg_errors():
            return await function(*args, **kwargs)

    return translated


@contextmanager
def any_db_errors() -> Iterator[None]:
    """Any failure of a DatabaseProtocol object inside the block leaves it as StoreError."""
    try:
        yield
    except InterruptError:
        raise
    except Exception as exc:
        raise store_error(exc, "database operation failed") from exc
