"""One turn of a conversation: the chat, its state, and the replies being built."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
from discom.models import Chat


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
    # KYC's OTP sends: run by the engine after the turn's commit (no network call while the
    # transaction holds the conversation and consumer rows); each may add replies.
    kyc_after_commit: list[Callable[[Database], Awaitable[None]]] = field(default_factory=list)
    # The Samagra registry's answer, asked before the transaction (bot/dialog/kyc_prefetch.py).
    kyc_registry_answer: RegistryAnswer | None = None

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

    def button(self, button_id: str, key: str) -> Button:
        return Button(button_id, self.t(key))
