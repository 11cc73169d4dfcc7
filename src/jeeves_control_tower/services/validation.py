"""Input rules for the service, applied before anything is written.

Limits (the README's table; the OpenAPI document states the same constants, see api/models.py):
ids and keys 1-255 characters with one that is not whitespace; question, message and response
text up to 20,000 characters; a decision up to 255; a cancel reason up to 2,000; `data` a JSON
object of at most 256 KiB encoded and nested at most 32 levels deep; a ttl within 36,500 days
either way. Every string, including `data`'s keys and values, must be storable by every store:
no NUL (PostgreSQL's text and jsonb cannot hold U+0000) and no lone surrogate (no UTF-8 for it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Optional

from jeeves_protocols import (
    InterruptConfig,
    InterruptKind,
    InterruptResponse,
    InvalidInterruptError,
    InvalidResponseError,
)

MAX_ID_LENGTH = 255
MAX_TEXT_LENGTH = 20_000
MAX_REASON_LENGTH = 2_000
MAX_DATA_BYTES = 256 * 1024
#: Levels of objects and arrays in `data`, the object itself being level 1. Real payloads sit
#: well under ten; 32 leaves room for them and stays far below what breaks a layer under us:
#: pydantic-core refuses to serialise past 255 levels (the interrupt wraps `data` in 1-3 more),
#: CPython's json recursion ends near 1,000, and each level costs a C stack frame in jsonb.
MAX_DATA_DEPTH = 32
#: Far past any real deadline, and far from datetime's year-9999 limit (`now + ttl` must not overflow).
MAX_TTL = timedelta(days=36_500)
MAX_TTL_SECONDS = int(MAX_TTL.total_seconds())
#: Exactly the characters `str.isspace()` (and so `str.strip()`) treats as whitespace, as a regex
#: class both Python and ECMAScript read alike; an id made only of these is refused.
WHITESPACE_CLASS = (
    "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)

#: Which response field each `allowed_responses` entry names, and how to tell it is given.
_RESPONSE_FIELDS = ("text", "approved", "decision", "data")


def storable(value: str) -> bool:
    """Whether every store can keep this string: none holds a NUL (PostgreSQL's text and jsonb
    refuse U+0000), and they all write text as UTF-8, which a lone surrogate ("\\ud800", say,
    left by a lenient decode upstream) has no encoding in."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def could_be_stored(value: Any) -> bool:
    """Whether a lookup key could name anything stored: a string any store can hold. Anything
    else finds nothing, on every store alike."""
    return isinstance(value, str) and storable(value)


def _unstorable(name: str, value: str = "") -> str:
    if "\x00" in value:
        return f"{name} holds a NUL character (U+0000), which cannot be stored"
    return f"{name} holds a lone surrogate (U+D800-U+DFFF), which cannot be stored as UTF-8"


def require_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInterruptError(f"{name} must be a non-empty string", field=name)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInterruptError(f"{name} is longer than {MAX_ID_LENGTH} characters", field=name)
    if not storable(value):
        raise InvalidInterruptError(_unstorable(name, value), field=name)
    return value


def optional_id(value: Any, name: str) -> Optional[str]:
    return None if value is None else require_id(value, name)


def optional_text(value: Any, name: str, limit: int = MAX_TEXT_LENGTH) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInterruptError(f"{name} must be a string", field=name)
    if len(value) > limit:
        raise InvalidInterruptError(f"{name} is longer than {limit} characters", field=name)
    if not storable(value):
        raise InvalidInterruptError(_unstorable(name, value), field=name)
    return value


def require_kind(value: Any) -> InterruptKind:
    if type(value) is InterruptKind:  # calling the Enum class to check costs a microsecond
        return value
    try:
        return InterruptKind(value)
    except ValueError:
        known = ", ".join(kind.value for kind in InterruptKind)
        raise InvalidInterruptError(
            f"unknown interrupt kind {value!r} (known: {known})", field="kind"
        ) from None


def json_data(value: Any, name: str = "data") -> dict[str, Any]:
    """A copy of `value` that is a JSON object within the size and depth limits, every string in
    it storable (so every store can write it, and every response can be serialised)."""
    if value is None or (type(value) is dict and not value):  # the common cases, before an ABC check
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInterruptError(f"{name} must be a mapping", field=name)
    if not value:
        return {}
    problem = _json_tree_problem(value, name)
    if problem is not None:
        raise InvalidInterruptError(problem, field=name)
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInterruptError(f"{name} is not JSON-serialisable: {exc}", field=name) from None
    if len(encoded) > MAX_DATA_BYTES:
        raise InvalidInterruptError(f"{name} is larger than {MAX_DATA_BYTES} bytes as JSON", field=name)
    decoded: dict[str, Any] = json.loads(encoded)
    return decoded


#: More values than this cannot fit in MAX_DATA_BYTES: each costs a byte and a separator.
_MAX_DATA_VALUES = MAX_DATA_BYTES // 2 + 1


