"""The head-end system (HES) connector: the client Bijli uses, the callback signature and
parser. The simulator (`discom.hes.simulator`) is imported only where it runs."""

from discom.hes.client import (
    CommandReceipt,
    CommandResult,
    CommandStatus,
    HesAuthFailed,
    HesClient,
    HesError,
    HesRejected,
    HesUnavailable,
    InvalidCallback,
    MeterEvent,
    MeterStatus,
    parse_callback,
)
from discom.hes.signing import HEADER as SIGNATURE_HEADER
from discom.hes.signing import sign, verify

__all__ = [
    "SIGNATURE_HEADER",
    "CommandReceipt",
    "CommandResult",
    "CommandStatus",
    "HesAuthFailed",
    "HesClient",
    "HesError",
    "HesRejected",
    "HesUnavailable",
    "InvalidCallback",
    "MeterEvent",
    "MeterStatus",
    "parse_callback",
    "sign",
    "verify",
]
