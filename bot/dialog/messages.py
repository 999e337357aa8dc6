"""Channel-neutral messages: what a consumer sent, and what Bijli answers.

Channels translate their own wire formats into `Incoming` and render `Reply` back
(inline keyboards on Telegram, numbered menus on WhatsApp, keywords on SMS, a list on the
console). Nothing in the dialog knows which channel it is talking to.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message from a consumer.

    `text` is what they typed (or a /command); `button` is the id of a button they pressed
    (never shown to them, at most 64 bytes so it fits Telegram's callback_data);
    `contact_phone` is a phone number they shared with the channel's own "share contact".
    """

    channel: str
    chat_ref: str
    text: str | None = None
    button: str | None = None
    contact_phone: str | None = None

    def __post_init__(self) -> None:
        # NUL characters mean nothing in a message and PostgreSQL refuses them in text: a
        # message carrying one would fail its transaction and its channel redeliver it
        # forever. Every channel's messages pass here, so they are dropped here.
        for name in ("chat_ref", "text", "button", "contact_phone"):
            value = getattr(self, name)
            if value is not None and "\x00" in value:
                object.__setattr__(self, name, value.replace("\x00", ""))


@dataclass(frozen=True, slots=True)
class Button:
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to send. `buttons` are rows; `link` is a URL the text refers to;
    `image_png` an image (a payment QR code) sent with the text as caption."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    link: str | None = None
    image_png: bytes | None = None
    ask_contact: bool = False

    @property
    def flat_buttons(self) -> list[Button]:
        return [button for row in self.buttons for button in row]


@dataclass(slots=True)
class Outcome:
    """What handling one message produced: the replies, in order."""

    replies: list[Reply] = field(default_factory=list)
    duplicate: bool = False
