"""WebhookService: subscriptions, durable deliveries from the journal, and the dispatcher loop."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Callable, Optional

import httpx

from jeeves_protocols import InterruptError, InvalidInterruptError, LoggerProtocol, StoreError
from jeeves_protocols.interrupts import utc_now

from ..lifecycle import AsyncLifecycle
from ..observability.logging import StructuredLogger
from ..observability.outages import OutageLog
from .models import DEAD, DELIVERED, PENDING, Claim, CreatedSubscription, Delivery, Subscription
from .policy import RetryPolicy, check_patterns
from .sender import send
from .signing import check_secret, generate_secret
from .ssrf import GuardedTransport, UrlGuard
from .storage import AttemptOutcome, WebhookStorage, subscription_from_row

__all__ = ["WebhookService", "WebhookNotFoundError"]

_UNSET: Any = object()


class WebhookNotFoundError(InterruptError):
    """No subscription or delivery with that id exists."""

    code = "not_found"


class WebhookService(AsyncLifecycle):
    """See the package docstring for the API."""

    def __init__(
        self,
        db: Any,
        *,
        retry: Optional[RetryPolicy] = None,
        allow_networks: Iterable[str] = (),
        timeout: float = 15.0,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        clock: Callable[[], datetime] = utc_now,
        lease: float = 60.0,
        poll_interval: float = 0.25,
        batch: int = 100,
        concurrency: int = 16,
        logger: Optional[LoggerProtocol] = None,
        metrics: Any = None,
    ) -> None:
        if lease <= timeout:
            # Otherwise a slow attempt's claim runs out mid-request and another instance sends it too.
            raise InvalidInterruptError("lease must be longer than the request timeout", field="lease")
        from ..backend import open_backend  # backend builds this package's storages: import at use

        self.storage: WebhookStorage = open_backend(db).webhooks
        self.retry = retry if retry is not None else RetryPolicy()
        self.guard = UrlGuard(allow_networks)
        self.clock = clock
        self.lease = timedelta(seconds=lease)
        self.poll_interval = poll_interval
        self.batch = batch
        self.logger: LoggerProtocol = logger if logger is not None else StructuredLogger()
        self.metrics = metrics
        self._transport = transport
        self._timeout = timeout
        self._client: Optional[httpx.AsyncClient] = None
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        self._task: Optional[asyncio.Task[None]] = None
        self._opened = False

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        if not self._opened:
            await self.storage.open(self._wake.set)
            self._opened = True

    async def start(self) -> None:
        """Open the storage and run the dispatcher in the background until stop()."""
        await self.open()
        if self._task is None:
            self._task = asyncio.create_task(self._dispatch_forever(), name="jeeves-webhooks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._opened:
            await self.storage.close()
            self._opened = False

    # -- the seed's WebhookServiceProtocol ----------------------------------------------------

    async def emit_event(
        self, event_type: str, data: dict[str, Any], request_id: Optional[str] = None
    ) -> int:
        """The seed's hook after each commit. The event is already in the journal (the outbox), so
        this only wakes the dispatcher; returns 0 (deliveries are counted later)."""
        self.journal_grew()
        return 0

    def journal_grew(self) -> None:
        """Wake the dispatcher: new events are in the journal. InterruptService calls this instead
        of `emit_event` (and so builds no payload that would be thrown away)."""
        self._wake.set()

    # -- subscriptions ----------------------------------------------------------------------

    async def create_subscription(
        self,
        url: str,
        events: Sequence[str] = ("*",),
        *,
        user_id: Optional[str] = None,
        session_id: Optional[str] = None,
        secret: Optional[str] = None,
        enabled: bool = True,
    ) -> CreatedSubscription:
        await self.open()
        now = self.clock()
        secret = check_secret(secret) if secret is not None else generate_secret()
        subscription_id = f"whsub_{uuid.uuid4().hex}"
        row = {
            "id": subscription_id,
            "url": self.guard.check_url(url),
            "events": check_patterns(events),
            "user_id": _optional_text(user_id, "user_id"),
            "session_id": _optional_text(session_id, "session_id"),
            "secret": secret,
            "enabled": bool(enabled),
            "created_at": now,
            "updated_at": now,
        }
        await self.storage.insert_subscription(row)
        return CreatedSubscription(await self.get_subscription(subscription_id), secret)

    async def get_subscription(self, subscription_id: str) -> Subscription:
        await self.open()
        row = await self.storage.get_subscription(subscription_id)
        if row is None:
            raise WebhookNotFoundError(f"no webhook subscription {subscription_id!r}")
        return subscription_from_row(row)

    async def list_subscriptions(self) -> list[Subscription]:
        await self.open()
        return [subscription_from_row(row) for row in await self.storage.list_subscriptions()]

    async def update_subscription(
        self,
        subscription_id: str,
        *,
        url: str = _UNSET,
        events: Sequence[str] = _UNSET,
        user_id: Optional[str] = _UNSET,
        session_id: Optional[str] = _UNSET,
        enabled: bool = _UNSET,
    ) -> Subscription:
        """Change only the arguments given; enabling an endpoint clears its disabled reason."""
        await self.open()
        changes: dict[str, Any] = {"updated_at": self.clock()}
        if url is not _UNSET:
            changes["url"] = self.guard.check_url(url)
        if events is not _UNSET:
            changes["events"] = check_patterns(events)
        if user_id is not _UNSET:
            changes["user_id"] = _optional_text(user_id, "user_id")
        if session_id is not _UNSET:
            changes["session_id"] = _optional_text(session_id, "session_id")
        if enabled is not _UNSET:
            changes["enabled"] = bool(enabled)
            if enabled:
                changes.update(disabled_reason=None, failing_since=None)
            else:
                changes["disabled_reason"] = "disabled by user"
        if not await self.storage.update_subscription(subscription_id, changes):
            raise WebhookNotFoundError(f"no webhook subscription {subscription_id!r}")
        self._wake.set()
        return await self.get_subscription(subscription_id)

    async def delete_subscription(self, subscription_id: str) -> None:
        await self.open()
        if not await self.storage.delete_subscription(subscription_id):
            raise WebhookNotFoundError(f"no webhook subscription {subscription_id!r}")

    async def rotate_secret(
        self, subscription_id: str, *, secret: Optional[str] = None, overlap: timedelta = timedelta(hours=24)
    ) -> CreatedSubscription:
        """A new signing secret; the old one keeps signing too (a second signature) for `overlap`."""
        await self.open()
        current = await self.storage.get_subscription(subscription_id)
        if current is None:
            raise WebhookNotFoundError(f"no webhook subscription {subscription_id!r}")
        new_secret = check_secret(secret) if secret is not None else generate_secret()
        now = self.clock()
        await self.storage.update_subscription(
            subscription_id,
            {"secret": new_secret, "previous_secret": current["secret"],
             "previous_secret_until": now + overlap, "updated_at": now},
        )
        return CreatedSubscription(await self.get_subscription(subscription_id), new_secret)

    # -- deliveries -------------------------------------------------------------------------

    async def list_deliveries(
        self, subscription_id: Optional[str] = None, status: Optional[str] = None, limit: int = 50
    ) -> list[Delivery]:
        """Newest first, each with its attempts (status code, error, latency, response excerpt)."""
        await self.open()
        if status is not None and status not in (PENDING, DELIVERED, DEAD):
            raise InvalidInterruptError("status must be pending, delivered or dead", field="status")
        return await self.storage.list_deliveries(subscription_id, status, limit)

    async def list_dead_letters(
        self, subscription_id: Optional[str] = None, limit: int = 50
    ) -> list[Delivery]:
        return await self.list_deliveries(subscription_id, DEAD, limit)

    async def get_delivery(self, delivery_id: str) -> Delivery:
        await self.open()
        found = await self.storage.get_delivery(delivery_id)
        if found is None:
            raise WebhookNotFoundError(f"no webhook delivery {delivery_id!r}")
        return found

    async def redeliver(self, delivery_id: str) -> Delivery:
        """Queue a dead (or delivered) delivery again, to be tried at once; its attempts go on counting."""
        await self.open()
        if not await self.storage.redeliver(delivery_id, self.clock()):
            await self.get_delivery(delivery_id)  # raises not found
            raise InvalidInterruptError("the delivery is still pending", field="delivery_id")
        self._wake.set()
        return await self.get_delivery(delivery_id)

    # -- the dispatcher -----------------------------------------------------------------------

    async def run_once(self) -> int:
        """Fan out new journal events and try every due delivery once; how much work was done."""
        await self.open()
        now = self.clock()
        fanned = await self.storage.fan_out(now, self.batch)
        # No more claims than can be in flight at once: a claim queued behind slow endpoints
        # could outlive its lease and be taken (and sent again) by another instance.
        claims = await self.storage.claim(now, now + self.lease, min(self.batch, self.concurrency))
        await asyncio.gather(*(self._deliver(claim) for claim in claims))
        return fanned + len(claims)

    async def run_until_idle(self, max_wait: float = 5.0) -> int:
        """Burst mode for tests and scripts: work until nothing is due within `max_wait` seconds."""
        done = 0
        while True:
            worked = await self.run_once()
            done += worked
            if worked:
                continue
            due = await self.storage.next_due()
            if due is None:
                return done
            wait = (due - self.clock()).total_seconds()
            if wait > max_wait:
                return done
            # A retry falls due shortly (or another instance holds a lease): wait for that moment.
            await asyncio.sleep(min(max(wait, 0.005), max_wait))

    async def _dispatch_forever(self) -> None:
        # A failing database must not end the loop: it retries every poll interval, and logs one
        # line when the outage starts and one when it ends (not one per tick).
        outage = OutageLog(self.logger, "webhook_dispatcher")
        while True:
            # Cleared before looking, not after: a wake-up arriving while we look is kept.
            self._wake.clear()
            try:
                worked = await self.run_once()
            except StoreError as exc:
                outage.failed(exc)
                worked = 0
            except Exception as exc:  # a bug, not an outage: each occurrence is worth a line
                self.logger.error("webhook_dispatch_failed", error=str(exc))
                worked = 0
            else:
                outage.succeeded()
            if worked:
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # No redirects: a 3xx is a failed attempt, never a hop to an address we did not check.
            self._client = httpx.AsyncClient(
                transport=GuardedTransport(self.guard, self._transport),
                timeout=self._timeout,
                follow_redirects=False,
            )
        return self._client

    async def _deliver(self, claim: Claim) -> None:
        now = self.clock()
        result = await send(self._http(), claim, now)
        attempt = result.attempt
        if result.success:
            outcome = AttemptOutcome(attempt, DELIVERED, None)
        elif result.gone:
            outcome = AttemptOutcome(attempt, DEAD, None, disable_reason="endpoint answered 410 Gone")
        else:
            retry_at = self.retry.next_attempt(attempt.number, now, result.retry_after)
            outcome = AttemptOutcome(
                attempt,
                PENDING if retry_at is not None else DEAD,
                retry_at,
                failing_cutoff=now - self.retry.disable_after,
            )
        disabled = await self.storage.record(claim, outcome, self.clock())
        if self.metrics is not None:
            self.metrics.webhook_attempt(result.success, attempt.latency_ms / 1000)
        if not result.success:
            self.logger.warning(
                "webhook_attempt_failed", delivery_id=claim.delivery_id, event_id=claim.event_id,
                url=claim.url, attempt=attempt.number, status_code=attempt.status_code,
                error=attempt.error, dead=outcome.status == DEAD,
            )
        if disabled:
            # Announced: an operator must learn that an endpoint stopped receiving events.
            self.logger.error(
                "webhook_endpoint_disabled", subscription_id=claim.subscription_id, url=claim.url,
                reason=outcome.disable_reason or "failing for too long",
            )


def _optional_text(value: Optional[str], field: str) -> Optional[str]:
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidInterruptError(f"{field} must be a non-empty string or None", field=field)
    return value
