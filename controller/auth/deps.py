"""FastAPI dependencies every router reuses: the session, the settings, the caller's scope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from controller.auth import service
from controller.auth.models import Role, User
from controller.auth.scope import Scope, require_role
from controller.core.settings import Settings

__all__ = [
    "CurrentUser",
    "OpsScope",
    "ScopeDep",
    "SessionDep",
    "SettingsDep",
    "WriterScope",
    "get_session",
]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token")


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, committed when the route returns without error."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_current_user(
    session: SessionDep, settings: SettingsDep, token: Annotated[str, Depends(oauth2_scheme)]
) -> User:
    return service.resolve_token(session=session, secret_key=settings.secret_key, token=token)


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_scope(user: CurrentUser) -> Scope:
    return Scope(role=user.role, user_id=user.id, school_id=user.school_id, vendor=user.vendor)


ScopeDep = Annotated[Scope, Depends(get_scope)]


def get_ops_scope(scope: ScopeDep) -> Scope:
    require_role(scope, Role.OPS)
    return scope


def get_writer_scope(scope: ScopeDep) -> Scope:
    """Ops and technicians change the fleet's set-up; schools and vendors only read."""
    require_role(scope, Role.OPS, Role.TECHNICIAN)
    return scope


OpsScope = Annotated[Scope, Depends(get_ops_scope)]
WriterScope = Annotated[Scope, Depends(get_writer_scope)]
