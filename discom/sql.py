"""Small dialect-aware statements that SQLAlchemy spells differently per engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_insert(session: AsyncSession, table: Table) -> Any:
    """`INSERT` with `on_conflict_do_nothing/update` for the session's engine."""
    name = session.bind.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database: {name}")


async def insert_if_absent(
    session: AsyncSession, table: Table, values: dict[str, Any], unique: list[str]
) -> bool:
    """Insert one row unless one with the same `unique` columns exists. True if inserted."""
    statement = (
        dialect_insert(session, table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=unique)
        .returning(table.c[unique[0]])
    )
    return (await session.execute(statement)).first() is not None


async def insert_new_id(
    session: AsyncSession, table: Table, values: dict[str, Any], unique: list[str]
) -> int | None:
    """Insert one row unless one with the same `unique` columns exists: the new row's id,
    or None when it existed (one statement, where a lookup after the insert is two)."""
    statement = (
        dialect_insert(session, table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=unique)
        .returning(table.c.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()
