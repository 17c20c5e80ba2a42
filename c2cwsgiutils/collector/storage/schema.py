"""The collector's one table, as SQLAlchemy Core metadata (the alembic migrations create it).

Time is stored as integer microseconds since the epoch (``time_us``): exact, indexable and
compared/grouped the same way on SQLite and PostgreSQL (integer division truncates on both).
Every attribute of a record that is not a first-class column is kept in the JSON ``data`` column
(JSONB on PostgreSQL).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from c2cwsgiutils.collector.wire import INSERT_COLUMNS

__all__ = ["COLUMN_NAMES", "INSERT_COLUMNS", "METADATA", "TABLE_NAME", "VERSION_TABLE", "record_table"]

TABLE_NAME = "c2c_log_record"
VERSION_TABLE = "c2c_collector_alembic_version"

METADATA = sa.MetaData()

# An INTEGER PRIMARY KEY is the rowid on SQLite (fast appends); BIGSERIAL on PostgreSQL.
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DATA_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

record_table = sa.Table(
    TABLE_NAME,
    METADATA,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
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
    sa.Column("data", DATA_TYPE, nullable=False),
    # Indexes as migration 0002 leaves them (its docstring says why): request_id and trace_id
    # where set; on SQLite one (time, level, name) index, on PostgreSQL one per filter.
    sa.Index(
        "ix_c2c_log_record_request_id",
        "request_id",
        sqlite_where=sa.text("request_id IS NOT NULL"),
        postgresql_where=sa.text("request_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_c2c_log_record_trace_id",
        "trace_id",
        sqlite_where=sa.text("trace_id IS NOT NULL"),
        postgresql_where=sa.text("trace_id IS NOT NULL"),
    ),
    sa.Index("ix_c2c_log_record_time_level_name", "time_us", "level", "logger_name").ddl_if(dialect="sqlite"),
    sa.Index("ix_c2c_log_record_time_us", "time_us").ddl_if(dialect="postgresql"),
    sa.Index("ix_c2c_log_record_level_time", "level", "time_us").ddl_if(dialect="postgresql"),
    sa.Index("ix_c2c_log_record_logger_name", "logger_name").ddl_if(dialect="postgresql"),
)

COLUMN_NAMES = ("id", *INSERT_COLUMNS)
