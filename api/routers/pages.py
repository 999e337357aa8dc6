"""Pages a consumer's browser lands on (after paying)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["pages"])

_PAID = """<!doctype html><html lang="hi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Bijli</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 2em auto; padding: 0 1em">
<h1>धन्यवाद / Thank you</h1>
<p>आपका भुगतान मिलते ही हम आपको चैट पर बताएँगे। अगर भुगतान न होने से सप्लाई कटी थी, तो वह अपने
आप कुछ ही मिनट में चालू हो जाएगी।</p>
<p>We will confirm your payment in your chat. If your supply was cut for non-payment, it is
switched back on automatically within minutes.</p>
</body></html>"""


@router.get("/paid", response_class=HTMLResponse)
async def paid() -> str:
    """Razorpay's callback after checkout. The query string is not trusted for anything:
    the signed webhook is what credits the payment."""
    return _PAID
