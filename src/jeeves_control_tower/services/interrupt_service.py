"""InterruptService: every interrupt kind through one service.

Each operation runs: validate -> config -> expiry -> trace -> store (one atomic step, journal
included) -> log / OTel / webhook. Announcements happen only after the store committed, and a
failing announcer is logged, never allowed to fail the operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Dict, List, Optional

from jeeves_protocols import (
    DEFAULT_INTERRUPT_CONFIGS,
    ApprovalUsedError,
    DatabaseProtocol,
    FlowInterrupt,
    IdempotencyConflictError,
    InterruptConfig,
    InterruptError,
    InterruptExpiredError,
    InterruptKind,
    InterruptNotFoundError,
    InterruptNotPendingError,
    InterruptResponse,
    InterruptStatus,
    InvalidInterruptError,
    LoggerProtocol,
    OTelAdapterProtocol,
    ResponderMismatchError,
    StoreError,
    WaitTimeoutError,
    WebhookServiceProtocol,
)
from jeeves_protocols.config import merge_config
from jeeves_protocols.interrupts import utc_now

from ..backend import open_backend
from ..lifecycle import AsyncLifecycle
from ..observability.logging import StructuredLogger
from ..observability.metrics import Metrics
from ..observability.outages import OutageLog
from ..store import Finish, Guard, InterruptStore
from ..store.base import (
    CONSUMED_EVENT,
    EXTENDED_EVENT,
    REMINDER_EVENT,
    TERMINAL_EVENT_TYPES,
    ChangeListener,
    InterruptEvent,
)
from ..store.listing import EventQuery, InterruptQuery
from . import approvals, schemas
from . import validation as check
from .helpers import InterruptCreationHelpers
from .ids import new_interrupt_id
from .summary import PendingSummary
from .waiters import Waiters

__all__ = [
    "InterruptService",
    "InterruptConfig",
    "DEFAULT_INTERRUPT_CONFIGS",
    "InterruptKind",
    "InterruptStatus",
    "InterruptResponse",
    "FlowInterrupt",
    "DatabaseProtocol",
    "WebhookServiceProtocol",
    "OTelAdapterProtocol",
    "LoggerProtocol",
]

Clock = Callable[[], datetime]

#: Per terminal status: the span around the transition and the log line announcing it.
_SPAN_NAMES = {status: f"jeeves.interrupt.{status.value}" for status in TERMINAL_EVENT_TYPES}
_LOG_EVENTS = {status: f"interrupt_{status.value}" for status in TERMINAL_EVENT_TYPES}

#: Enum member -> its value, for the log line of every change (an Enum's `.value` is a property
#: lookup several times a dict's cost).
_KIND_VALUES = {kind: kind.value for kind in InterruptKind}
_STATUS_VALUES = {status: status.value for status in InterruptStatus}

#: What `_span` gives when the adapter makes no spans: nullcontext is stateless, so one will do.
_NO_SPAN: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()

#: How many interrupts one store call expires; a sweep repeats until nothing is due.
EXPIRE_BATCH = 1_000
#: The most events one `get_history` call returns.
HISTORY_LIMIT = 1_000
#: How often `extend` retries a compare-and-set that another change beat (another extension).
EXTEND_ATTEMPTS = 5


class InterruptService(InterruptCreationHelpers, AsyncLifecycle):
    """The unified service for all interrupt kinds (clarification, confirmation, review, ...).

    Without `db` interrupts live in memory. `db` may be one of the shipped databases
    (`SQLiteDatabase`, `PostgresDatabase`), an `InterruptStore`, or any object satisfying
    `DatabaseProtocol` that speaks PostgreSQL. Use `async with service:` (or `start()`/`stop()`)
    to run the background expiry sweep every `sweep_interval` seconds.
    """

    def __init__(
        self,
        db: Optional[DatabaseProtocol] = None,
        logger: Optional[LoggerProtocol] = None,
        webhook_service: Optional[WebhookServiceProtocol] = None,
        otel_adapter: Optional[OTelAdapterProtocol] = None,
        configs: Optional[Dict[InterruptKind, InterruptConfig]] = None,
        *,
        clock: Clock = utc_now,
        sweep_interval: float = 60.0,
        metrics: Optional[Metrics] = None,
    ) -> None:
        self.db = db
        #: The stores behind `db`: its interrupts (`store`), and the webhook and token stores beside them.
        self.backend = open_backend(db)
        self.store: InterruptStore = self.backend.interrupts
        self.logger: LoggerProtocol = logger if logger is not None else StructuredLogger()
        self.webhook_service = webhook_service
        #: A webhook service that delivers from the journal only needs to hear that it grew.
        self._journal_grew: Optional[Callable[[], None]] = getattr(webhook_service, "journal_grew", None)
        self.otel_adapter = otel_adapter
        #: Prometheus counters, gauge and histogram of this service (`metrics.render()` for /metrics).
        self.metrics = metrics if metrics is not None else Metrics()
        self.configs = _merged_configs(configs)
        #: Kinds whose config sets an approval rule: their interrupts get a policy by default.
        self._kinds_with_rules = frozenset(
            kind for kind, config in self.configs.items()
            if config.on_expire != "expire" or config.forbid_self_approval or config.remind_after
        )
        self._kinds_by_response_shape: dict[tuple[bool, ...], frozenset[InterruptKind]] = {}
        check.require_aware(clock(), "clock()")
        self.clock = clock
        self.sweep_interval = sweep_interval
        self._waiters = Waiters()
        self.store.add_listener(self._waiters.notify)
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._sweeper: Optional[asyncio.Task[None]] = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store (applying migrations) and start the background expiry sweep."""
        await self._ensure_open()
        if self._sweeper is None and self.sweep_interval > 0:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="jeeves-expiry-sweeper")

    async def stop(self) -> None:
        """Stop the sweep, close the store, and write out log lines still buffered."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._opened:
            await self.store.close()
            self._opened = False
        flush = getattr(self.logger, "flush", None)  # the seed's LoggerProtocol has none
        if callable(flush):
            flush()

    async def _ensure_open(self) -> None:
        if self._opened:
            return
        async with self._open_lock:
            if not self._opened:
                await self.store.open()
                self._opened = True

    async def _sweep_forever(self) -> None:
        # The sweep must outlive a failing database: one line when it goes, one when it is back.
        outage = OutageLog(self.logger, "expiry_sweeper")
        while True:
            try:
                await self.expire_pending()
                await self.remind_pending()
            except StoreError as exc:
                outage.failed(exc)
            except Exception as exc:  # a bug, not an outage: each occurrence is worth a line
                self.logger.error("interrupt_sweep_failed", error=str(exc))
            else:
                outage.succeeded()
            await asyncio.sleep(self.sweep_interval)

    # -- creating -------------------------------------------------------------------------

    def _now(self) -> datetime:
        """The injected clock's time, checked on every call: a naive datetime would be stored as
        if it were UTC on SQL stores and break comparisons in memory, so it is refused."""
        moment = self.clock()
        if moment.tzinfo is UTC:  # the default clock's answer, and most injected ones': aware
            return moment
        return check.require_aware(moment, "clock()")

    def get_config(self, kind: InterruptKind) -> InterruptConfig:
        return self.configs[kind]

    async def create_interrupt(
        self,
        kind: InterruptKind,
        request_id: str,
        user_id: str,
        session_id: str,
        envelope_id: Optional[str] = None,
        question: Optional[str] = None,
        message: Optional[str] = None,
        data: Optional[Dict[str, Any]] = None,
        ttl: Optional[timedelta] = None,
        *,
        idempotency_key: Optional[str] = None,
        created_by: Optional[str] = None,
        on_expire: Optional[str] = None,
        forbid_self_approval: Optional[bool] = None,
        response_schema: Optional[Dict[str, Any]] = None,
        remind_after: Optional[List[timedelta]] = None,
        responders: Optional[Dict[str, List[str]]] = None,
    ) -> FlowInterrupt:
        """Create, store and announce an interrupt.

        `ttl=None` takes the kind's default TTL; any explicit `ttl` is used as given (zero or
        negative: already due). Kinds with `auto_expire=False` never expire. With an
        `idempotency_key` already used by the same request, the stored interrupt is returned
        and nothing is announced again (`create_or_replay` says which happened).

        The approval rules (`created_by`, `on_expire`, `forbid_self_approval`, `response_schema`,
        `remind_after`, `responders`; see `ApprovalRules`) override the kind's config for it.
        """
        interrupt, _created = await self.create_or_replay(
            kind, request_id, user_id, session_id, envelope_id, question, message, data, ttl,
            idempotency_key=idempotency_key, created_by=created_by, on_expire=on_expire,
            forbid_self_approval=forbid_self_approval, response_schema=response_schema,
            remind_after=remind_after, responders=responders,
        )
        return interrupt

    async def create_or_replay(
        self,
        kind: InterruptKind,
        request_id: str,
        user_id: str,
        session_id: str,
        envelope_id: Optional[str] = None,
        question: Optional[str] = None,
        message: Optional[str] = None,
        data: Optional[Dict[str, Any]] = None,
        ttl: Optional[timedelta] = None,
        *,
        idempotency_key: Optional[str] = None,
        created_by: Optional[str] = None,
        on_expire: Optional[str] = None,
        forbid_self_approval: Optional[bool] = None,
        response_schema: Optional[Dict[str, Any]] = None,
        remind_after: Optional[List[timedelta]] = None,
        responders: Optional[Dict[str, List[str]]] = None,
    ) -> tuple[FlowInterrupt, bool]:
        """`create_interrupt`, and whether it created the interrupt (False: an idempotent replay
        returned the one the key already made)."""
        kind = check.require_kind(kind)
        ttl = check.require_ttl(ttl)
        config = self.configs[kind]
        now = self._now()
        if ttl is None:
            ttl = config.default_ttl
        data = check.json_data(data)
        if created_by is not None:
            created_by = check.optional_id(created_by, "created_by")
        interrupt = FlowInterrupt(
            id=new_interrupt_id(),
            kind=kind,
            request_id=check.require_id(request_id, "request_id"),
            user_id=check.require_id(user_id, "user_id"),
            session_id=check.require_id(session_id, "session_id"),
            envelope_id=check.optional_id(envelope_id, "envelope_id"),
            question=check.optional_text(question, "question"),
            message=check.optional_text(message, "message"),
            data=data,
            created_at=now,
            expires_at=now + ttl if ttl is not None and config.auto_expire else None,
            idempotency_key=check.optional_id(idempotency_key, "idempotency_key"),
            created_by=created_by,
            action_hash=approvals.action_hash(data) if approvals.approves_an_action(kind) else None,
        )
        # Built only when asked for: an interrupt with no rules pays nothing for them.
        if (
            on_expire is not None or forbid_self_approval is not None or response_schema is not None
            or remind_after is not None or responders is not None
        ) or (self._kinds_with_rules and kind in self._kinds_with_rules):
            if response_schema is not None:  # off the loop: a check of a large schema takes a while
                response_schema = await schemas.in_schema_thread(schemas.require_schema, response_schema)
            interrupt.policy = approvals.build_policy(
                kind,
                config,
                created_by=created_by,
                on_expire=on_expire,
                forbid_self_approval=forbid_self_approval,
                response_schema=response_schema,
                remind_after=remind_after,
                created_at=now,
                responders=responders,
            )
        if self.otel_adapter is not None:
            interrupt.trace_id, interrupt.span_id = self._trace_ids(interrupt.request_id)

        if not self._opened:
            await self._ensure_open()
        with self._span("jeeves.interrupt.create", interrupt):
            stored, created = await self.store.create(interrupt, config.webhook_event)
            if not created:
                if stored.request_id != interrupt.request_id or stored.kind is not kind:
                    raise IdempotencyConflictError(
                        f"idempotency key {idempotency_key!r} already belongs to request "
                        f"{stored.request_id!r} ({stored.kind.value})",
                        field="idempotency_key",
                    )
                return stored, False
            self.metrics.interrupt_created(stored)
            self._announce(config.webhook_event, "interrupt_created", stored)
            if self.webhook_service is not None:
                await self._emit(config.webhook_event, stored)
            return stored, True

    # -- querying -------------------------------------------------------------------------

    async def get_interrupt(self, interrupt_id: str) -> Optional[FlowInterrupt]:
        """The interrupt, or None. One past its expiry is expired on the spot, never shown pending."""
        if not check.could_be_stored(interrupt_id):  # no store holds such an id
            return None
        await self._ensure_open()
        interrupt = await self.store.get(interrupt_id)
        if interrupt is not None and interrupt.is_due(self._now()):
            return await self._expire_now(interrupt_id)
        return interrupt

    async def get_pending_for_request(self, request_id: str) -> Optional[FlowInterrupt]:
        """The newest pending (and not yet due) interrupt of the request, or None."""
        if not check.could_be_stored(request_id):
            return None
        await self._ensure_open()
        return await self.store.pending_for_request(request_id, self._now())

    async def get_pending_for_session(
        self, session_id: str, kinds: Optional[List[InterruptKind]] = None
    ) -> List[FlowInterrupt]:
        """The session's pending (and not yet due) interrupts, oldest first, optionally of some kinds."""
        kind_set = frozenset(check.require_kind(kind) for kind in kinds) if kinds is not None else None
        if not check.could_be_stored(session_id):
            return []
        await self._ensure_open()
        return await self.store.pending_for_session(session_id, kind_set, self._now())

    async def list_interrupts(self, query: InterruptQuery) -> List[FlowInterrupt]:
        """A page of interrupts, newest first by (created_at, id): the HTTP API's listing.

        Lazy expiry holds here too. The pending filter leaves out interrupts past their expiry.
        Without a status filter, one past its expiry is expired on the spot and listed as such.
        The expired filter first expires whatever is due, so none is missing from it.
        """
        keys = (query.user_id, query.session_id, query.request_id, query.before[1] if query.before else None)
        if not all(key is None or check.could_be_stored(key) for key in keys):
            return []  # as the other lookups: a key no store could hold matches nothing, on every store
        await self._ensure_open()
        if query.status is InterruptStatus.EXPIRED:
            await self.expire_pending()
        now = self._now()
        found = await self.store.list_interrupts(replace(query, now=now))
        return [await self._expire_now(i.id, now) if i.is_due(now) else i for i in found]

    async def events(self, query: EventQuery) -> List[InterruptEvent]:
        """A page of the event journal past `query.after_seq` (about the query's user and/or
        session), in commit order: what the live stream and the audit history read."""
        await self._ensure_open()
        return await self.store.events_for(query)

    async def journal_position(self) -> int:
        """The newest journal position: a reader that lists state now and then follows the journal
        from here (`events(EventQuery(after_seq=...))`, or Last-Event-ID) misses nothing."""
        await self._ensure_open()
        return await self.store.journal_position()

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Call `listener(interrupt_id)` whenever an interrupt changes, in this process or (where
        the store can tell) another one; "*" when any may have."""
        self.store.add_listener(listener)

    # -- responding -----------------------------------------------------------------------

    async def respond(
        self,
        interrupt_id: str,
        response: InterruptResponse,
        user_id: Optional[str] = None,
    ) -> Optional[FlowInterrupt]:
        """Resolve the interrupt with `response`; None (and a logged reason) if rejected.

        `respond_or_raise` does the same and raises the reason as a typed `InterruptError`.
        """
        try:
            return await self.respond_or_raise(interrupt_id, response, user_id)
        except InterruptError as exc:
            self._log_rejection("respond", interrupt_id, exc)
            return None

    async def respond_or_raise(
        self,
        interrupt_id: str,
        response: InterruptResponse,
        user_id: Optional[str] = None,
        *,
        groups: Optional[Collection[str]] = None,
    ) -> FlowInterrupt:
        """Resolve the interrupt, or raise why not: InterruptNotFoundError, InterruptNotPendingError
        (InterruptExpiredError), ResponderMismatchError or InvalidResponseError. `user_id` may
        answer if it is the interrupt's user, or its responders name them or one of `groups`."""
        check.check_response_types(response)
        responder = check.optional_id(user_id, "user_id")
        now = self._now()
        received = InterruptResponse(
            text=response.text,
            approved=response.approved,
            decision=response.decision,
            data=check.json_data(response.data, "response.data"),
            received_at=now,
            responder_id=responder if responder is not None else response.responder_id,
            token_id=response.token_id,
            via=response.via or "library",
        )
        if received.data:  # an approval that edits the action (data["action"]) is bound to the edit
            received.action_hash = approvals.answer_hash(received)
        guard = Guard(responder_id=responder, kinds=self._kinds_answered_by(received))
        finish = Finish(InterruptStatus.RESOLVED, now, response=received)
        return await self._finish(interrupt_id, finish, guard, frozenset(groups) if groups else frozenset())

    def _kinds_answered_by(self, response: InterruptResponse) -> frozenset[InterruptKind]:
        """The kinds whose config accepts a response with these fields given. Only which fields
        are given matters, so the answer is worked out once per shape (configs are fixed)."""
        shape = check.response_shape(response)
        kinds = self._kinds_by_response_shape.get(shape)
        if kinds is None:
            kinds = frozenset(
                kind for kind, config in self.configs.items() if check.response_fits(config, response)
            )
            self._kinds_by_response_shape[shape] = kinds
        return kinds

    async def extend(self, interrupt_id: str, by: timedelta) -> FlowInterrupt:
        """Move a pending interrupt's expiry `by` later (journalled as "interrupt.extended", so
        the stream, webhooks and the history see it) and return it. Waiters keep waiting.

        Raises InterruptNotFoundError, InterruptNotPendingError / InterruptExpiredError, and
        InvalidInterruptError for a `by` that is not a positive timedelta or an interrupt that
        never expires. Races with an answer, the expiry or another extension are settled by
        compare-and-set: each extension that returns was applied exactly once."""
        by = check.require_extension(by)
        if not check.could_be_stored(interrupt_id):
            raise InterruptNotFoundError(interrupt_id)
        for _attempt in range(EXTEND_ATTEMPTS):
            current = await self.get_interrupt(interrupt_id)  # one past its expiry ends here
            ended = _not_pending(interrupt_id, current)
            if ended is not None:
                raise ended
            assert current is not None
            if current.expires_at is None:
                raise InvalidInterruptError(
                    f"interrupt {interrupt_id!r} never expires: nothing to extend", field="by"
                )
            now = self._now()
            later = current.expires_at + by
            if later > now + check.MAX_TTL:  # as a ttl is bounded: refused, not quietly clamped
                raise InvalidInterruptError(
                    f"interrupt {interrupt_id!r} would expire more than {check.MAX_TTL.days:,} days from now",
                    field="by",
                )
            outcome = await self.store.extend(interrupt_id, current.expires_at, later, now)
            if outcome.changed:
                extended = outcome.interrupt
                assert extended is not None
                self._log_info("interrupt_extended", extended)
                if self.webhook_service is not None:
                    await self._emit(EXTENDED_EVENT, extended)
                return extended
        raise InterruptNotPendingError(
            interrupt_id, InterruptStatus.PENDING, f"interrupt {interrupt_id!r} kept changing; try again"
        )

    # -- using an approval ----------------------------------------------------------------

    async def verify_approval(self, interrupt_id: str, action: Mapping[str, Any]) -> FlowInterrupt:
        """Check, before executing `action`, that the interrupt approved exactly it and that the
        approval is unused; return the interrupt. Raises InterruptNotFoundError,
        ApprovalNotGrantedError (pending, rejected, cancelled, expired), ApprovalMismatchError
        (another action: tampered, or edited by the approver) or ApprovalUsedError."""
        interrupt, _approved_hash = await self._approval(interrupt_id, action)
        return interrupt

    async def _approval(self, interrupt_id: str, action: Mapping[str, Any]) -> tuple[FlowInterrupt, str]:
        """The interrupt and the hash of `action`, if it holds an unused approval of exactly it."""
        interrupt = await self.get_interrupt(interrupt_id)
        if interrupt is None:
            raise InterruptNotFoundError(interrupt_id)
        return interrupt, approvals.check_use(interrupt, action)

    async def consume(self, interrupt_id: str, action: Mapping[str, Any]) -> FlowInterrupt:
        """`verify_approval`, then mark the approval used, once and atomically (journalled as
        "interrupt.approval_consumed"): of two racing consumers one wins, the other gets
        ApprovalUsedError, as does any later replay."""
        _interrupt, approved_hash = await self._approval(interrupt_id, action)
        outcome = await self.store.consume(interrupt_id, approved_hash, self._now())
        if not outcome.changed:
            if outcome.interrupt is None:
                raise InterruptNotFoundError(interrupt_id)
            approvals.check_use(outcome.interrupt, action)  # raises: used since the check above
            raise ApprovalUsedError(interrupt_id)
        used = outcome.interrupt
        assert used is not None
        self._log_info("interrupt_approval_consumed", used)
        if self.webhook_service is not None:
            await self._emit(CONSUMED_EVENT, used)
        return used

    # -- history --------------------------------------------------------------------------

    async def get_history(
        self,
        interrupt_id: Optional[str] = None,
        *,
        request_id: Optional[str] = None,
        session_id: Optional[str] = None,
        limit: int = HISTORY_LIMIT,
    ) -> List[InterruptEvent]:
        """Every journal event of one interrupt, or of every interrupt of a run (`request_id`)
        or session, oldest first: creation, the ending (who answered, how, when), the use of
        an approval. Exactly one of the three keys; at most `limit` events."""
        keys = {"interrupt_id": interrupt_id, "request_id": request_id, "session_id": session_id}
        given = {name: value for name, value in keys.items() if value is not None}
        if len(given) != 1:
            raise InvalidInterruptError(
                "get_history takes exactly one of interrupt_id, request_id and session_id",
                field="interrupt_id",
            )
        (name, value), = given.items()
        check.require_id(value, name)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= HISTORY_LIMIT:
            raise InvalidInterruptError(f"limit must be 1 to {HISTORY_LIMIT}", field="limit")
        if not check.could_be_stored(value):
            return []
        await self._ensure_open()
        if interrupt_id is not None:
            await self.get_interrupt(interrupt_id)  # one past its expiry ends now, and shows it
        query = EventQuery(
            limit=limit, interrupt_id=interrupt_id, request_id=request_id, session_id=session_id
        )
        return await self.store.events_for(query)

    async def pending_summary(self) -> PendingSummary:
        """Who waits on what: pending interrupts counted by kind, by addressee and by age."""
        await self._ensure_open()
        now = self._now()
        ages = (now - timedelta(hours=1), now - timedelta(days=1), now - timedelta(days=7))
        return PendingSummary.of(await self.store.pending_summary(now, ages), now)

    # -- cancellation and expiry ----------------------------------------------------------

    async def cancel(self, interrupt_id: str, reason: Optional[str] = None) -> Optional[FlowInterrupt]:
        """Cancel a pending interrupt; the reason is kept in `data["cancel_reason"]`. None if rejected."""
        try:
            return await self.cancel_or_raise(interrupt_id, reason)
        except InterruptError as exc:
            self._log_rejection("cancel", interrupt_id, exc)
            return None

    async def cancel_or_raise(self, interrupt_id: str, reason: Optional[str] = None) -> FlowInterrupt:
        """Cancel a pending interrupt, or raise why not (not found, not pending, expired)."""
        reason = check.optional_text(reason, "reason", check.MAX_REASON_LENGTH)
        finish = Finish(
            InterruptStatus.CANCELLED,
            self._now(),
            data_patch={"cancel_reason": reason} if reason is not None else None,
        )
        return await self._finish(interrupt_id, finish, Guard(policy_checked=True))  # no answer to check

    async def expire_pending(self) -> int:
        """Expire every pending interrupt past its expiry; returns how many. Safe to run anywhere."""
        await self._ensure_open()
        now = self._now()
        total = 0
        while True:
            expired = await self.store.expire_due(now, EXPIRE_BATCH)
            for interrupt in expired:
                await self._announce_terminal(interrupt)
            total += len(expired)
            if len(expired) < EXPIRE_BATCH:
                return total

    async def remind_pending(self) -> int:
        """Send every reminder that is due (the sweep does, every `sweep_interval`); how many.
        Each is journalled as "interrupt.reminder" once, however many instances sweep."""
        await self._ensure_open()
        now = self._now()
        total = 0
        while True:
            reminded = await self.store.remind_due(now, EXPIRE_BATCH)
            for interrupt in reminded:
                self._announce(REMINDER_EVENT, "interrupt_reminder", interrupt)
                if self.webhook_service is not None:
                    await self._emit(REMINDER_EVENT, interrupt)
            total += len(reminded)
            if len(reminded) < EXPIRE_BATCH:
                return total

    # -- waiting --------------------------------------------------------------------------

    async def wait_for_response(
        self, interrupt_id: str, timeout: Optional[float] = None
    ) -> FlowInterrupt:
        """Block until the interrupt leaves pending (resolved, cancelled or expired) and return it.

        Returns at once if it already has. Woken by the store's change push; expires the
        interrupt itself when its expiry passes first. Raises InterruptNotFoundError for an
        unknown id and WaitTimeoutError after `timeout` seconds.
        """
        timeout = check.optional_timeout(timeout)
        if not check.could_be_stored(interrupt_id):
            raise InterruptNotFoundError(interrupt_id)
        await self._ensure_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        woken = self._waiters.register(interrupt_id)
        try:
            while True:
                woken.clear()
                interrupt = await self.store.get(interrupt_id)
                if interrupt is None:
                    raise InterruptNotFoundError(interrupt_id)
                if interrupt.status is not InterruptStatus.PENDING:
                    return interrupt
                now = self._now()
                if interrupt.is_due(now):
                    ended = await self._expire_now(interrupt_id)
                    if ended.status is not InterruptStatus.PENDING:
                        return ended
                    continue  # its deadline moved since the read (extended): look again
                delay = self._next_look(interrupt, now, deadline)
                if delay is not None and delay <= 0:
                    raise WaitTimeoutError(interrupt_id, float(timeout or 0))
                # asyncio.timeout, not wait_for: wait_for runs the wait as a task of its own, and the
                # waiter then resumes a loop turn later (under load, a turn holds a group commit).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await woken.wait()
        finally:
            self._waiters.unregister(interrupt_id, woken)

    def _next_look(
        self, interrupt: FlowInterrupt, now: datetime, deadline: Optional[float]
    ) -> Optional[float]:
        """Seconds until the waiter must look again without a push: deadline, expiry or poll."""
        delays = []
        if deadline is not None:
            delays.append(deadline - time.monotonic())
        if interrupt.expires_at is not None:
            delays.append(max((interrupt.expires_at - now).total_seconds(), 0.0))
        if self.store.wake_poll_interval is not None:
            delays.append(self.store.wake_poll_interval)
        return min(delays) if delays else None

    # -- internals ------------------------------------------------------------------------

    async def _finish(
        self, interrupt_id: str, finish: Finish, guard: Guard, groups: frozenset[str] = frozenset()
    ) -> FlowInterrupt:
        if not check.could_be_stored(interrupt_id):  # a store would refuse to bind it; none holds it
            raise InterruptNotFoundError(interrupt_id)
        if not self._opened:
            await self._ensure_open()
        # The span is made once the outcome is known, dated from here: an interrupt that changed
        # carries the agent's trace context, and its span belongs in the agent's trace.
        started = time.time_ns()
        outcome = await self.store.finish(interrupt_id, finish, guard)
        if not outcome.changed and _policy_to_check(outcome.interrupt, finish, guard):
            current, response = outcome.interrupt, finish.response
            assert current is not None and response is not None
            try:
                if "response_schema" in current.policy:  # off the loop: see services/schemas.py
                    await schemas.in_schema_thread(
                        approvals.check_answer, current, response, guard.responder_id, groups
                    )
                else:
                    approvals.check_answer(current, response, guard.responder_id, groups)
            except InterruptError as refused:
                span_name = _SPAN_NAMES[finish.status]
                with self._span(span_name, None, interrupt_id=interrupt_id, start_time=started):
                    raise refused from None
            # Responders beyond its user were checked above: the store's user check would refuse them.
            responder = None if "responders" in current.policy else guard.responder_id
            checked = Guard(responder, guard.kinds, policy_checked=True)
            outcome = await self.store.finish(interrupt_id, finish, checked)
        if outcome.changed:
            interrupt = outcome.interrupt
            assert interrupt is not None
            with self._span(_SPAN_NAMES[finish.status], interrupt, start_time=started, in_its_trace=True):
                await self._announce_terminal(interrupt)
            return interrupt
        with self._span(_SPAN_NAMES[finish.status], None, interrupt_id=interrupt_id, start_time=started):
            raise await self._rejection(interrupt_id, outcome.interrupt, finish, guard)

    async def _rejection(
        self, interrupt_id: str, current: Optional[FlowInterrupt], finish: Finish, guard: Guard
    ) -> InterruptError:
        """Why a compare-and-set changed nothing, from the state it found."""
        ended = _not_pending(interrupt_id, current)
        if ended is not None:
            return ended
        assert current is not None
        if current.is_due(finish.at):
            expired = await self._expire_now(interrupt_id, finish.at)
            if expired.status is InterruptStatus.EXPIRED:
                return InterruptExpiredError(interrupt_id)
            return InterruptNotPendingError(interrupt_id, expired.status)
        if guard.responder_id is not None and current.user_id != guard.responder_id:
            return ResponderMismatchError(interrupt_id, guard.responder_id)
        return check.response_problem(current.kind, self.configs[current.kind])

    async def _expire_now(self, interrupt_id: str, now: Optional[datetime] = None) -> FlowInterrupt:
        """Expire one due interrupt (if nobody else ended it first) and return its final state."""
        expired = await self.store.expire_due(now or self._now(), 1, interrupt_id)
        for interrupt in expired:
            await self._announce_terminal(interrupt)
            return interrupt
        current = await self.store.get(interrupt_id)
        if current is None:
            raise InterruptNotFoundError(interrupt_id)
        return current

    async def _announce_terminal(self, interrupt: FlowInterrupt) -> None:
        self.metrics.interrupt_finished(interrupt)
        event_type = TERMINAL_EVENT_TYPES[interrupt.status]
        self._announce(event_type, _LOG_EVENTS[interrupt.status], interrupt)
        if self.webhook_service is not None:
            await self._emit(event_type, interrupt)

    def _announce(self, event_type: str, log_event: str, interrupt: FlowInterrupt) -> None:
        """Log and trace a committed change (the check inline: it runs on every one)."""
        self._log_info(log_event, interrupt)
        if self.otel_adapter is not None:
            self._record(event_type, interrupt)

    def _trace_ids(self, request_id: str) -> tuple[Optional[str], Optional[str]]:
        if self.otel_adapter is None:
            return None, None
        try:
            context = self.otel_adapter.get_trace_context(request_id)
        except Exception as exc:
            self.logger.warning("otel_trace_context_failed", request_id=request_id, error=str(exc))
            return None, None
        return _trace_field(context, "trace_id", 32), _trace_field(context, "span_id", 16)

    def _log_info(self, event: str, interrupt: FlowInterrupt) -> None:
        self.logger.info(
            event,
            interrupt_id=interrupt.id,
            kind=_KIND_VALUES[interrupt.kind],
            status=_STATUS_VALUES[interrupt.status],
            request_id=interrupt.request_id,
            session_id=interrupt.session_id,
            user_id=interrupt.user_id,
        )

    def _log_rejection(self, operation: str, interrupt_id: str, exc: InterruptError) -> None:
        self.logger.warning(
            f"interrupt_{operation}_rejected", interrupt_id=interrupt_id, reason=exc.code, error=exc.message
        )

    def _span(
        self,
        name: str,
        interrupt: Optional[FlowInterrupt],
        interrupt_id: Optional[str] = None,
        *,
        start_time: Optional[int] = None,
        in_its_trace: bool = False,
    ) -> contextlib.AbstractContextManager[Any]:
        """A span around one operation, if the adapter makes spans (the seed's protocol does not).
        `in_its_trace`: a child of the span that created `interrupt` (its stored trace context),
        linked to the caller's own span; `start_time` (ns since the epoch): when it began."""
        make_span = getattr(self.otel_adapter, "span", None)
        if make_span is None:
            return _NO_SPAN
        placement: dict[str, Any] = {}
        if start_time is not None:
            placement["start_time"] = start_time
        if in_its_trace and interrupt is not None and interrupt.trace_id and interrupt.span_id:
            placement["parent"] = (interrupt.trace_id, interrupt.span_id)
        attributes: dict[str, Any] = {}
        if interrupt is not None:
            attributes = {
                "interrupt.id": interrupt.id,
                "interrupt.kind": interrupt.kind.value,
                "interrupt.request_id": interrupt.request_id,
                "interrupt.session_id": interrupt.session_id,
            }
        if interrupt_id is not None:
            attributes["interrupt.id"] = interrupt_id
        span: contextlib.AbstractContextManager[Any] = make_span(name, **placement, **attributes)
        return span

    def _record(self, name: str, interrupt: FlowInterrupt) -> None:
        if self.otel_adapter is None:
            return
        try:
            self.otel_adapter.record_event(
                name,
                interrupt.request_id,
                {
                    "interrupt.id": interrupt.id,
                    "interrupt.kind": interrupt.kind.value,
                    "interrupt.status": interrupt.status.value,
                    "interrupt.session_id": interrupt.session_id,
                },
            )
        except Exception as exc:
            self.logger.warning("otel_record_failed", interrupt_id=interrupt.id, error=str(exc))

    async def _emit(self, event_type: str, interrupt: FlowInterrupt) -> None:
        if self.webhook_service is None:
            return
        if self._journal_grew is not None:
            self._journal_grew()
            return
        try:
            await self.webhook_service.emit_event(
                event_type, interrupt.to_dict(), request_id=interrupt.request_id
            )
        except Exception as exc:
            self.logger.error(
                "webhook_emit_failed", interrupt_id=interrupt.id, event_type=event_type, error=str(exc)
            )


