"""Command line of schoolcam-agent: run, check-config, version."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from agent.config import AgentConfig, ConfigFileError, load_config
from agent.credentials import CredentialError, resolve_secret
from protocol import __version__

app = typer.Typer(help="schoolcam agent.", no_args_is_help=True, add_completion=False)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The agent.yaml to use.", show_default=False)
]

EXIT_CONFIG = 2


def _secret_problems(config: AgentConfig) -> list[tuple[str, str]]:
    """Password sources that name a missing file or variable (never the secret itself)."""
    problems = []
    for number, camera in enumerate(config.cameras):
        ref = camera.to_camera_config().password_ref
        if ref is None or not camera.enabled:
            continue
        try:
            resolve_secret(ref)
        except CredentialError as exc:
            field = "password_file" if ref.startswith("file:") else "password_env"
            problems.append((f"cameras.{number}.{field}", str(exc)))
    return problems


def _load(path: Path) -> AgentConfig:
    try:
        config = load_config(path)
    except ConfigFileError as exc:
        _fail(path, exc.problems)
    problems = _secret_problems(config)
    if problems:
        _fail(path, problems)
    return config


def _fail(path: Path, problems: list[tuple[str, str]]) -> NoReturn:
    typer.echo(f"{path}: {len(problems)} problem(s)", err=True)
    for where, message in problems:
        typer.echo(f"  {where or '(file)'}: {message}", err=True)
    raise typer.Exit(EXIT_CONFIG)


@app.command("check-config")
def check_config(config: ConfigOption) -> None:
    """Validate agent.yaml; print every problem with its path and exit 2 if there is one."""
    loaded = _load(config)
    typer.echo(
        f"{config}: ok (box {loaded.box_id}, school {loaded.school}, "
        f"{len(loaded.cameras)} cameras, storage {loaded.storage.path})"
    )


@app.command()
def run(config: ConfigOption) -> None:
    """Run the agent until SIGTERM or Ctrl-C."""
    loaded = _load(config)
    logging.basicConfig(
        level=loaded.log_level,
        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s",
    )
    from agent.app import AgentApp

    AgentApp(loaded).run()


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
