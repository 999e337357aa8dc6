"""Telegram Update bodies as Telegram sends them (Bot API JSON), for webhook and polling tests."""

from __future__ import annotations

import itertools
from typing import Any

from tests.fakes.telegram_api import BOT_USER

DATE = 1_796_000_000  # a fixed Unix time; nothing in Bijli reads the message date
_message_ids = itertools.count(1)


def user(user_id: int, *, language_code: str = "hi") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Meena", "last_name": "Patel",
            "language_code": language_code}


def private_chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": "Meena", "last_name": "Patel"}


def group_chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "supergroup", "title": "Colony residents"}


def message(chat_id: int, *, from_id: int | None = None, chat: dict[str, Any] | None = None,
            **content: Any) -> dict[str, Any]:
    sender = from_id if from_id is not None else chat_id
    return {"message_id": next(_message_ids), "date": DATE, "from": user(sender),
            "chat": chat or private_chat(chat_id), **content}


def text_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    """A typed message; a /command carries Telegram's bot_command entity, as the real one does."""
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        command = text.split(" ", 1)[0]
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id, "message": message(chat_id, **content)}


def group_text_update(update_id: int, group_id: int, from_id: int, text: str
                      ) -> dict[str, Any]:
    return {"update_id": update_id,
            "message": message(group_id, from_id=from_id, chat=group_chat(group_id), text=text)}


def edited_text_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    edited = message(chat_id, text=text, edit_date=DATE + 60)
    return {"update_id": update_id, "edited_message": edited}


def sticker_update(update_id: int, chat_id: int) -> dict[str, Any]:
    sticker = {"file_id": "CAACAgIAAxkBAAFake", "file_unique_id": "AgADFake", "type": "regular",
               "width": 512, "height": 512, "is_animated": False, "is_video": False,
               "emoji": "🙏"}
    return {"update_id": update_id, "message": message(chat_id, sticker=sticker)}


def contact_update(update_id: int, chat_id: int, phone: str, *, own: bool = True
                   ) -> dict[str, Any]:
    contact = {"phone_number": phone, "first_name": "Meena"}
    if own:
        contact["user_id"] = chat_id
    return {"update_id": update_id, "message": message(chat_id, contact=contact)}


def callback_update(update_id: int, chat_id: int, data: str, *,
                    chat: dict[str, Any] | None = None) -> dict[str, Any]:
    """A press on an inline button under one of the bot's messages."""
    shown = {"message_id": next(_message_ids), "date": DATE, "from": BOT_USER,
             "chat": chat or private_chat(chat_id), "text": "…"}
    query = {"id": f"4382bfdwdsb323b2d9{update_id}", "from": user(chat_id), "message": shown,
             "chat_instance": "-8211420411385421417", "data": data}
    return {"update_id": update_id, "callback_query": query}
