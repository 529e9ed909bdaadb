"""Command line of schoolcam-controller: serve, ingest, migrate, users and tokens."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer
from pydantic import ValidationError

from controller.core.settings import Settings
from protocol import __version__

app = typer.Typer(help="schoolcam controller.", no_args_is_help=True, add_completion=False)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")

log = logging.getLogger(__name__)


def _settings() -> Settings:
    try:
        return Settings()
    except (ValidationError, ValueError) as exc:
        typer.echo(f"invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc


def _with_writer_process(settings: Settings, flag: bool) -> Settings:
    return settings.model_copy(update={"ingest_writer_process": True}) if flag else settings


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    from controller.migrations import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    typer.echo("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_ingest: Annotated[bool, typer.Option("--no-ingest", help="API only.")] = False,
    writer_process: Annotated[
        bool,
        typer.Option(
            "--writer-process", help="Decode and write ingest in child processes (INGEST_WRITERS)."
        ),
    ] = False,
) -> None:
    """Run the API (and, unless --no-ingest, ingest and sweeps) in one process."""
    import uvicorn

    from controller.runtime import Controller

    settings = _with_writer_process(_settings(), writer_process)
    controller = Controller(settings, ingest=not no_ingest)
    controller.start(wait_s=2.0)  # the API serves even while the broker is away
    try:
        uvicorn.run(controller.app, host=host, port=port, log_config=None)
    finally:
        controller.stop()


@app.command()
def ingest(
    writer_process: Annotated[
        bool,
        typer.Option(
            "--writer-process", help="Decode and write in child processes (INGEST_WRITERS)."
        ),
    ] = False,
) -> None:
    """Run ingest and sweeps only, until SIGINT/SIGTERM (or until the writer keeps dying)."""
    from controller.runtime import Controller

    settings = _with_writer_process(_settings(), writer_process)
    controller = Controller(settings, ingest=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller.start()
    link = controller.ingest.link if controller.ingest is not None else None
    try:
        while not stop.wait(1.0):
            if link is not None and link.failed.is_set():
                typer.echo("ingest writer keeps dying; stopping", err=True)
                raise typer.Exit(1)
    finally:
        controller.stop()


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="ops, school, technician or vendor.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    school: Annotated[str | None, typer.Option(help="School code (role school).")] = None,
    vendor: Annotated[str | None, typer.Option(help="Vendor (role vendor).")] = None,
) -> None:
    """Create a user."""
    from sqlmodel import Session

    from controller.auth.models import Role, UserCreate
    from controller.auth.service import create_user
    from controller.core.db import make_engine
    from controller.core.errors import DomainError
    from controller.schools.service import get_school_by_code

    settings = _settings()
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        school_id = None
        if school is not None:
            found = get_school_by_code(session=session, code=school)
            if found is None:
                typer.echo(f"no school {school!r}", err=True)
                raise typer.Exit(1)
            school_id = found.id
        try:
            data = UserCreate(
                username=username,
                role=Role(role),
                school_id=school_id,
                vendor=vendor,
                password=password,
            )
            create_user(session=session, data=data)
            session.commit()
        except (ValueError, DomainError) as exc:
            typer.echo(f"cannot create user: {exc}", err=True)
            raise typer.Exit(1) from exc
    typer.echo(f"user {username} created")


@token_app.command("create")
def token_create(
    username: Annotated[str, typer.Argument(help="Owner of the token.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
) -> None:
    """Issue an API token for a user; printed once, stored only as a hash."""
    from sqlmodel import Session

    from controller.auth.service import get_user_by_name, issue_token
    from controller.core.db import make_engine
    from controller.core.errors import DomainError

    settings = _settings()
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        try:
            user = get_user_by_name(session=session, username=username)
        except DomainError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
        token, _record = issue_token(
            session=session, secret_key=settings.secret_key, user=user, kind="api", name=name
        )
        session.commit()
    typer.echo(token)


def main() -> None:
    """Console-script entry point."""
    from controller.core.logging import setup_logging

    setup_logging()
    app()
