"""Fewer B-trees to maintain per stored record: ingestion is the collector's hot path.

SQLite: one index ``(time_us, level, logger_name)`` replaces those on ``time_us``,
``(level, time_us)`` and ``logger_name``. It serves time ranges and the newest-first order,
and covers the level and logger name filters of counts and timelines (an index on
``logger_name`` alone cannot serve the prefix filter, ``substr(logger_name, 1, n) = ?``, and
made ``name = x`` ranges sort every record of that logger). PostgreSQL keeps its indexes on
time, level (+ time) and logger name. On both, ``request_id`` and ``trace_id`` are indexed only
where they are set (records outside a request cost no entry); ``= ?`` on them implies
``IS NOT NULL``, so both planners use these partial indexes.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "c2c_log_record"


def _partial(name: str, column: str) -> None:
    where = sa.text(f"{column} IS NOT NULL")
    op.create_index(name, TABLE, [column], sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    op.drop_index("ix_c2c_log_record_request_id", TABLE)
    op.drop_index("ix_c2c_log_record_trace_id", TABLE)
    _partial("ix_c2c_log_record_request_id", "request_id")
    _partial("ix_c2c_log_record_trace_id", "trace_id")
    if op.get_context().dialect.name == "sqlite":
        op.drop_index("ix_c2c_log_record_time_us", TABLE)
        op.drop_index("ix_c2c_log_record_level_time", TABLE)
        op.drop_index("ix_c2c_log_record_logger_name", TABLE)
        op.create_index("ix_c2c_log_record_time_level_name", TABLE, ["time_us", "level", "logger_name"])


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.drop_index("ix_c2c_log_record_time_level_name", TABLE)
        op.create_index("ix_c2c_log_record_time_us", TABLE, ["time_us"])
        op.create_index("ix_c2c_log_record_level_time", TABLE, ["level", "time_us"])
        op.create_index("ix_c2c_log_record_logger_name", TABLE, ["logger_name"])
    op.drop_index("ix_c2c_log_record_request_id", TABLE)
    op.drop_index("ix_c2c_log_record_trace_id", TABLE)
    op.create_index("ix_c2c_log_record_request_id", TABLE, ["request_id"])
    op.create_index("ix_c2c_log_record_trace_id", TABLE, ["trace_id"])
