"""Interrupt ids: UUID version 7 (RFC 9562), so ids sort by creation time.

Time-ordered keys land at the right edge of every index b-tree instead of at random pages,
which keeps the hot pages few and cached on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import os
import time
import uuid


def new_interrupt_id() -> str:
    milliseconds = time.time_ns() // 1_000_000
    value = int.from_bytes(os.urandom(10), "big")  # 80 random bits; 74 of them are kept
    value = (milliseconds & 0xFFFF_FFFF_FFFF) << 80 | value
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))
