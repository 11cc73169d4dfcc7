"""Standard Webhooks signatures, made by the spec's reference package (`standardwebhooks`), the
one a receiver verifies with: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per secret."""

from __future__ import annotations

import base64
import secrets as _random
from datetime import UTC, datetime

from standardwebhooks import Webhook

from jeeves_protocols import InvalidInterruptError

__all__ = ["generate_secret", "sign", "signature_header", "check_secret"]

_PREFIX = "whsec_"


def generate_secret() -> str:
    """A fresh `whsec_` secret: 24 random bytes, base64 (the form the spec's libraries accept)."""
    return _PREFIX + base64.b64encode(_random.token_bytes(24)).decode("ascii")


def check_secret(secret: str) -> str:
    """The secret if it is `whsec_` + base64 of at least 16 bytes, else InvalidInterruptError."""
    try:
        key = _key(secret)
    except ValueError as exc:
        raise InvalidInterruptError(f"secret must be whsec_ + base64: {exc}", field="secret") from exc
    if len(key) < 16:
        raise InvalidInterruptError("secret must hold at least 16 bytes", field="secret")
    return secret


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signature: str = Webhook(_key(secret)).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body)
    return signature


def signature_header(secrets: tuple[str, ...], msg_id: str, timestamp: int, body: bytes) -> str:
    """Space-separated signatures, one per live secret (two during a rotation overlap)."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def _key(secret: str) -> bytes:
    if not secret.startswith(_PREFIX):
        raise ValueError("missing whsec_ prefix")
    return base64.b64decode(secret[len(_PREFIX) :], validate=True)
