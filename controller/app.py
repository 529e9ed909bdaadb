"""The FastAPI app factory: routers, error mapping, health and metrics."""

from __future__ import annotations

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text

from controller.api import api_router
from controller.auth.deps import WriterScope
from controller.core.db import make_engine
from controller.core.errors import install_error_handlers
from controller.core.settings import Settings
from controller.mqtt import Publisher
from protocol import __version__

__all__ = ["create_app"]


def create_app(
    settings: Settings, *, engine: Engine | None = None, publisher: Publisher | None = None
) -> FastAPI:
    """An app over `engine` (made from the settings if not given); `publisher` sends to boxes."""
    app = FastAPI(title="schoolcam controller", version=__version__)
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url)
    app.state.publisher = publisher
    install_error_handlers(app)
    app.include_router(api_router)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Alive and the database answers; no authentication."""
        with app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def metrics(_scope: WriterScope) -> Response:
        """Prometheus exposition; scrape with an ops or technician API token as bearer."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
