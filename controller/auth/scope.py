"""What a caller may see; every service query is narrowed through here.

An id outside the caller's scope is simply not found (404): the answer never tells a school
that another school's camera exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, false, select, true
from sqlmodel import col

from controller.auth.models import Role
from controller.core.errors import Forbidden
from controller.schools.models import School

__all__ = ["Scope", "require_role"]

Q = TypeVar("Q")


@dataclass(frozen=True)
class Scope:
    """The caller's reach: everything (ops, technician), one school, or one vendor's schools."""

    role: Role
    user_id: int | None = None
    school_id: int | None = None
    vendor: str | None = None

    @classmethod
    def everything(cls) -> Scope:
        """For internal callers (ingest, sweeps, CLI)."""
        return cls(role=Role.OPS)

    @property
    def unlimited(self) -> bool:
        return self.role in (Role.OPS, Role.TECHNICIAN)

    def school_condition(self, school_id_column: Any) -> ColumnElement[bool]:
        """A WHERE clause keeping only rows whose school column is in scope."""
        if self.unlimited:
            return true()
        if self.role == Role.SCHOOL:
            if self.school_id is None:
                return false()
            return school_id_column == self.school_id
        if self.role == Role.VENDOR and self.vendor:
            vendor_schools = select(col(School.id)).where(col(School.vendor) == self.vendor)
            return school_id_column.in_(vendor_schools)
        return false()

    def allows_school(self, school: School) -> bool:
        if self.unlimited:
            return True
        if self.role == Role.SCHOOL:
            return school.id == self.school_id
        return self.role == Role.VENDOR and self.vendor is not None and school.vendor == self.vendor


def require_role(scope: Scope, *roles: Role) -> None:
    """Refuse an action the caller's role may not take at all."""
    if scope.role not in roles:
        raise Forbidden(f"role {scope.role.value} may not do this")
