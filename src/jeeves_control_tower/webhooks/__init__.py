"""Webhooks that never lose an event: subscriptions, signed deliveries from the journal, retries.

The event journal (`jeeves_interrupt_events`, written in the same transaction as each state
change) is the outbox. The dispatcher marks new journal rows as fanned out, creates one delivery
per matching subscription in the same transaction, then leases due deliveries, POSTs them signed
per Standard Webhooks, and records each attempt. A crash loses nothing: unmarked journal rows and
unfinished deliveries are found again by the next dispatcher (a lease expires after `lease` s).

Python API (all methods async; records are frozen dataclasses with `to_dict()`)::

    db = SQLiteDatabase("jeeves.db")                      # or PostgresDatabase(dsn), or MemoryStore()
    webhooks = WebhookService(db)                         # the same db object the service uses
    service = InterruptService(db, webhook_service=webhooks)  # emit_event wakes the dispatcher
    async with webhooks:                                  # start()/stop(): the dispatcher loop
        created = await webhooks.create_subscription(url, ["interrupt.*"], user_id=None,
                                                     session_id=None, secret=None)
        created.secret                                    # shown once; generated whsec_... if not given
        await webhooks.list_subscriptions()               # -> list[Subscription]
        await webhooks.get_subscription(id)               # -> Subscription
        await webhooks.update_subscription(id, url=..., events=..., user_id=..., session_id=..., enabled=...)
        await webhooks.delete_subscription(id)
        await webhooks.rotate_secret(id, overlap=timedelta(hours=24))  # -> CreatedSubscription
        await webhooks.list_deliveries(subscription_id=None, status=None, limit=50)  # -> list[Delivery]
        await webhooks.list_dead_letters(subscription_id=None, limit=50)
        await webhooks.get_delivery(delivery_id)
        await webhooks.redeliver(delivery_id)             # dead -> pending, tried at once
    await webhooks.run_until_idle()                       # burst mode (tests, scripts): no sleeps

Every event not yet fanned out when a subscription exists goes to it (the journal is an outbox,
not a history: rows older than migration 0002 are never sent). Several instances on one
PostgreSQL share the work: fan-out and delivery claims use FOR UPDATE SKIP LOCKED. Their
dispatchers wake on the NOTIFY every terminal transition already sends, and otherwise look every
`poll_interval` (0.25 s; a look is two index scans of empty partial indexes). Creation sends no
NOTIFY on purpose: measured on this machine, a pg_notify in the create statement cut 8 concurrent
creators from ~1,450 to ~400-750 creates/s (NOTIFY serialises commits). In one process,
emit_event wakes the dispatcher at once; on SQLite other processes are seen by polling.
`WebhookService(..., metrics=service.metrics)` counts attempts in Prometheus.

Errors: WebhookNotFoundError (code not_found), InvalidInterruptError (code invalid_input, `.field`).

Payload: `{"type", "id", "timestamp", "data": <FlowInterrupt.to_dict()>, "request_id", "sequence"}`
with headers webhook-id (the event id, the same on every retry), webhook-timestamp and
webhook-signature (`v1,<base64 HMAC-SHA256>`; two signatures during a secret rotation overlap).

Retries: 2xx succeeds; errors, timeouts, 429 and 5xx retry on `RetryPolicy.schedule` (default
0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) with jitter, honouring Retry-After; then dead letter.
410 disables the endpoint, as does failing for `RetryPolicy.disable_after` (5 days); both logged.

Safety: 15 s timeout, no redirects, responses read up to 64 KiB, and URLs resolving to loopback,
private, link-local or metadata addresses refused at registration and at connect time unless
their network is listed in `allow_networks` (e.g. ["127.0.0.0/8"] for local receivers).
"""

from .models import Attempt, CreatedSubscription, Delivery, Subscription
from .policy import DEFAULT_SCHEDULE, RetryPolicy
from .service import WebhookNotFoundError, WebhookService
from .signing import generate_secret

__all__ = [
    "Attempt",
    "CreatedSubscription",
    "DEFAULT_SCHEDULE",
    "Delivery",
    "generate_secret",
    "RetryPolicy",
    "Subscription",
    "WebhookNotFoundError",
    "WebhookService",
]
