"""Prometheus metrics of the reconnection pipeline (exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ORDERS_CREATED = Counter("bijli_reconnection_orders_created_total",
                         "Reconnection orders created (payment or sweep)")
COMMANDS_SENT = Counter("bijli_hes_commands_sent_total", "Connect commands accepted by the HES")
HES_ERRORS = Counter("bijli_hes_errors_total", "HES calls that failed", ["kind"])
CONFIRMED = Counter("bijli_reconnections_confirmed_total", "Relays confirmed closed by the HES",
                    ["relay_state"])
ESCALATED = Counter("bijli_reconnections_escalated_total",
                    "Orders given to staff (rejected by the HES or past their deadline)",
                    ["reason"])
ORDER_TO_COMMAND = Histogram(
    "bijli_order_to_command_seconds", "From order creation to the HES accepting the command",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
ORDER_TO_CONFIRMED = Histogram(
    "bijli_order_to_confirmed_seconds", "From order creation to the relay confirmed closed",
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800),
)
