"""commands, jobs and media: clip-export jobs and kept snapshots

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 05:25:13
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import controller.core.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UtcDateTime = controller.core.types.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "clipjob",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("box_id", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.Column("start", UtcDateTime(), nullable=False),
        sa.Column("end", UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("deadline", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("published_at", UtcDateTime(), nullable=True),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.Column("upload_token_hash", sa.String(length=64), nullable=False),
        sa.Column("upload_length", sa.BigInteger(), nullable=True),
        sa.Column("upload_offset", sa.BigInteger(), nullable=False),
        sa.Column("media_key", sa.String(length=300), nullable=True),
        sa.Column("media_bytes", sa.BigInteger(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("clipjob", schema=None) as batch_op:
        batch_op.create_index("ix_clipjob_box_state", ["box_id", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_clipjob_school_id"), ["school_id"], unique=False)
        batch_op.create_index("ix_clipjob_state_deadline", ["state", "deadline"], unique=False)

    op.create_table(
        "snapshot",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("box_id", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("taken_at", UtcDateTime(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("snapshot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_snapshot_school_id"), ["school_id"], unique=False)
        batch_op.create_index(
            "ix_snapshot_slot_taken", ["box_id", "slot", "taken_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("snapshot", schema=None) as batch_op:
        batch_op.drop_index("ix_snapshot_slot_taken")
        batch_op.drop_index(batch_op.f("ix_snapshot_school_id"))
    op.drop_table("snapshot")
    with op.batch_alter_table("clipjob", schema=None) as batch_op:
        batch_op.drop_index("ix_clipjob_state_deadline")
        batch_op.drop_index(batch_op.f("ix_clipjob_school_id"))
        batch_op.drop_index("ix_clipjob_box_state")
    op.drop_table("clipjob")
