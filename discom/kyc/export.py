"""`bijli kyc export` and `bijli kyc rotate-keys`: the discom's side of the KYC data."""

from __future__ import annotations

import csv
from typing import TextIO

from discom.db import Database
from discom.kyc.records import EXPORT_COLUMNS, ROTATED_MODELS, export_rows, rotate_batch
from discom.kyc.vault import PiiVault


async def export_csv(db: Database, vault: PiiVault, out: TextIO, *, unmasked: bool = False
                     ) -> int:
    """Write every KYC record as CSV to `out` (masked unless `unmasked`). Returns the rows."""
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    written = 0
    async with db.uow() as uow:
        async for row in export_rows(uow.session, vault, unmasked=unmasked):
            writer.writerow(row)
            written += 1
    return written


async def rotate_keys(db: Database, vault: PiiVault, *, batch: int = 1000) -> int:
    """Re-encrypt and re-hash every stored value under the newest key, a batch per
    transaction (so it can be stopped and run again). Returns the rows rewritten."""
    total = 0
    for model in ROTATED_MODELS:
        after, done = 0, batch
        while done:
            async with db.uow() as uow:
                done, after = await rotate_batch(uow.session, vault, model, after, batch)
                await uow.commit()
            total += done
    return total
