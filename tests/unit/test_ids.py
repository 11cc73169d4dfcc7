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


def test_a_forked_child_does_not_repeat_its_parents_random_bits() -> None:
    import os

    new_interrupt_id()  # the parent now holds a part-used buffer of random bytes
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        os.write(write_end, ",".join(new_interrupt_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        child = pipe.read().split(",")
    parent = [new_interrupt_id() for _ in range(50)]
    random_part = {i.replace("-", "")[13:] for i in parent}  # past the millisecond and version
    assert len(child) == 50 and not random_part & {i.replace("-", "")[13:] for i in child}


def test_threads_never_share_random_bits() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(lambda _: [new_interrupt_id() for _ in range(2_000)], range(8)))
    assert len({i for batch in batches for i in batch}) == 16_000
