"""camera completeness and the indexes for the scale targets

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CAMERA_DOWN = "NOT (box_online AND state = 'online')"


def upgrade() -> None:
    with op.batch_alter_table("camera", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completeness", sa.Float(), nullable=True))
    op.create_index(
        "ix_camera_down",
        "camera",
        ["box_id", "slot"],
        unique=False,
        sqlite_where=sa.text(CAMERA_DOWN),
        postgresql_where=sa.text(CAMERA_DOWN),
    )
    op.create_index(
        "ix_camera_completeness",
        "camera",
        ["enabled", "box_online", "completeness", "status_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_camera_completeness", table_name="camera")
    op.drop_index("ix_camera_down", table_name="camera")
    with op.batch_alter_table("camera", schema=None) as batch_op:
        batch_op.drop_column("completeness")