def _not_pending(interrupt_id: str, current: Optional[FlowInterrupt]) -> Optional[InterruptError]:
    """Why an interrupt in this state cannot change: it does not exist, or it already ended."""
    if current is None:
        return InterruptNotFoundError(interrupt_id)
    if current.status is InterruptStatus.EXPIRED:
        return InterruptExpiredError(interrupt_id)
    if current.status is not InterruptStatus.PENDING:
        return InterruptNotPendingError(interrupt_id, current.status)
    return None


def _policy_to_check(current: Optional[FlowInterrupt], finish: Finish, guard: Guard) -> bool:
    """Whether a compare-and-set failed only because the interrupt has a policy to check: it is
    pending, not due, and the guard admits it otherwise."""
    return (
        current is not None
        and bool(current.policy)
        and not guard.policy_checked
        and finish.response is not None
        and current.status is InterruptStatus.PENDING
        and not current.is_due(finish.at)
        and guard.admits(
            # With responders beyond its user, who may answer is the policy's to say.
            (guard.responder_id or current.user_id) if "responders" in current.policy else current.user_id,
            current.kind,
            has_policy=False,
        )
    )


def _merged_configs(
    overrides: Optional[Mapping[InterruptKind, InterruptConfig]],
) -> dict[InterruptKind, InterruptConfig]:
    configs = dict(DEFAULT_INTERRUPT_CONFIGS)
    for key, override in (overrides or {}).items():
        kind = check.require_kind(key)
        if not isinstance(override, InterruptConfig):
            raise InvalidInterruptError(
                f"config for {kind.value} must be an InterruptConfig", field="configs"
            )
        configs[kind] = merge_config(configs[kind], override)
        check.require_ttl(configs[kind].default_ttl, f"configs[{kind.value}].default_ttl")
        approvals.check_config(kind, configs[kind], f"configs[{kind.value}]")
    return configs


def _trace_field(context: Any, name: str, hex_width: int) -> Optional[str]:
    """Trace/span id from a mapping, an object with attributes, or an OTel SpanContext (ints)."""
    if context is None:
        return None
    value = context.get(name) if isinstance(context, Mapping) else getattr(context, name, None)
    if isinstance(value, int) and not isinstance(value, bool):
        return format(value, f"0{hex_width}x") if value else None
    return str(value) if value else None
