"""Names shared by the Python code and the `.sql` files: tables, the notification channel and the
journal's event types. tests/integration/test_sql_names.py checks that the `.sql` files spell
no table or channel any other way."""

from __future__ import annotations

from jeeves_protocols import InterruptStatus

__all__ = [
    "INTERRUPTS_TABLE",
    "EVENTS_TABLE",
    "MIGRATIONS_TABLE",
    "TOKENS_TABLE",
    "RESPONDERS_TABLE",
    "WEBHOOK_SUBSCRIPTIONS_TABLE",
    "WEBHOOK_DELIVERIES_TABLE",
    "WEBHOOK_ATTEMPTS_TABLE",
    "WEBHOOK_FANOUT_TABLE",
    "TABLES",
    "WAKE_CHANNEL",
    "TERMINAL_EVENT_TYPES",
]

INTERRUPTS_TABLE = "jeeves_interrupts"
#: The event journal: every transition, in commit order.
EVENTS_TABLE = "jeeves_interrupt_events"
MIGRATIONS_TABLE = "jeeves_schema_migrations"
TOKENS_TABLE = "jeeves_api_tokens"
#: Who may answer an interrupt beyond its user ("user:<id>", "group:<name>").
RESPONDERS_TABLE = "jeeves_interrupt_responders"
WEBHOOK_SUBSCRIPTIONS_TABLE = "jeeves_webhook_subscriptions"
WEBHOOK_DELIVERIES_TABLE = "jeeves_webhook_deliveries"
WEBHOOK_ATTEMPTS_TABLE = "jeeves_webhook_attempts"
#: SQLite only: the fan-out cursor (PostgreSQL marks journal rows instead).
WEBHOOK_FANOUT_TABLE = "jeeves_webhook_fanout"
TABLES = frozenset({
    INTERRUPTS_TABLE,
    EVENTS_TABLE,
    MIGRATIONS_TABLE,
    TOKENS_TABLE,
    RESPONDERS_TABLE,
    WEBHOOK_SUBSCRIPTIONS_TABLE,
    WEBHOOK_DELIVERIES_TABLE,
    WEBHOOK_ATTEMPTS_TABLE,
    WEBHOOK_FANOUT_TABLE,
})

#: PostgreSQL: every journal insert NOTIFYs this channel with the interrupt id; waiters, event
#: streams and webhook dispatchers of every instance LISTEN on it.
WAKE_CHANNEL = "jeeves_interrupts"

#: The journal event each terminal status produces.
TERMINAL_EVENT_TYPES: dict[InterruptStatus, str] = {
    InterruptStatus.RESOLVED: "interrupt.resolved",
    InterruptStatus.CANCELLED: "interrupt.cancelled",
    InterruptStatus.EXPIRED: "interrupt.expired",
}
