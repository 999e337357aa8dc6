"""The HES simulator's view of the meters, read from Bijli's own table (embedded default)."""

from __future__ import annotations

from sqlalchemy import select

from discom.db import Database
from discom.hes.simulator import SimMeter
from discom.models import Meter


class DatabaseMeterDirectory:
    """A real HES knows every meter it was commissioned with; the simulator knows ours."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def lookup(self, meter_id: str) -> SimMeter | None:
        async with self._db.uow() as uow:
            row = (await uow.session.execute(
                select(Meter.remote_switch, Meter.relay_state).where(Meter.meter_id == meter_id)
            )).first()
        return None if row is None else SimMeter(meter_id, row.remote_switch, row.relay_state)
