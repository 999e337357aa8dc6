"""Razorpay's webhook signature: `X-Razorpay-Signature` = hex HMAC-SHA256(raw body, secret).

The key is the *webhook* secret set on the Razorpay dashboard, not the API key secret. The
sandbox signs with `sign`, the webhook route checks with `verify`: one scheme, one module.

Why not the SDK's `client.utility.verify_webhook_signature(body, signature, secret)`:
it calls `bytes(body, 'utf-8')`, so it wants a `str` and raises `TypeError` on the raw
`bytes` a web framework hands over (razorpay-python issue #121); decoding first is a lossy
step that has nothing to do with checking a signature. And it *raises*
`SignatureVerificationError` on a mismatch (and `TypeError` on a missing header) instead of
answering yes or no. The check has to run on the exact bytes received — JSON that has been
parsed and re-serialised never verifies — so it is done here on bytes, returning a bool.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Razorpay-Signature"
EVENT_ID_HEADER = "x-razorpay-event-id"


def sign(body: bytes, secret: str) -> str:
    """Lower-case hex HMAC-SHA256 of `body` keyed by `secret` (UTF-8), as Razorpay sends it."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str | None, secret: str) -> bool:
    """Whether `signature` is `sign(body, secret)`, compared in constant time.

    A missing, empty or non-ASCII signature is simply False: nothing a caller sends can turn
    into an exception. Upper-case hex is accepted, since hex digits carry no case meaning.
    """
    if not isinstance(signature, str) or not signature:
        return False
    try:
        given = signature.strip().lower().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), given)
