"""Who waits on what: the pending interrupts counted by kind, by addressee and by age."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jeeves_protocols.interrupts import format_time

from ..store.base import PendingGroup

__all__ = ["AGE_BUCKETS", "PendingSummary"]

#: The age buckets, youngest first, as `PendingGroup.age` numbers them.
AGE_BUCKETS = ("under_1h", "1h_to_1d", "1d_to_7d", "over_7d")


@dataclass(frozen=True)
class PendingSummary:
    """Counts of the interrupts pending (and not yet due) at `at`."""

    at: datetime
    total: int
    by_kind: dict[str, int] = field(default_factory=dict)
    #: By the user each is addressed to (`user_id`), most waiting first.
    by_user: dict[str, int] = field(default_factory=dict)
    #: Every bucket of AGE_BUCKETS, in order, zero where none waits.
    by_age: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, groups: Iterable[PendingGroup], at: datetime) -> PendingSummary:
        kinds: Counter[str] = Counter()
        users: Counter[str] = Counter()
        ages: Counter[int] = Counter()
        for group in groups:
            kinds[group.kind] += group.waiting
            users[group.user_id] += group.waiting
            ages[group.age] += group.waiting
        return cls(
            at=at,
            total=sum(kinds.values()),
            by_kind=dict(sorted(kinds.items())),
            by_user=dict(sorted(users.items(), key=lambda item: (-item[1], item[0]))),
            by_age={name: ages[position] for position, name in enumerate(AGE_BUCKETS)},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": format_time(self.at),
            "total": self.total,
            "by_kind": self.by_kind,
            "by_user": self.by_user,
            "by_age": self.by_age,
        }
