"""The `jeeves` command: run the server, manage the database and tokens, and talk to a server.

Commands that need the database (serve, migrate, tokens, expire) open it directly from
`--database-url` / JEEVES_DATABASE_URL. Commands about interrupts (list, show, respond, cancel,
demo) go through a running server at `--url` / JEEVES_URL with `--token` / JEEVES_TOKEN, so
they obey the same auth as everyone else.

Exit codes: 0 done; 1 other failure; 2 bad usage; 3 not found; 4 not pending (or an approval
that does not cover it: a conflict); 5 token refused (or its user may not answer: not theirs,
self-approval); 6 server or database unreachable; 7 timed out.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, Optional, TypeVar
from urllib.parse import quote

import click

from jeeves_protocols import (
    ApprovalError,
    FlowInterrupt,
    InterruptError,
    InterruptKind,
    InterruptNotFoundError,
    InterruptNotPendingError,
    InterruptResponse,
    InvalidInterruptError,
    InvalidResponseError,
    Resolution,
    ResponderMismatchError,
    StoreError,
    WaitTimeoutError,
)
from jeeves_protocols.interrupts import format_time

from .client import RemoteAuthError, RemoteInterruptService
from .demo import run_demo, summarize
from .services import InterruptEvent
from .store.base import CREATED_SEQUENCE, EXTENDED_EVENT, TERMINAL_EVENT_TYPES

T = TypeVar("T")

DEFAULT_DATABASE = "./jeeves.db"
DEFAULT_URL = "http://127.0.0.1:8080"

EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (InterruptNotFoundError, 3),
    (InterruptNotPendingError, 4),
    (ApprovalError, 4),  # the interrupt's state does not permit it: a conflict, like not pending
    (RemoteAuthError, 5),
    (ResponderMismatchError, 5),  # SelfApprovalError too: this token's user may not do it
    (StoreError, 6),
    (WaitTimeoutError, 7),
    (InvalidInterruptError, 2),
    (InvalidResponseError, 2),
)


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///").removeprefix("sqlite://") or DEFAULT_DATABASE


def open_database(url: str) -> Any:
    """A database object from a URL: postgresql://... or a SQLite path (optionally sqlite:///path)."""
    if _is_postgres(url):
        from .store.postgres import PostgresDatabase

        return PostgresDatabase(url)
    from .store.sqlite import SQLiteDatabase

    return SQLiteDatabase(_sqlite_path(url))


def open_existing_database(url: str, *, quiet: bool = False) -> Any:
    """For commands that work on the database `jeeves serve` uses: a SQLite file that does not
    exist is refused, not created empty (a token made in it would be one the server never sees).
    Unless `quiet`, says on stderr which database it is."""
    if not _is_postgres(url) and _sqlite_path(url) != ":memory:":
        path = Path(_sqlite_path(url)).resolve()
        if not path.is_file():
            fail(StoreError(
                f"no database at {path}: run this where `jeeves serve` keeps its database, or pass "
                "--database-url (or set JEEVES_DATABASE_URL); `jeeves migrate` creates a new one"
            ))
        url = str(path)
    if not quiet:
        click.echo(f"database: {redacted(url)}", err=True)
    return open_database(url)


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@/\s]*(@)")
_PARAMETER_PASSWORD = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


def redacted(url: str) -> str:
    """A database URL fit to print: its password, in the authority or as a parameter, masked."""
    return _PARAMETER_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***\2", url))


def fail(exc: BaseException) -> NoReturn:
    code = next((code for cls, code in EXIT_CODES if isinstance(exc, cls)), 1)
    message = exc.message if isinstance(exc, InterruptError) else str(exc)
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def run(coroutine: Awaitable[T]) -> T:
    try:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    except InterruptError as exc:
        fail(exc)
    except OSError as exc:
        fail(StoreError(f"cannot reach the database: {exc}"))


def emit(as_json: bool, value: Any, text: str) -> None:
    click.echo(json.dumps(value, indent=2, default=str) if as_json else text)


