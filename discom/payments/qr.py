"""A payment link as a QR code, for chats where a consumer pays from a second phone.

A consumer often reads the chat on one phone and pays with a UPI app on another (or on a
family member's), so the link is also sent as an image to scan. Medium error correction
survives a cracked screen or a compressed WhatsApp image; 10 px modules with the standard
4-module quiet zone give a ~330-450 px image that phone cameras read from a screen.
"""

from __future__ import annotations

import io

import segno

MODULE_PIXELS = 10


def qr_png(url: str) -> bytes:
    """`url` as a black-on-white PNG QR code."""
    code = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="png", scale=MODULE_PIXELS, border=4)
    return out.getvalue()
