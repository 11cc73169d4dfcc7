"""One signed HTTP attempt and its classification (success, retry, gone)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Optional

import httpx

from .models import Attempt, Claim
from .policy import payload_body
from .signing import signature_header

__all__ = ["send", "SendResult", "MAX_RESPONSE_BYTES"]

#: Only this much of a response is read (and kept as the excerpt's source).
MAX_RESPONSE_BYTES = 64 * 1024
EXCERPT_CHARS = 500


@dataclass(frozen=True, slots=True)
class SendResult:
    attempt: Attempt
    success: bool
    gone: bool
    retry_after: Optional[float]


async def send(client: httpx.AsyncClient, claim: Claim, now: datetime) -> SendResult:
    body = payload_body(claim)
    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "jeeves-control-tower-webhooks",
        "webhook-id": claim.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(claim.secrets, claim.event_id, timestamp, body),
    }
    number = claim.attempts + 1
    started = time.perf_counter()
    try:
        async with client.stream("POST", claim.url, content=body, headers=headers) as response:
            excerpt = await _excerpt(response)
    except httpx.HTTPError as exc:
        latency = (time.perf_counter() - started) * 1000
        failure = f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS]
        return SendResult(Attempt(number, now, None, failure, latency, None), False, False, None)
    latency = (time.perf_counter() - started) * 1000
    code = response.status_code
    success = 200 <= code < 300
    error = None if success else f"HTTP {code}"
    attempt = Attempt(number, now, code, error, latency, excerpt)
    # Retry-After (seconds or an HTTP date) comes with 429 and 503.
    retry_after = _retry_after(response.headers.get("retry-after")) if code in (429, 503) else None
    return SendResult(attempt, success, code == 410, retry_after)


async def _excerpt(response: httpx.Response) -> str:
    """Read at most MAX_RESPONSE_BYTES: a huge or endless response body cannot hold the dispatcher."""
    received = bytearray()
    async for chunk in response.aiter_raw():
        received.extend(chunk)
        if len(received) >= MAX_RESPONSE_BYTES:
            break
    return bytes(received[:EXCERPT_CHARS]).decode("utf-8", "replace")


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