def describe(interrupt: FlowInterrupt) -> str:
    what = interrupt.question or interrupt.message or ""
    line = f"{interrupt.id}  {interrupt.status.value:<9} {interrupt.kind.value:<18} {interrupt.user_id:<12}"
    line += f" {what}"
    if interrupt.response is not None:
        line += f"\n    {_answered(interrupt, interrupt.response)} at {interrupt.resolved_at}"
    elif interrupt.resolution is not None and interrupt.resolution is not Resolution.ANSWERED:
        reason = interrupt.data.get("cancel_reason")
        line += f"\n    {interrupt.resolution.value} at {interrupt.resolved_at}"
        line += f": {reason}" if reason else ""
    if interrupt.consumed_at is not None:
        line += f"\n    approval used at {interrupt.consumed_at}"
    return line


def _answered(interrupt: FlowInterrupt, answer: InterruptResponse) -> str:
    """How an answer came: `answered 'x' by alice via cli`, or `auto_rejected (expiry)`."""
    if interrupt.resolution in (Resolution.AUTO_REJECTED, Resolution.AUTO_APPROVED):
        assert interrupt.resolution is not None
        return f"{interrupt.resolution.value} {summarize(answer)!r} by its expiry"
    by = f" by {answer.responder_id}" if answer.responder_id else ""
    via = f" via {answer.via}" if answer.via else ""
    return f"answered {summarize(answer)!r}{by}{via}"


def describe_event(event: InterruptEvent) -> str:
    """One history line: when, what happened, to which interrupt, who did it and how."""
    interrupt = event.interrupt
    line = f"{format_time(event.created_at)}  #{event.seq:<6} {event.type:<32} {interrupt.id}"
    ending = event.type in TERMINAL_EVENT_TYPES.values()
    if ending and interrupt.response is not None:
        line += f"  {_answered(interrupt, interrupt.response)}"
    elif ending and interrupt.data.get("cancel_reason"):
        line += f"  reason: {interrupt.data['cancel_reason']}"
    elif event.type == EXTENDED_EVENT:
        line += f"  now expires at {interrupt.expires_at}"
    elif event.sequence == CREATED_SEQUENCE:
        line += f"  for {interrupt.user_id}" + (f" by {interrupt.created_by}" if interrupt.created_by else "")
    return line


