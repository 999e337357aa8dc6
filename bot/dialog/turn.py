"""One turn of a conversation: the chat, its state, and the replies being built."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialog.deps import DialogDeps
from bot.dialog.messages import Button, Reply
from bot.locales import translate
from discom.db import Database
from discom.kyc import KycServices
from discom.kyc.identity import RegistryAnswer
from discom.kyc.otp import ProviderAnswer
from discom.models import Chat

# Work a step leaves for after its turn is committed (a provider call), given the database
# for its own short transactions; what it returns is said where `Turn.later` was called.
AfterCommit = Callable[[Database], Awaitable[Sequence[Reply]]]


class State(StrEnum):
    """Where a chat is. IDLE is the main menu; the others wait for a specific answer."""

    CHOOSING_LANGUAGE = "choosing_language"
    IDLE = "idle"
    AWAITING_CONSUMER_NO = "awaiting_consumer_no"
    CHOOSING_ACCOUNT = "choosing_account"
    # KYC by OTP (bot/dialog/kyc.py)
    KYC_CONSUMER_NO = "kyc_consumer_no"
    KYC_SAMAGRA = "kyc_samagra"
    KYC_CONSENT = "kyc_consent"
    KYC_OTP = "kyc_otp"
    KYC_NEW_MOBILE = "kyc_new_mobile"
    KYC_CONFIRM_MOBILE = "kyc_confirm_mobile"
    KYC_MOBILE_OTP = "kyc_mobile_otp"
    KYC_BANK_ACCOUNT = "kyc_bank_account"
    KYC_BANK_ACCOUNT_AGAIN = "kyc_bank_account_again"
    KYC_BANK_IFSC = "kyc_bank_ifsc"
    KYC_OLD_MOBILE_OTP = "kyc_old_mobile_otp"
    KYC_BANK_OTP = "kyc_bank_otp"


@dataclass
class Turn:
    session: AsyncSession
    chat: Chat
    state: State
    data: dict[str, Any]  # the current task's answers so far; cleared between tasks
    now: datetime
    memory: dict[str, Any] = field(default_factory=dict)  # kept across tasks (quotas, choices)
    deps: DialogDeps = field(default_factory=DialogDeps)
    kyc: KycServices | None = None  # None: KYC is not wired in this deployment
    replies: list[Reply] = field(default_factory=list)
    # (position in `replies`, work): see `later`.
    afterwards: list[tuple[int, AfterCommit]] = field(default_factory=list)
    # The Samagra registry's answer, asked before the transaction (bot/dialog/kyc_prefetch.py).
    kyc_registry_answer: RegistryAnswer | None = None
    # Twilio Verify's answer about a typed code, asked before the transaction (same module).
    kyc_code_answer: ProviderAnswer | None = None

    @property
    def language(self) -> str:
        return self.chat.language

    def t(self, key: str, **values: object) -> str:
        return translate(self.language, key, **values)

    def say(self, key: str, *, buttons: tuple[tuple[Button, ...], ...] = (), **values: object
            ) -> None:
        self.send(Reply(self.t(key, **values), buttons=buttons))

    def say_text(self, text: str) -> None:
        """Text already built from catalog entries."""
        self.send(Reply(text))

    def send(self, reply: Reply) -> None:
        self.replies.append(reply)

    def later(self, work: AfterCommit) -> None:
        """Run `work` once this turn is committed, with no transaction or row lock held (a
        network call must never hold them); its replies take this place in the answer."""
        self.afterwards.append((len(self.replies), work))

    def button(self, button_id: str, key: str) -> Button:
        return Button(button_id, self.t(key))
