"""KYC by OTP: consumer number + Samagra ID, a verified mobile, a bank account.

Framework-free. `otp` issues and checks one-time passwords (rate limits, locks, single use);
`senders` is the interface to whatever delivers them (the sandbox here, Twilio in
`twilio_sender`); `samagra` looks Samagra IDs up in the state registry and `names` compares
the names; `vault` encrypts and hashes personal data; `records` writes KYC records,
mobile changes and bank accounts and reads them back (lookups, export, key rotation). The
conversation itself lives in `bot/dialog/kyc.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from discom.kyc.otp import OtpService
from discom.kyc.samagra import SamagraRegistry
from discom.kyc.samagra_simulator import SimulatedRegistry
from discom.kyc.vault import PiiVault


@dataclass(frozen=True)
class KycServices:
    """What the KYC dialog needs, wired by the composition root."""

    vault: PiiVault
    otp: OtpService
    registry: SamagraRegistry = field(default_factory=SimulatedRegistry)

    async def close(self) -> None:
        self.otp.sender.close()
        await self.registry.close()
