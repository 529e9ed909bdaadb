"""Domain errors, and the one place they become HTTP responses.

DomainError
    NotFound      -> 404 (also for ids outside the caller's scope: never 403 with data)
    Conflict      -> 409
    Invalid       -> 422
    Unauthorized  -> 401
    Forbidden     -> 403 (a role may not do this at all; says nothing about data)
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

__all__ = [
    "Conflict",
    "DomainError",
    "Forbidden",
    "Invalid",
    "NotFound",
    "Unauthorized",
    "install_error_handlers",
]


class DomainError(Exception):
    """Base of the controller's own errors."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Invalid(DomainError):
    status_code = 422


class Unauthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


def install_error_handlers(app: FastAPI) -> None:
    """Map every DomainError to its status code with a JSON `detail`."""

    async def _handle(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    app.add_exception_handler(DomainError, _handle)
