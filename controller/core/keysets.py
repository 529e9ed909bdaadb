"""Filters on many keys whose SQL is the same whatever the number of keys.

Ingest asks about a few hundred boxes or cameras in every batch. As an IN list, every batch
sends a different statement: SQLAlchemy expands and binds each value, and SQLite prepares the
long statement afresh, together four times the cost of the query itself. Here the keys travel
as one parameter instead: a JSON array walked by `json_each` on SQLite, arrays on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Integer, String, and_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import Session

__all__ = ["join_camera_keys", "one_of"]


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def one_of(session: Session, column: Any, values: Iterable[str]) -> ColumnElement[bool]:
    """`column IN values` for text keys (box ids, alarm sources), as one parameter."""
    ordered = sorted(values)
    if _postgres(session):
        return column == func.any(bindparam(None, ordered, type_=ARRAY(String)))
    listed = func.json_each(bindparam(None, json.dumps(ordered))).table_valued("value")
    return column.in_(select(listed.c.value))


def join_camera_keys(
    session: Session,
    stmt: Select[Any],
    box_column: Any,
    slot_column: Any,
    keys: Iterable[tuple[str, int]],
) -> Select[Any]:
    """`stmt` restricted to these (box, slot) cameras by a join on the keys as a table."""
    ordered = sorted(keys)
    if _postgres(session):
        wanted = (
            func.unnest(
                bindparam(None, [k[0] for k in ordered], type_=ARRAY(String)),
                bindparam(None, [k[1] for k in ordered], type_=ARRAY(Integer)),
            )
            .table_valued("k_box", "k_slot")
            .render_derived()
        )
        return stmt.join(wanted, and_(box_column == wanted.c.k_box, slot_column == wanted.c.k_slot))
    pairs = func.json_each(bindparam(None, json.dumps(ordered))).table_valued("value")
    return stmt.join(
        pairs,
        and_(
            box_column == func.json_extract(pairs.c.value, "$[0]"),
            slot_column == func.json_extract(pairs.c.value, "$[1]"),
        ),
    )
