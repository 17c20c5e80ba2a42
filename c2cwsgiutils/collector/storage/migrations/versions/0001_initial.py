"""The log record table and its indexes.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "c2c_log_record",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("uuid", sa.String(32), nullable=True, unique=True),
        sa.Column("time_us", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("logger_name", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("host", sa.String(), nullable=True),
        sa.Column("service", sa.String(), nullable=True),
        sa.Column("request_id", sa.String(), nullable=True),
        sa.Column("trace_id", sa.String(), nullable=True),
        sa.Column("span_id", sa.String(), nullable=True),
        sa.Column("parent_span_id", sa.String(), nullable=True),
        sa.Column("task_id", sa.String(), nullable=True),
        sa.Column("kind", sa.String(), nullable=True),
        sa.Column("data", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
    )
    op.create_index("ix_c2c_log_record_time_us", "c2c_log_record", ["time_us"])
    op.create_index("ix_c2c_log_record_level_time", "c2c_log_record", ["level", "time_us"])
    op.create_index("ix_c2c_log_record_logger_name", "c2c_log_record", ["logger_name"])
    op.create_index("ix_c2c_log_record_request_id", "c2c_log_record", ["request_id"])
    op.create_index("ix_c2c_log_record_trace_id", "c2c_log_record", ["trace_id"])


def downgrade() -> None:
    op.drop_table("c2c_log_record")
