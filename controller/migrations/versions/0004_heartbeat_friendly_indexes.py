"""heartbeats touch no indexed column; room on each page for in-place updates

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:20:00

A heartbeat moves camera.status_at and last_packet_at and box.last_seen, many thousand times
a minute. ix_camera_completeness held status_at, so each heartbeat rewrote every index of its
camera's row. On PostgreSQL the two hot tables also keep a fifth of each page free, so such
updates stay on their page (heap-only tuples) instead of growing the table and its indexes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOT_TABLES = ("camera", "box")


def upgrade() -> None:
    op.drop_index("ix_camera_completeness", table_name="camera")
    op.create_index(
        "ix_camera_completeness", "camera", ["enabled", "box_online", "completeness"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in HOT_TABLES:
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in HOT_TABLES:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    op.drop_index("ix_camera_completeness", table_name="camera")
    op.create_index(
        "ix_camera_completeness",
        "camera",
        ["enabled", "box_online", "completeness", "status_at"],
        unique=False,
    )
