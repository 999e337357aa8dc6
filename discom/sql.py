"""Small dialect-aware statements that SQLAlchemy spells differently per engine."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_insert(session: AsyncSession, table: Table) -> Any:
    """`INSERT` with `on_conflict_do_nothing/update` for the session's engine."""
    return dialect_insert_for(session.bind.dialect.name, table)


def dialect_insert_for(dialect: str, table: Table) -> Any:
    """`INSERT` with `on_conflict_do_nothing/update` for the engine named `dialect`."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database: {dialect}")


@functools.cache
def _insert_ignoring(dialect: str, table: Table, unique: tuple[str, ...], returning: str,
                     index_where: Any = None) -> Any:
    """`INSERT … ON CONFLICT (unique) [WHERE index_where] DO NOTHING RETURNING returning`,
    built once per table and key and run with each row's values: building an INSERT from a
    dict of values costs more Python time than running it (a payment's webhook makes
    several)."""
    return (dialect_insert_for(dialect, table)
            .on_conflict_do_nothing(index_elements=list(unique), index_where=index_where)
            .returning(table.c[returning]))


async def insert_if_absent(
    session: AsyncSession, table: Table, values: dict[str, Any], unique: list[str]
) -> bool:
    """Insert one row unless one with the same `unique` columns exists. True if inserted."""
    statement = _insert_ignoring(session.bind.dialect.name, table, tuple(unique), unique[0])
    return (await session.execute(statement, values)).first() is not None


async def insert_new_id(
    session: AsyncSession, table: Table, values: dict[str, Any], unique: list[str],
    index_where: Any = None,
) -> int | None:
    """Insert one row unless one with the same `unique` columns exists (among the rows
    matching `index_where`, for a partial unique index): the new row's id, or None when it
    existed (one statement, where a lookup after the insert is two)."""
    statement = _insert_ignoring(session.bind.dialect.name, table, tuple(unique), "id",
                                 index_where)
    return (await session.execute(statement, values)).scalar_one_or_none()