def _json_tree_problem(root: Mapping[Any, Any], name: str) -> Optional[str]:
    """What makes `root` unfit to store, if depth or string content does: walked with a stack,
    not recursion, so no nesting can exhaust Python's stack before it is refused, and bounded by
    the size limit, so no width can keep it busy. Types are left to json.dumps."""
    # Containers still to look into: each with its depth and where it is as a (parent, key)
    # chain, spelled out only for a message (a path string per value would cost the happy path).
    stack: list[tuple[Any, int, Any]] = [(root, 1, None)]
    seen = 0
    while stack:
        node, depth, where = stack.pop()
        if depth > MAX_DATA_DEPTH:
            return f"{name} is nested deeper than {MAX_DATA_DEPTH} levels"
        if isinstance(node, Mapping):
            for key in node:
                if type(key) is str and not storable(key):
                    return _unstorable(f"a key of {_path(name, where)}", key)
            pairs: Any = node.items()
        else:
            pairs = enumerate(node)
        seen += len(node)
        if seen > _MAX_DATA_VALUES:
            return f"{name} is larger than {MAX_DATA_BYTES} bytes as JSON"
        for key, item in pairs:
            kind = type(item)
            if kind is str:
                if len(item) > MAX_DATA_BYTES:
                    return f"{name} is larger than {MAX_DATA_BYTES} bytes as JSON"
                if not storable(item):
                    return _unstorable(_path(name, (where, key)), item)
            elif kind in _SCALARS:
                continue
            elif isinstance(item, (Mapping, list, tuple)):
                stack.append((item, depth + 1, (where, key)))
            elif isinstance(item, str) and not storable(item):  # a str subclass
                return _unstorable(_path(name, (where, key)), item)
    return None


_SCALARS = frozenset((int, float, bool, type(None)))


def _path(name: str, where: Any) -> str:
    parts: list[str] = []
    while where is not None:
        where, key = where
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    spelled = name + "".join(reversed(parts))
    return spelled if len(spelled) <= 200 else spelled[:197] + "..."


def require_ttl(value: Any, name: str = "ttl") -> Optional[timedelta]:
    if value is None:
        return None
    if not isinstance(value, timedelta):
        raise InvalidInterruptError(f"{name} must be a datetime.timedelta or None", field=name)
    if not -MAX_TTL <= value <= MAX_TTL:
        raise InvalidInterruptError(f"{name} must be within {MAX_TTL.days:,} days either way", field=name)
    return value


def require_extension(value: Any, name: str = "by") -> timedelta:
    """How far `extend` moves an expiry: a positive timedelta, at most MAX_TTL."""
    if not isinstance(value, timedelta):
        raise InvalidInterruptError(f"{name} must be a timedelta", field=name)
    if not timedelta(0) < value <= MAX_TTL:
        raise InvalidInterruptError(
            f"{name} must be more than zero and at most {MAX_TTL.days:,} days", field=name
        )
    return value


def optional_timeout(value: Any) -> Optional[float]:
    """Seconds to wait: None (forever) or a finite number; zero or less means "look once"."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInterruptError("timeout must be a finite number of seconds or None", field="timeout")
    return float(value)


def require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInterruptError(
            f"{name} is a naive datetime; pass a timezone-aware one (e.g. UTC)", field=name
        )
    return value


def check_response_types(response: Any) -> InterruptResponse:
    """The response is an InterruptResponse whose fields have the right types; JSON-safe data."""
    if not isinstance(response, InterruptResponse):
        raise InvalidResponseError("response must be an InterruptResponse", field="response")
    if response.text is not None and not isinstance(response.text, str):
        raise InvalidResponseError("response.text must be a string", field="text")
    if response.text is not None and len(response.text) > MAX_TEXT_LENGTH:
        raise InvalidResponseError(f"response.text is longer than {MAX_TEXT_LENGTH} characters", field="text")
    if response.text is not None and not storable(response.text):
        raise InvalidResponseError(_unstorable("response.text", response.text), field="text")
    if response.approved is not None and not isinstance(response.approved, bool):
        raise InvalidResponseError("response.approved must be true or false", field="approved")
    if response.decision is not None and (
        not isinstance(response.decision, str) or len(response.decision) > MAX_ID_LENGTH
    ):
        raise InvalidResponseError(
            f"response.decision must be a string of at most {MAX_ID_LENGTH} characters", field="decision"
        )
    if response.decision is not None and not storable(response.decision):
        raise InvalidResponseError(_unstorable("response.decision", response.decision), field="decision")
    try:
        optional_id(response.responder_id, "response.responder_id")
    except InvalidInterruptError as exc:
        raise InvalidResponseError(exc.message, field="responder_id") from None
    if response.token_id is not None or response.via is not None:  # the API's, rarely a caller's
        for name in ("token_id", "via"):
            try:
                optional_id(getattr(response, name), f"response.{name}")
            except InvalidInterruptError as exc:
                raise InvalidResponseError(exc.message, field=name) from None
    try:
        json_data(response.data, "response.data")
    except InvalidInterruptError as exc:
        raise InvalidResponseError(exc.message, field="data") from None
    return response


def response_shape(response: InterruptResponse) -> tuple[bool, ...]:
    """Which response fields are given, in _RESPONSE_FIELDS order: all that `response_fits`
    looks at, so a service can cache its verdicts per shape."""
    text, decision = response.text, response.decision
    return (
        bool(text and text.strip()),
        response.approved is not None,
        bool(decision and decision.strip()),
        bool(response.data),
    )


def response_fits(config: InterruptConfig, response: InterruptResponse) -> bool:
    """Whether `response` answers an interrupt configured by `config`."""
    if not config.require_response:
        return True
    given = dict(zip(_RESPONSE_FIELDS, response_shape(response), strict=True))
    wanted = config.allowed_responses or _RESPONSE_FIELDS
    return any(given.get(name, False) for name in wanted)


def response_problem(kind: InterruptKind, config: InterruptConfig) -> InvalidResponseError:
    """The error for a response that does not fit `kind`, naming the field it needs."""
    wanted = list(config.allowed_responses) or list(_RESPONSE_FIELDS)
    need = wanted[0] if len(wanted) == 1 else " or ".join(wanted)
    return InvalidResponseError(
        f"a {kind.value} interrupt needs a response with {need}", field=wanted[0], kind=kind.value
    )
