"""Interrupt ids: UUID version 7 (RFC 9562), so ids sort by creation time.

Time-ordered keys land at the right edge of every index b-tree instead of at random pages,
which keeps the hot pages few and cached on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import os
import time

# Version 7 in bits 76-79 and the RFC 9562 variant in bits 62-63, over the random bits.
_CLEAR = ~((0xF << 76) | (0x3 << 62))
_SET = (0x7 << 76) | (0x2 << 62)


def new_interrupt_id() -> str:
    """48 bits of Unix milliseconds, then random bits. Formatted directly (uuid.UUID costs 2x)."""
    milliseconds = time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF
    value = milliseconds << 80 | int.from_bytes(os.urandom(10), "big")  # 74 random bits are kept
    h = f"{value & _CLEAR | _SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
