"""Pagination shared by every list endpoint."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import func

__all__ = ["Page", "PageParams", "PageQuery", "paginate"]

T = TypeVar("T")


class PageParams(BaseModel):
    offset: int = 0
    limit: int = 100


def _page_params(
    offset: Annotated[int, Query(ge=0, description="Rows to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Rows to return.")] = 100,
) -> PageParams:
    return PageParams(offset=offset, limit=limit)


PageQuery = _page_params


class Page(BaseModel, Generic[T]):
    """One page of a list, with the total matching the filters."""

    items: list[T]
    total: int
    offset: int
    limit: int

    @classmethod
    def of(cls, items: list[T], total: int, page: PageParams) -> Page[T]:
        """The page of `items` (already converted to their public form) asked for by `page`."""
        return cls(items=items, total=total, offset=page.offset, limit=page.limit)


def paginate(session: Any, statement: Any, *, offset: int, limit: int) -> tuple[list[Any], int]:
    """Rows of one page of `statement` and the count of all rows it matches."""
    # Count over the same FROM and WHERE without the selected columns, so an index can serve it.
    counting = statement.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
    total = session.exec(counting).one()
    rows = session.exec(statement.offset(offset).limit(limit)).all()
    return list(rows), int(total)
