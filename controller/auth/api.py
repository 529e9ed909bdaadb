"""Login (OAuth2 password flow), API tokens for machines, and user management."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from controller.auth import service
from controller.auth.deps import CurrentUser, OpsScope, ScopeDep, SessionDep, SettingsDep
from controller.auth.models import (
    ApiTokenCreate,
    ApiTokenIssued,
    Role,
    TokenResponse,
    UserCreate,
    UserPublic,
)
from controller.core.errors import Forbidden
from controller.core.pagination import Page, PageParams, PageQuery

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=TokenResponse)
def login(
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenResponse:
    """Exchange user name and password for a bearer token."""
    user = service.authenticate(session=session, username=form.username, password=form.password)
    token, record = service.issue_token(
        session=session,
        secret_key=settings.secret_key,
        user=user,
        kind="login",
        ttl=timedelta(seconds=settings.token_ttl_s),
    )
    return TokenResponse(access_token=token, expires_at=record.expires_at)


@router.get("/auth/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.post("/auth/api-tokens", response_model=ApiTokenIssued, status_code=201)
def create_api_token(
    body: ApiTokenCreate,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    scope: ScopeDep,
) -> ApiTokenIssued:
    """A long-lived token for a machine; shown once."""
    owner = user
    if body.username and body.username != user.username:
        if scope.role != Role.OPS:
            raise Forbidden("only ops may issue tokens for other users")
        owner = service.get_user_by_name(session=session, username=body.username)
    token, record = service.issue_token(
        session=session, secret_key=settings.secret_key, user=owner, kind="api", name=body.name
    )
    assert record.id is not None
    return ApiTokenIssued(access_token=token, id=record.id, name=record.name)


@router.post("/users", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, session: SessionDep, _scope: OpsScope) -> UserPublic:
    return UserPublic.model_validate(service.create_user(session=session, data=body))


@router.get("/users", response_model=Page[UserPublic])
def list_users(
    session: SessionDep, _scope: OpsScope, page: Annotated[PageParams, Depends(PageQuery)]
) -> Page[UserPublic]:
    users, total = service.list_users(session=session, offset=page.offset, limit=page.limit)
    return Page.of([UserPublic.model_validate(u) for u in users], total, page)
