"""The dialog: one entry point that every channel calls with an `Incoming` message.

Each message is one transaction: the chat's conversation row is locked, the provider's
delivery id recorded (a re-delivery is answered with nothing), the state handler run, and the
new state saved — all committed together before the channel sends a single reply. Work a
step left for after the commit (`Turn.later`: a call to a provider) runs then, outside any
transaction, and its replies take their place in the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot import intents
from bot.dialog import dues, free_text, kyc, language, menu
from bot.dialog.deps import DialogDeps
from bot.dialog.kyc_prefetch import ask_provider_first, ask_registry_first
from bot.dialog.messages import Incoming, Outcome, Reply
from bot.dialog.store import open_chat, save_conversation
from bot.dialog.text import clean
from bot.dialog.turn import State, Turn
from bot.intents import Intent
from discom.clock import utcnow
from discom.db import Database
from discom.inbound import first_time
from discom.kyc import KycServices

# Chat memory key under which the engine keeps the buttons last offered.
CHOICES = "choices"
COMMANDS = ("start", "dues", "pay", "kyc", "status", "language", "help", "cancel")


class DialogService:
    def __init__(
        self,
        db: Database,
        *,
        default_language: str = "hi",
        timeout: timedelta = timedelta(minutes=15),
        max_chars: int = 500,
        clock: Callable[[], datetime] = utcnow,
        deps: DialogDeps | None = None,
        kyc: KycServices | None = None,
    ) -> None:
        self._db = db
        self._default_language = default_language
        self._timeout = timeout
        self._max_chars = max_chars
        self._clock = clock
        self._deps = deps or DialogDeps()
        self._kyc = kyc

    async def handle(self, incoming: Incoming, *, delivery_id: str | None = None) -> Outcome:
        """Answer one message. `delivery_id` is the provider's id of this delivery (Telegram's
        update_id, Twilio's MessageSid): a second delivery of it gets no answer."""
        now = self._clock()
        # Asked before the transaction: no lock or pooled connection waits on the registry
        # (a Samagra ID) or on Twilio Verify (a code).
        registry_answer = code_answer = None
        if self._kyc is not None:
            registry_answer = await ask_registry_first(self._db, self._kyc, incoming)
            code_answer = await ask_provider_first(self._db, self._kyc, incoming, now)
        async with self._db.uow() as uow:
            if delivery_id and not await first_time(
                uow.session, incoming.channel, delivery_id, now
            ):
                return Outcome(duplicate=True)
            chat, conversation = await open_chat(
                uow.session, incoming.channel, incoming.chat_ref, self._default_language, now
            )
            turn = Turn(uow.session, chat, State(conversation.state),
                        dict(conversation.data.get("task", {})), now,
                        memory=dict(conversation.data.get("memory", {})), deps=self._deps,
                        kyc=self._kyc, kyc_registry_answer=registry_answer,
                        kyc_code_answer=code_answer)
            offered = turn.memory.pop(CHOICES, [])
            if conversation.expires_at is not None and conversation.expires_at <= now:
                turn.state, turn.data, offered = State.IDLE, {}, []
                turn.say("conversation.expired")
            next_state = await self._route(turn, incoming, offered)
            # An answer without buttons ("too long", "not found") leaves the last ones in force.
            keep = offered if next_state == turn.state else []
            turn.memory[CHOICES] = _offered_choices(turn) or keep
            save_conversation(conversation, next_state, turn, self._timeout)
            await uow.commit()
        return Outcome(await self._after_commit(turn))

    async def _after_commit(self, turn: Turn) -> list[Reply]:
        """Run the turn's deferred work in order; splice each one's replies in where it was
        deferred (from the end, so the earlier positions stay right)."""
        done = [(at, list(await work(self._db))) for at, work in turn.afterwards]
        replies = list(turn.replies)
        for at, said in reversed(done):
            replies[at:at] = said
        return replies

    async def _route(self, turn: Turn, incoming: Incoming, offered: list[str]) -> State:
        if incoming.text is None and incoming.button is None:
            if incoming.contact_phone and turn.kyc is not None and turn.state in kyc.STATES:
                return await kyc.on_contact(turn, incoming.contact_phone)
            turn.say("error.text_only")
            return turn.state
        text = clean(incoming.text or "")
        if len(text) > self._max_chars:
            turn.say("error.too_long", limit=self._max_chars)
            return turn.state
        button = incoming.button or _typed_choice(text, offered)
        if not turn.chat.language_chosen:
            typed = not button and not text.startswith("/")
            guessed = language.language_of_request(text) if typed else None
            if guessed is not None:
                language.adopt_language(turn, guessed)
                turn.state = State.IDLE
            elif turn.state != State.CHOOSING_LANGUAGE:
                return await language.ask_language(turn)
        if button:
            return await self._on_button(turn, button)
        if text.startswith("/"):
            return await self._on_command(turn, text)
        return await self._on_text(turn, text)

    async def _on_command(self, turn: Turn, text: str) -> State:
        # "/dues@BijliBot 123" → "dues"; the argument, if any, is the consumer number.
        name, _, argument = text[1:].partition(" ")
        name = name.split("@", 1)[0].casefold()
        if name == "start":
            if not turn.chat.language_chosen:
                return await language.ask_language(turn)
            turn.say("welcome")
            return await menu.show_menu(turn)
        if name == "pay" and not turn.deps.can_pay:
            return await menu.not_available_yet(turn)
        if name in dues.PURPOSES:
            if argument:
                turn.data.clear()
                turn.data["purpose"] = name
                return await dues.on_consumer_no(turn, argument)
            return await dues.start_lookup(turn, name)
        if name == "kyc" and turn.kyc is not None:
            return await kyc.start(turn, argument)
        if name == "language":
            if argument in language.CHOICES:
                return await language.set_language(turn, argument)
            return await language.ask_language(turn)
        if name == "help":
            return await menu.show_help(turn)
        if name == "cancel":
            return await menu.cancel(turn)
        if name in COMMANDS:
            return await menu.not_available_yet(turn)
        return await menu.not_understood(turn)

    async def _on_button(self, turn: Turn, button: str) -> State:
        """Buttons work from any state, so a press on an old message still does what it says."""
        if button.startswith("lang:"):
            return await language.on_language_answer(turn, button, "")
        if button.startswith("acct:"):
            return await dues.on_account_choice(turn, button)
        if button.startswith("kyc:") and turn.kyc is not None:
            return await kyc.on_button(turn, button)
        command = {
            "menu:dues": "/dues",
            "menu:pay": "/pay",
            "menu:status": "/status",
            "menu:kyc": "/kyc",
            "menu:language": "/language",
            "menu:help": "/help",
        }.get(button)
        if command is None:
            return await menu.not_understood(turn)
        return await self._on_command(turn, command)

    async def _on_text(self, turn: Turn, text: str) -> State:
        reading = intents.read(text)
        if reading.intent == Intent.CANCEL:
            return await menu.cancel(turn)
        if turn.state == State.CHOOSING_LANGUAGE:
            return await language.on_language_answer(turn, None, text)
        if reading.intent in (Intent.MENU, Intent.GREETING) and not reading.consumer_no:
            return await menu.show_menu(turn)
        if turn.state in kyc.STATES and turn.kyc is not None:
            return await kyc.on_text(turn, text)
        command = free_text.command_for(turn, reading, text)
        if command:
            return await self._on_command(turn, command)
        return await free_text.answer(turn, reading, text)


def _offered_choices(turn: Turn) -> list[str]:
    """The buttons of the last reply that had any: what a typed "1", "2"... refers to next."""
    for reply in reversed(turn.replies):
        if reply.buttons:
            return [button.id for button in reply.flat_buttons]
    return []


def _typed_choice(text: str, offered: list[str]) -> str | None:
    """Channels without buttons show them numbered; a typed number means that button."""
    if text.isdigit() and 1 <= int(text) <= len(offered):
        return offered[int(text) - 1]
    return None

