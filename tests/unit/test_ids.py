"""Interrupt ids are RFC 9562 UUIDv7: valid UUID text, version 7, unique, ordered by creation time."""

from __future__ import annotations

import time
import uuid

from jeeves_control_tower.services.ids import new_interrupt_id


def test_ids_are_canonical_uuid7_text() -> None:
    for interrupt_id in (new_interrupt_id() for _ in range(2_000)):
        parsed = uuid.UUID(interrupt_id)
        assert str(parsed) == interrupt_id  # lower-case, hyphenated, 36 characters
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


def test_ids_are_unique() -> None:
    assert len({new_interrupt_id() for _ in range(10_000)}) == 10_000


def test_ids_carry_the_creation_millisecond_and_sort_by_it() -> None:
    before = time.time_ns() // 1_000_000
    first = new_interrupt_id()
    after = time.time_ns() // 1_000_000
    assert before <= int(first.replace("-", "")[:12], 16) <= after
    later = first
    while int(later.replace("-", "")[:12], 16) == int(first.replace("-", "")[:12], 16):
        later = new_interrupt_id()  # spins under a millisecond, until the clock moves on
    assert later > first
