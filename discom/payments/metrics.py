"""Prometheus metrics of payments (exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS_REFUSED = Counter(
    "bijli_razorpay_events_refused_total",
    "Signed Razorpay events refused for their values (currency, amount, type, refund)",
    ["reason"])
REFUNDS_DEBITED = Counter("bijli_refunds_debited_total", "Refunds debited to the ledger")
