"""Loading and saving chats and their conversation state, safe across processes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialog.turn import State, Turn
from discom.models import Chat, ChatAccount, Consumer, Conversation
from discom.sql import insert_if_absent


async def open_chat(
    session: AsyncSession, channel: str, external_id: str, default_language: str, now: datetime
) -> tuple[Chat, Conversation]:
    """The chat and its conversation, created on first contact; the conversation row is
    locked for this transaction so two messages from one chat are handled one after the other.
    """
    await insert_if_absent(
        session,
        Chat.__table__,
        {"channel": channel, "external_id": external_id, "language": default_language,
         "language_chosen": False, "created_at": now, "last_inbound_at": now},
        ["channel", "external_id"],
    )
    chat = await session.scalar(
        select(Chat).where(Chat.channel == channel, Chat.external_id == external_id)
    )
    assert chat is not None
    chat.last_inbound_at = now
    await insert_if_absent(
        session,
        Conversation.__table__,
        {"chat_id": chat.id, "state": State.CHOOSING_LANGUAGE, "data": {}, "updated_at": now},
        ["chat_id"],
    )
    conversation = await session.scalar(
        select(Conversation).where(Conversation.chat_id == chat.id).with_for_update()
    )
    assert conversation is not None
    return chat, conversation


def save_conversation(
    conversation: Conversation, state: State, turn: Turn, timeout: timedelta
) -> None:
    """Keep the next state, the task's answers and the chat's memory; a task waiting for an
    answer expires after `timeout`."""
    conversation.state = state
    # A new object, so the JSON column is seen as changed.
    conversation.data = {"task": turn.data, "memory": turn.memory}
    conversation.updated_at = turn.now
    waiting = state not in (State.IDLE, State.CHOOSING_LANGUAGE)
    conversation.expires_at = turn.now + timeout if waiting else None


async def linked_consumer_nos(session: AsyncSession, chat_id: int) -> list[str]:
    rows = await session.scalars(
        select(Consumer.consumer_no)
        .join(ChatAccount, ChatAccount.consumer_id == Consumer.id)
        .where(ChatAccount.chat_id == chat_id)
        .order_by(ChatAccount.linked_at)
    )
    return list(rows)
