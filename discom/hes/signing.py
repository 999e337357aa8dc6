"""The HES callback signature: `X-HES-Signature` = hex HMAC-SHA256(raw body, webhook secret).

Both sides live here — the simulator signs, the webhook route verifies — so a change of
scheme is one edit. The signature covers the *raw bytes*: verify before parsing, because a
re-serialised JSON body would not match what the HES signed.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-HES-Signature"


def sign(body: bytes, secret: str) -> str:
    """Lower-case hex HMAC-SHA256 of `body` keyed by `secret` (UTF-8)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str | None, secret: str) -> bool:
    """Whether `signature` is `sign(body, secret)`. Constant-time; a missing, empty or
    malformed signature is simply False (never an exception an attacker could provoke).
    Upper-case hex is accepted: hex digits carry no case meaning."""
    if not isinstance(signature, str) or not signature:
        return False
    expected = sign(body, secret).encode()
    try:
        given = signature.strip().lower().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, given)
