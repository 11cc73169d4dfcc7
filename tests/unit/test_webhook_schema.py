"""The webhook routes' schema states what the service checks: anything its patterns admit, the
service accepts (apart from where a URL points, which depends on DNS and the allow-list)."""

from __future__ import annotations

import ipaddress
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from jeeves_control_tower.api.webhooks import EVENT_PATTERN, SECRET_PATTERN, URL_PATTERN
from jeeves_control_tower.webhooks.policy import check_patterns
from jeeves_control_tower.webhooks.signing import check_secret, generate_secret
from jeeves_control_tower.webhooks.ssrf import UrlGuard
from jeeves_protocols import InvalidInterruptError


@settings(max_examples=300, deadline=None)
@given(st.lists(st.from_regex(EVENT_PATTERN, fullmatch=True), min_size=1, max_size=5))
def test_every_event_pattern_the_schema_admits_is_accepted(patterns: list[str]) -> None:
    assert check_patterns(patterns) == tuple(patterns)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(SECRET_PATTERN, fullmatch=True))
def test_every_secret_the_schema_admits_is_accepted(secret: str) -> None:
    assert check_secret(secret) == secret


def test_generated_secrets_fit_the_schema() -> None:
    assert all(re.fullmatch(SECRET_PATTERN, generate_secret()) for _ in range(50))


@settings(max_examples=300, deadline=None)
@given(st.from_regex(URL_PATTERN, fullmatch=True))
def test_every_url_the_schema_admits_is_judged_only_by_where_it_points(url: str) -> None:
    # A resolver that answers a public address: only the form is on trial here.
    guard = UrlGuard((), resolver=lambda host, port: [ipaddress.ip_address("93.184.216.34")])
    try:
        guard.check_url(url)
    except InvalidInterruptError as exc:  # where it points may refuse it, never its form
        assert "resolve" in exc.message or "address" in exc.message, (url, exc.message)
