"""Images for channels that fetch them by URL (WhatsApp through Twilio's `media_url`).

Telegram uploads an image's bytes; Twilio instead downloads `media_url` from a public URL. The
only image Bijli sends is a payment link's QR code (for paying from another phone), so the
URL carries the link itself, signed: `GET /media/qr/{token}.png` renders the QR of the link in
the token when its HMAC is right. Nothing is stored, any API process can serve it, and the
URL is unguessable without the key (derived from TWILIO_AUTH_TOKEN, which every process that
sends WhatsApp messages has). It reveals nothing the message text does not already show: the
text carries the same link.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PATH = "/media/qr"
_SIGNATURE_CHARS = 32  # base64url characters of the HMAC-SHA256 kept (192 bits)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class QrLinks:
    def __init__(self, secret: str, public_base_url: str) -> None:
        self._key = hmac.new(secret.encode("utf-8"), b"bijli/media-qr/v1", hashlib.sha256).digest()
        self._base = public_base_url.rstrip("/")

    def _signature(self, link: str) -> str:
        return _b64(hmac.new(self._key, link.encode("utf-8"), hashlib.sha256).digest()
                    )[:_SIGNATURE_CHARS]

    def token(self, link: str) -> str:
        return f"{_b64(link.encode('utf-8'))}.{self._signature(link)}"

    def url(self, link: str) -> str:
        """The public URL of the QR code of `link`."""
        return f"{self._base}{PATH}/{self.token(link)}.png"

    def link(self, token: str) -> str | None:
        """The link a token carries, or None when the token is not one of ours."""
        encoded, _, signature = token.partition(".")
        try:
            link = _unb64(encoded).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        if not link.startswith(("https://", "http://")):
            return None
        if not hmac.compare_digest(signature.encode(), self._signature(link).encode()):
            return None
        return link