database_option = click.option(
    "--database-url",
    envvar="JEEVES_DATABASE_URL",
    default=DEFAULT_DATABASE,
    show_default=True,
    help="postgresql://... or a SQLite file path [env: JEEVES_DATABASE_URL]",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
url_option = click.option(
    "--url",
    envvar="JEEVES_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="The jeeves server [env: JEEVES_URL]",
)
token_option = click.option(
    "--token", envvar="JEEVES_TOKEN", required=True, help="A bearer token [env: JEEVES_TOKEN]"
)
server_option = click.option(
    "--server",
    envvar="JEEVES_SERVER",
    help="Work through this jeeves server's API (with an admin's --token) instead of opening "
    "the database [env: JEEVES_SERVER]",
)
admin_token_option = click.option(
    "--token", envvar="JEEVES_TOKEN", help="With --server: an admin's bearer token [env: JEEVES_TOKEN]"
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jeeves-control-tower")
def main() -> None:
    """jeeves control tower: durable human-in-the-loop interrupts for AI agents."""


# -- server and database --------------------------------------------------------------------


@main.command()
@database_option
@click.option(
    "--host", envvar="JEEVES_HOST", default="127.0.0.1", show_default=True, help="[env: JEEVES_HOST]"
)
@click.option(
    "--port",
    envvar="JEEVES_PORT",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="[env: JEEVES_PORT]",
)
@click.option(
    "--sweep-interval",
    envvar="JEEVES_SWEEP_INTERVAL",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between expiry sweeps (0: off) [env: JEEVES_SWEEP_INTERVAL]",
)
@click.option(
    "--dispatcher/--no-dispatcher",
    envvar="JEEVES_DISPATCHER",
    default=True,
    show_default=True,
    help="Deliver webhooks from this process [env: JEEVES_DISPATCHER]",
)
@click.option(
    "--rate-limit",
    envvar="JEEVES_RATE_LIMIT",
    type=click.FloatRange(min=0, min_open=True),
    help="Requests per second allowed per token (default: unlimited) [env: JEEVES_RATE_LIMIT]",
)
@click.option(
    "--webhook-allow-network",
    "allow_networks",
    multiple=True,
    envvar="JEEVES_WEBHOOK_ALLOW_NETWORKS",
    help="A private network webhooks may reach, e.g. 127.0.0.0/8 (repeatable) "
    "[env: JEEVES_WEBHOOK_ALLOW_NETWORKS, space-separated]",
)
@click.option(
    "--webhook-timeout",
    envvar="JEEVES_WEBHOOK_TIMEOUT",
    default=15.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds one delivery attempt may take [env: JEEVES_WEBHOOK_TIMEOUT]",
)
@click.option(
    "--webhook-lease",
    envvar="JEEVES_WEBHOOK_LEASE",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a claimed delivery stays this process's: after a crash another instance (or "
    "the restarted one) resends it once this runs out; must exceed --webhook-timeout "
    "[env: JEEVES_WEBHOOK_LEASE]",
)
@click.option(
    "--log-level",
    envvar="JEEVES_LOG_LEVEL",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="The least severe log lines written (every transition is info) [env: JEEVES_LOG_LEVEL]",
)
@click.option(
    "--access-log/--no-access-log",
    envvar="JEEVES_ACCESS_LOG",
    default=False,
    show_default=True,
    help="A log line for every request (refused ones, 4xx, are logged anyway) [env: JEEVES_ACCESS_LOG]",
)
def serve(
    database_url: str,
    host: str,
    port: int,
    sweep_interval: float,
    dispatcher: bool,
    rate_limit: Optional[float],
    allow_networks: tuple[str, ...],
    webhook_timeout: float,
    webhook_lease: float,
    log_level: str,
    access_log: bool,
) -> None:
    """Run the HTTP API and the inbox page."""

    from .api import Settings, create_app
    from .api.server import GracefulServer, uvicorn_config
    from .observability.logging import StructuredLogger
    from .observability.metrics import Metrics
    from .services import InterruptService
    from .webhooks import WebhookService

    db = open_database(database_url)
    metrics = Metrics()  # one registry for the service and the dispatcher, served at /metrics
    if webhook_lease <= webhook_timeout:
        raise click.BadParameter("must exceed --webhook-timeout", param_hint="--webhook-lease")
    logger = StructuredLogger(level=log_level)  # one logger: transitions, webhooks, requests
    webhooks = WebhookService(
        db, allow_networks=allow_networks, metrics=metrics, timeout=webhook_timeout, lease=webhook_lease,
        logger=logger,
    )
    service = InterruptService(
        db, sweep_interval=sweep_interval, webhook_service=webhooks, metrics=metrics, logger=logger
    )
    app = create_app(service, Settings(rate_limit=rate_limit, dispatcher=dispatcher, access_log=access_log))

    async def first_run_token() -> None:
        # A newcomer needs a token to sign in to the inbox: on a database without any, make an
        # admin token and print it this once (only its hash is kept).
        await service.start()
        tokens = app.state.tokens
        if not await tokens.list():
            secret, _ = await tokens.create("admin", "admin")
            click.echo(f"No API tokens yet: created an admin token (shown only now):\n\n    {secret}\n")
            click.echo(
                "Sign in to the inbox with it, or create others with "
                "`jeeves tokens create --user U --role responder`.\n"
            )
        await service.stop()

    run(first_run_token())
    # Listen before announcing: a client that reads the line below can connect at once (its
    # connection waits in the backlog), and --port 0 reports the port the system picked.
    try:
        sock = socket.create_server((host, port))
    except OSError as exc:  # e.g. the port is taken: one line, not a traceback
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    # Accepted connections inherit TCP_NODELAY from the listener. uvicorn re-wraps a passed socket
    # with proto 0, so asyncio does not set it per connection: without this line every keep-alive
    # response (headers and body are two sends) waited ~40 ms on Nagle + delayed ACK (bench/).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    bound_port = sock.getsockname()[1]
    click.echo(f"jeeves serving on http://{host}:{bound_port}/ (database {redacted(database_url)})")
    sys.stdout.flush()
    # Event streams and long-polls never finish on their own: give them a few seconds on
    # shutdown, then close them, so Ctrl-C does not hang while an inbox tab is open.
    config = uvicorn_config(app, log_level="warning", timeout_graceful_shutdown=3)
    try:
        GracefulServer(config, on_shutdown=app.state.events.close).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down cleanly
        sys.exit(130)


@main.command()
@database_option
@json_option
def migrate(database_url: str, as_json: bool) -> None:
    """Apply pending database migrations (safe to run any time)."""
    from .store.connector import connector_for
    from .store.migrator import apply_migrations
    from .store.sql import Migration, migrations

    def announce(migration: Migration) -> None:
        if not as_json:
            click.echo(f"applying {migration.version:04d}_{migration.name} ...", err=True)

    db = open_database(database_url)
    connector = connector_for(db)
    known = migrations(connector.dialect)

    async def go() -> list[int]:
        try:
            applied = await apply_migrations(connector, announce)
        finally:
            await db.close()
        return [m.version for m in applied]

    done = run(go())
    versions = [m.version for m in known]
    summary = f"applied {len(done)} migration(s); " if done else "already up to date; "
    emit(
        as_json,
        {"schema_versions": versions, "applied_now": done},
        summary + f"database is at schema version {versions[-1]}",
    )


async def _with_tokens(database_url: str, as_json: bool, job: Callable[[Any], Awaitable[T]]) -> T:
    from .services import InterruptService

    db = open_existing_database(database_url, quiet=as_json)
    service = InterruptService(db, sweep_interval=0)
    await service.start()  # applies migrations, which create the token table
    try:
        return await job(service.backend.tokens)
    finally:
        await service.stop()


@main.group()
def tokens() -> None:
    """Create, list and revoke API tokens."""


def _over_api(server: Optional[str], token: Optional[str]) -> Optional[tuple[str, str]]:
    """(server, token) when a command is to go through a server's API, else None."""
    if server is None:
        return None
    if not token:
        raise click.BadParameter("--server needs an admin's --token (or JEEVES_TOKEN)", param_hint="--token")
    return server, token


def _token_line(record: dict[str, Any]) -> str:
    return (f"{record['id']:<16}  {record['role']:<9} {record['user_id']:<16} {record['created_at']:<32} "
            f"{record['revoked_at'] or '-'}")


@tokens.command("create")
@database_option
@server_option
@admin_token_option
@json_option
@click.option("--user", "user_id", required=True, help="The user the token acts as.")
@click.option("--role", type=click.Choice(["agent", "responder", "admin"]), required=True)
@click.option("--group", "groups", multiple=True, help="A group the user answers for (repeatable).")
def tokens_create(
    database_url: str,
    server: Optional[str],
    token: Optional[str],
    as_json: bool,
    user_id: str,
    role: str,
    groups: tuple[str, ...],
) -> None:
    """Create a token; it is printed once and stored only as a hash."""
    remote = _over_api(server, token)
    if remote is not None:
        body = {"user_id": user_id, "role": role, "groups": list(groups)}
        created = _admin_call(*remote, "POST", "/v1/tokens", body)
    else:
        secret, record = run(
            _with_tokens(database_url, as_json, lambda registry: registry.create(user_id, role, groups))
        )
        created = {"token": secret, **record.to_dict()}
    emit(as_json, created, created["token"])


@tokens.command("list")
@database_option
@server_option
@admin_token_option
@json_option
def tokens_list(database_url: str, server: Optional[str], token: Optional[str], as_json: bool) -> None:
    """List tokens (never their secrets)."""
    remote = _over_api(server, token)
    if remote is not None:
        records: list[dict[str, Any]] = _admin_call(*remote, "GET", "/v1/tokens")
    else:
        stored = run(_with_tokens(database_url, as_json, lambda registry: registry.list()))
        records = [record.to_dict() for record in stored]
    header = f"{'ID':<16}  {'ROLE':<9} {'USER':<16} {'CREATED':<32} REVOKED"
    lines = [_token_line(record) for record in records]
    emit(as_json, records, "\n".join([header, *lines]) if lines else "no tokens")


@tokens.command("revoke")
@database_option
@server_option
@admin_token_option
@json_option
@click.argument("token_id")
def tokens_revoke(
    database_url: str, server: Optional[str], token: Optional[str], as_json: bool, token_id: str
) -> None:
    """Revoke a token by its id (from `jeeves tokens list`)."""
    remote = _over_api(server, token)
    if remote is not None:
        _admin_call(*remote, "POST", f"/v1/tokens/{quote(token_id, safe='')}/revoke")
    elif not run(_with_tokens(database_url, as_json, lambda registry: registry.revoke(token_id))):
        fail(InterruptNotFoundError(token_id, f"no live token with id {token_id!r}"))
    emit(as_json, {"revoked": token_id}, f"revoked {token_id}")


@main.command()
@database_option
@json_option
def expire(database_url: str, as_json: bool) -> None:
    """Expire every pending interrupt past its expiry now."""
    from .services import InterruptService

    db = open_existing_database(database_url, quiet=as_json)

    async def go() -> int:
        async with InterruptService(db, sweep_interval=0) as service:
            return await service.expire_pending()

    count = run(go())
    emit(as_json, {"expired": count}, f"expired {count} interrupt(s)")


# -- talking to a server ----------------------------------------------------------------------


def _json_object(
    text: Optional[str],
    error: type[InvalidInterruptError] | type[InvalidResponseError],
    option: str = "--data",
) -> Optional[dict[str, Any]]:
    """--data (or another JSON option): a JSON object, or a bad-input exit naming the option."""
    if text is None:
        return None
    field = option.removeprefix("--").replace("-", "_")
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(error(f"{option} is not JSON: {exc}", field=field))
    if not isinstance(value, dict):
        fail(error(f"{option} must be a JSON object", field=field))
    return value


def _remote(url: str, token: str, job: Callable[[RemoteInterruptService], Awaitable[T]]) -> T:
    async def go() -> T:
        async with RemoteInterruptService(url, token, via="cli") as remote:
            return await job(remote)

    return run(go())


@main.command("list")
@url_option
@token_option
@json_option
@click.option("--status", type=click.Choice(["pending", "resolved", "cancelled", "expired"]))
@click.option("--user", "user_id")
@click.option("--session", "session_id")
@click.option("--request", "request_id")
@click.option("--kind", type=click.Choice([kind.value for kind in InterruptKind]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
def list_command(url: str, token: str, as_json: bool, limit: int, **filters: Optional[str]) -> None:
    """List interrupts, newest first."""
    items, cursor = _remote(url, token, lambda remote: remote.list_interrupts(limit=limit, **filters))
    emit(
        as_json,
        {"items": [item.to_dict() for item in items], "next_cursor": cursor},
        "\n".join(describe(item) for item in items) or "no interrupts",
    )


@main.command()
@url_option
@token_option
@json_option
@click.option("--kind", type=click.Choice([kind.value for kind in InterruptKind]), default="clarification",
              show_default=True)
@click.option("--user", "user_id", required=True, help="Who should answer.")
@click.option("--session", "session_id", required=True, help="The agent run it belongs to.")
@click.option("--request", "request_id", help="The agent's request id (default: a new one).")
@click.option("--question", help="What to ask (clarification, confirmation).")
@click.option("--message", help="What to tell (review, checkpoint, notices).")
@click.option("--data", "data_json", help="Context as a JSON object.")
@click.option("--ttl", type=click.FloatRange(min=0, min_open=True), help="Seconds until it expires.")
@click.option(
    "--wait", "wait_seconds", type=click.FloatRange(min=0), help="Then wait this many seconds for the answer."
)
@click.option("--on-expire", type=click.Choice(["expire", "reject", "approve"]),
              help="What its expiry does (reject/approve: confirmations and reviews).")
@click.option("--forbid-self-approval", is_flag=True, help="Refuse answers from this token's user.")
@click.option("--response-schema", "schema_json", help="A JSON Schema the answer's data must match.")
@click.option("--remind-after", "remind_after", type=click.FloatRange(min=0, min_open=True), multiple=True,
              help="Seconds after which to announce it again while pending (repeatable).")
@click.option("--responder", "responder_users", multiple=True,
              help="Another user who may answer (repeatable).")
@click.option("--responder-group", "responder_groups", multiple=True,
              help="A group whose members may answer (repeatable; see tokens create --group).")
def ask(
    url: str,
    token: str,
    as_json: bool,
    kind: str,
    user_id: str,
    session_id: str,
    request_id: Optional[str],
    question: Optional[str],
    message: Optional[str],
    data_json: Optional[str],
    ttl: Optional[float],
    wait_seconds: Optional[float],
    on_expire: Optional[str],
    forbid_self_approval: bool,
    schema_json: Optional[str],
    remind_after: tuple[float, ...],
    responder_users: tuple[str, ...],
    responder_groups: tuple[str, ...],
) -> None:
    """Raise an interrupt through the server, as an agent would (and wait for the answer)."""
    from datetime import timedelta

    data = _json_object(data_json, InvalidInterruptError)
    schema = _json_object(schema_json, InvalidInterruptError, "--response-schema")

    async def go(remote: RemoteInterruptService) -> FlowInterrupt:
        created = await remote.create_interrupt(
            InterruptKind(kind), request_id or f"cli-{uuid.uuid4().hex[:12]}", user_id, session_id,
            question=question, message=message, data=data,
            ttl=timedelta(seconds=ttl) if ttl is not None else None,
            on_expire=on_expire, forbid_self_approval=forbid_self_approval or None, response_schema=schema,
            remind_after=[timedelta(seconds=seconds) for seconds in remind_after] or None,
            responders=(
                {"users": list(responder_users), "groups": list(responder_groups)}
                if responder_users or responder_groups
                else None
            ),
        )
        if wait_seconds is None:
            return created
        if not as_json:
            click.echo(f"asked {created.id}; waiting up to {wait_seconds:g} s ...", err=True)
        return await remote.wait_for_response(created.id, wait_seconds)

    interrupt = _remote(url, token, go)
    emit(as_json, interrupt.to_dict(), describe(interrupt))


@main.command()
@url_option
@token_option
@json_option
@click.argument("interrupt_id", required=False)
@click.option("--request", "request_id", help="Every event of this run's interrupts instead.")
@click.option("--session", "session_id", help="Every event of this session's interrupts instead.")
def history(
    url: str,
    token: str,
    as_json: bool,
    interrupt_id: Optional[str],
    request_id: Optional[str],
    session_id: Optional[str],
) -> None:
    """The history of an interrupt (or of a run or session): every event, oldest first."""
    if sum(key is not None for key in (interrupt_id, request_id, session_id)) != 1:
        raise click.UsageError("give one of INTERRUPT_ID, --request and --session")
    events = _remote(
        url,
        token,
        lambda remote: remote.get_history(interrupt_id, request_id=request_id, session_id=session_id),
    )
    emit(
        as_json,
        [{"seq": e.seq, "type": e.type, "sequence": e.sequence, "created_at": format_time(e.created_at),
          "interrupt": e.interrupt.to_dict()} for e in events],
        "\n".join(describe_event(event) for event in events) or "no events",
    )


@main.command()
@url_option
@token_option
@json_option
@click.argument("interrupt_id")
@click.option("--by", "seconds", required=True, type=click.FloatRange(min=0, min_open=True),
              help="How many seconds later it should expire.")
def extend(url: str, token: str, as_json: bool, interrupt_id: str, seconds: float) -> None:
    """Give a pending interrupt more time: move its expiry later."""
    from datetime import timedelta

    extended = _remote(url, token, lambda remote: remote.extend(interrupt_id, timedelta(seconds=seconds)))
    emit(as_json, extended.to_dict(), f"{describe(extended)}\n    now expires at {extended.expires_at}")


@main.command()
@url_option
@token_option
@json_option
def waiting(url: str, token: str, as_json: bool) -> None:
    """Who waits on what (an admin's token): pending interrupts by kind, by user and by age."""
    summary = _remote(url, token, lambda remote: remote.pending_summary())
    lines = [f"{summary['total']} pending"]
    for title, counts in (("by kind", summary["by_kind"]), ("by user", summary["by_user"]),
                          ("by age", summary["by_age"])):
        lines.append(f"{title}:")
        lines.extend(f"  {name:<20} {count}" for name, count in counts.items())
    emit(as_json, summary, "\n".join(lines))


@main.command()
@url_option
@token_option
@json_option
@click.argument("interrupt_id")
def show(url: str, token: str, as_json: bool, interrupt_id: str) -> None:
    """Show one interrupt."""
    found = _remote(url, token, lambda remote: remote.get_interrupt(interrupt_id))
    if found is None:
        fail(InterruptNotFoundError(interrupt_id))
    text = describe(found)
    if found.data:  # an empty {} said nothing
        text += "\n" + json.dumps(found.data, indent=2)
    emit(as_json, found.to_dict(), text)


@main.command()
@url_option
@token_option
@json_option
@click.argument("interrupt_id")
@click.option("--text", help="The answer text (clarifications, reviews).")
@click.option(
    "--approve/--reject", "approved", default=None, help="Approve or reject (confirmations, reviews)."
)
@click.option("--decision", help="A decision (e.g. approve, reject, modify, acknowledge).")
@click.option("--data", "data_json", help="Extra answer data as a JSON object.")
def respond(
    url: str,
    token: str,
    as_json: bool,
    interrupt_id: str,
    text: Optional[str],
    approved: Optional[bool],
    decision: Optional[str],
    data_json: Optional[str],
) -> None:
    """Answer an interrupt as the token's user."""
    data = _json_object(data_json, InvalidResponseError) or {}
    answer = InterruptResponse(text=text, approved=approved, decision=decision, data=data)
    resolved = _remote(url, token, lambda remote: remote.respond_or_raise(interrupt_id, answer))
    emit(as_json, resolved.to_dict(), describe(resolved))


@main.command()
@url_option
@token_option
@json_option
@click.argument("interrupt_id")
@click.option("--reason", help="Why it is cancelled (kept in data.cancel_reason).")
def cancel(url: str, token: str, as_json: bool, interrupt_id: str, reason: Optional[str]) -> None:
    """Cancel a pending interrupt."""
    cancelled = _remote(url, token, lambda remote: remote.cancel_or_raise(interrupt_id, reason))
    emit(as_json, cancelled.to_dict(), describe(cancelled))


@main.command()
@url_option
@token_option
@json_option
@click.option("--user", "user_id", default="admin", show_default=True, help="Whom the interrupts are for.")
@click.option("--timeout", default=600.0, show_default=True, help="How long to wait for the answers.")
def demo(url: str, token: str, as_json: bool, user_id: str, timeout: float) -> None:
    """A simulated agent: raise one interrupt of each main kind, then print each answer as it arrives.

    Open the inbox (signed in as --user) and answer them there, or with `jeeves respond`.
    """

    def report(line: str, record: dict[str, Any]) -> None:
        # One JSON document per line: a script can act on each as it arrives.
        click.echo(json.dumps(record, default=str) if as_json else line)

    _remote(url, token, lambda remote: run_demo(remote, user_id, timeout, report))


# -- webhooks (through the server's admin API) ------------------------------------------------


def _admin_call(
    url: str,
    token: str,
    method: str,
    path: str,
    body: Optional[dict[str, Any]] = None,
    params: Optional[dict[str, Any]] = None,
) -> Any:
    import httpx

    from .client import ServerUnavailableError, error_from_problem

    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            response = http.request(method, path, json=body, params=params)
    except httpx.TransportError as exc:
        fail(ServerUnavailableError(f"cannot reach {url}: {exc!r}"))
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text}
        fail(error_from_problem(response.status_code, problem))
    return response.json() if response.content else None


@main.group()
def webhooks() -> None:
    """Manage webhook subscriptions and deliveries (needs an admin token)."""


@webhooks.command("add")
@url_option
@token_option
@json_option
@click.argument("endpoint")
@click.option(
    "--event", "events", multiple=True, help="Event pattern, e.g. interrupt.* (repeatable; default *)."
)
@click.option("--user", "user_id", help="Only interrupts for this user.")
@click.option("--session", "session_id", help="Only interrupts of this session.")
def webhooks_add(
    url: str,
    token: str,
    as_json: bool,
    endpoint: str,
    events: tuple[str, ...],
    user_id: Optional[str],
    session_id: Optional[str],
) -> None:
    """Subscribe ENDPOINT to events; prints the signing secret once."""
    body: dict[str, Any] = {
        "url": endpoint,
        "events": list(events) or None,
        "user_id": user_id,
        "session_id": session_id,
    }
    created = _admin_call(
        url, token, "POST", "/v1/webhooks", {k: v for k, v in body.items() if v is not None}
    )
    emit(
        as_json,
        created,
        f"{created['id']}  {created['url']}\nsigning secret (shown once): {created['secret']}",
    )


@webhooks.command("list")
@url_option
@token_option
@json_option
def webhooks_list(url: str, token: str, as_json: bool) -> None:
    """List webhook subscriptions."""
    items = _admin_call(url, token, "GET", "/v1/webhooks")["items"]
    lines = [
        f"{s['id']}  {'on ' if s['enabled'] else 'off'} {s['url']}  {','.join(s['events'])}" for s in items
    ]
    emit(as_json, items, "\n".join(lines) or "no webhooks")


@webhooks.command("remove")
@url_option
@token_option
@json_option
@click.argument("subscription_id")
def webhooks_remove(url: str, token: str, as_json: bool, subscription_id: str) -> None:
    """Delete a webhook subscription."""
    _admin_call(url, token, "DELETE", f"/v1/webhooks/{subscription_id}")
    emit(as_json, {"removed": subscription_id}, f"removed {subscription_id}")


@webhooks.command("deliveries")
@url_option
@token_option
@json_option
@click.option("--subscription", "subscription_id")
@click.option("--status", type=click.Choice(["pending", "delivered", "dead"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
def webhooks_deliveries(
    url: str, token: str, as_json: bool, subscription_id: Optional[str], status: Optional[str], limit: int
) -> None:
    """List deliveries, newest first (--status dead: the dead letters)."""
    params = {"subscription_id": subscription_id, "status": status, "limit": limit}
    given = {name: value for name, value in params.items() if value is not None}
    items = _admin_call(url, token, "GET", "/v1/webhooks/deliveries", params=given)["items"]
    lines = [f"{d['id']}  {d['status']:<9} {d['event_type']:<32} attempts={d['attempts']}" for d in items]
    emit(as_json, items, "\n".join(lines) or "no deliveries")


@webhooks.command("redeliver")
@url_option
@token_option
@json_option
@click.argument("delivery_id")
def webhooks_redeliver(url: str, token: str, as_json: bool, delivery_id: str) -> None:
    """Queue a delivery again (e.g. a dead letter), to be tried at once."""
    delivery = _admin_call(url, token, "POST", f"/v1/webhooks/deliveries/{delivery_id}/redeliver")
    emit(as_json, delivery, f"{delivery['id']}  {delivery['status']}")


if __name__ == "__main__":  # pragma: no cover
    main()
