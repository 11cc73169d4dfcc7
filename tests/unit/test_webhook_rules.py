"""Webhook rules shared by every backend: signatures, patterns, retry schedule, Retry-After."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from jeeves_control_tower.webhooks.policy import RetryPolicy, check_patterns, matches
from jeeves_control_tower.webhooks.sender import _retry_after
from jeeves_control_tower.webhooks.signing import check_secret, generate_secret, signature_header
from jeeves_protocols import InvalidInterruptError

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_signatures_verify_with_the_standardwebhooks_package() -> None:
    secret = generate_secret()
    timestamp = int(datetime.now(UTC).timestamp())
    body = b'{"type":"interrupt.resolved"}'
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header((secret,), "evt_1", timestamp, body),
    }
    assert Webhook(secret).verify(body, headers) == {"type": "interrupt.resolved"}
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)


def test_a_signature_is_the_specs_hmac_of_id_timestamp_and_body() -> None:
    """A known answer worked by hand from the Standard Webhooks spec, so signing and verifying
    with the same package cannot agree on a mistake; both secrets sign during a rotation."""
    key = bytes(range(32))
    secret, other = "whsec_" + base64.b64encode(key).decode(), "whsec_" + base64.b64encode(key[::-1]).decode()
    body = b'{"id":"i1"}'
    expected = [
        "v1," + base64.b64encode(hmac.new(k, b"evt_1.1767225600." + body, hashlib.sha256).digest()).decode()
        for k in (key, key[::-1])
    ]
    assert signature_header((secret, other), "evt_1", 1767225600, body) == " ".join(expected)


def test_generated_secrets_are_whsec_base64_and_distinct() -> None:
    first, second = generate_secret(), generate_secret()
    assert first != second and first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 24


@pytest.mark.parametrize("bad", ["plain", "whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()])
def test_bad_secrets_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInterruptError) as caught:
        check_secret(bad)
    assert caught.value.field == "secret"


@pytest.mark.parametrize(
    ("patterns", "event", "expected"),
    [
        (["*"], "interrupt.resolved", True),
        (["interrupt.*"], "interrupt.resolved", True),
        (["interrupt.resolved"], "interrupt.resolved", True),
        (["interrupt.resolved"], "interrupt.cancelled", False),
        (["other.*"], "interrupt.resolved", False),
        (["interrupt.cancelled", "interrupt.resolved"], "interrupt.resolved", True),
    ],
)
def test_patterns(patterns: list[str], event: str, expected: bool) -> None:
    assert matches(check_patterns(patterns), None, None, event, "u", "s") is expected


def test_user_and_session_filters() -> None:
    assert matches(["*"], "u", None, "interrupt.resolved", "u", "s")
    assert not matches(["*"], "v", None, "interrupt.resolved", "u", "s")
    assert not matches(["*"], None, "t", "interrupt.resolved", "u", "s")


@pytest.mark.parametrize("bad", [[], "interrupt.*", ["inter*rupt"], ["interrupt*"], [""], [3]])
def test_bad_patterns_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInterruptError):
        check_patterns(bad)  # type: ignore[arg-type]


def test_schedule_backs_off_then_dead_letters() -> None:
    policy = RetryPolicy(schedule=(0, 5, 300), jitter=0.1)
    assert policy.next_attempt(0, NOW) == NOW
    second = policy.next_attempt(1, NOW)
    assert second is not None and timedelta(seconds=5) <= second - NOW <= timedelta(seconds=5.5)
    third = policy.next_attempt(2, NOW)
    assert third is not None and timedelta(seconds=300) <= third - NOW <= timedelta(seconds=330)
    assert policy.next_attempt(3, NOW) is None


def test_retry_after_lengthens_but_never_shortens_the_wait() -> None:
    policy = RetryPolicy(schedule=(0, 5, 300), jitter=0)
    assert policy.next_attempt(1, NOW, retry_after=60) == NOW + timedelta(seconds=60)
    assert policy.next_attempt(2, NOW, retry_after=1) == NOW + timedelta(seconds=300)


def test_retry_after_header_forms() -> None:
    assert _retry_after("120") == 120
    assert _retry_after(None) is None
    assert _retry_after("soon") is None
    later = _retry_after("Wed, 21 Oct 2099 07:28:00 GMT")
    assert later is not None and later > 0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0


def test_default_schedule_follows_the_specification() -> None:
    assert RetryPolicy().schedule == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
