"""Whether a meter should be reconnected, and how. Pure: the level the reconciler drives to.

Bijli only closes relays it has a reason to close: a meter disconnected *for non-payment*
whose account is paid up. A meter opened by staff ("manual"), or blocked for theft, tamper
or a court order, is never reconnected automatically; nor is a CT-operated meter, which has
no switch (IS 15959-3) — those go to a technician.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    NONE = "none"
    COMMAND = "command"  # send `connect` to the HES
    FIELD_VISIT = "field_visit"  # a technician must reconnect it


@dataclass(frozen=True, slots=True)
class MeterFacts:
    remote_switch: bool
    relay_state: str
    relay_reason: str | None
    block_reason: str | None


def reconnection_action(dues_clear: bool, meter: MeterFacts) -> Action:
    if not dues_clear or meter.relay_state != "disconnected":
        return Action.NONE
    if meter.relay_reason != "non_payment":
        return Action.NONE
    if meter.block_reason or not meter.remote_switch:
        return Action.FIELD_VISIT
    return Action.COMMAND
