"""What the dialog may use beyond the database: the payment gateway, when there is one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from discom.lookups import LookupLimits
from discom.payments.links import Gateway, LinkSettings


@dataclass(frozen=True)
class DialogDeps:
    gateway: Gateway | None = None
    link_settings: LinkSettings | None = None
    # Gateway exceptions that mean "try again in a minute" (network, timeouts, refusals).
    gateway_errors: tuple[type[Exception], ...] = field(default_factory=tuple)
    qr_png: Any = None  # callable url -> PNG bytes, for paying from another phone
    lookup_limits: LookupLimits = field(default_factory=LookupLimits)

    @property
    def can_pay(self) -> bool:
        return self.gateway is not None and self.link_settings is not None
