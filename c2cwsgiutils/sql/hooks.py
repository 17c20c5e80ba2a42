"""The one SQLAlchemy hook per dialect that runs tagging and the profiler.

It is a *dialect* event (``do_execute``), not a ``Connection`` event such as
``before_cursor_execute``: any ``Connection`` event listener switches SQLAlchemy onto its slow
statement path for the whole engine (measured: about 20,000 more CPU instructions per statement,
see ``bench/bench_sql.py``), while dialect events cost one empty-list check when unused.

When the statement needs no change and the profiler is off, the hook returns ``False`` and the
dialect executes the statement as usual; otherwise it executes it on the cursor itself, exactly as
the default dialect does (``cursor.execute(statement, parameters)``), and returns ``True``.
``executemany`` statements get the ``application_name`` but no comment (psycopg2's dialect runs them
its own way).
"""

from __future__ import annotations

import weakref
from typing import Any

from c2cwsgiutils.sql import profiler, tagging

__all__ = ["DialectHooks", "hooks_for"]


class DialectHooks:
    """What to do for the statements of one dialect (one engine); the flags may be turned on later."""

    __slots__ = ("__weakref__", "application_name", "comment", "dialect_name", "position", "profile")

    def __init__(self, dialect_name: str = "postgresql") -> None:
        self.dialect_name = dialect_name
        self.application_name = False
        self.comment = False
        self.position = "start"
        self.profile = False

    def do_execute(self, cursor: Any, statement: Any, parameters: Any, context: Any) -> bool:
        """SQLAlchemy's ``do_execute`` dialect event."""
        return self._run(cursor, statement, parameters, context, True)

    def do_execute_no_params(self, cursor: Any, statement: Any, context: Any) -> bool:
        """SQLAlchemy's ``do_execute_no_params`` dialect event."""
        return self._run(cursor, statement, None, context, False)

    def do_executemany(self, cursor: Any, statement: Any, parameters: Any, context: Any) -> bool:
        """SQLAlchemy's ``do_executemany`` dialect event: application_name only."""
        if self.application_name:
            tagging.ensure_application_name(context)
        return False

    def _run(self, cursor: Any, statement: Any, parameters: Any, context: Any, has_params: bool) -> bool:
        if self.application_name:
            tagging.ensure_application_name(context)
        executed = statement
        if self.comment:
            executed = tagging.comment_statement(statement, cursor, has_params, context, self.position)
        if self.profile and profiler.is_enabled():
            profiler.execute_profiled(cursor, executed, parameters, has_params, context)
            return True
        if executed is statement:
            return False
        if has_params:
            cursor.execute(executed, parameters)
        else:
            cursor.execute(executed)
        return True


_HOOKS: weakref.WeakKeyDictionary[Any, DialectHooks] = weakref.WeakKeyDictionary()


def hooks_for(dialect: Any) -> DialectHooks:
    """The hooks of ``dialect`` (an engine's ``.dialect``), attached on first use."""
    hooks = _HOOKS.get(dialect)
    if hooks is None:
        from sqlalchemy import event

        hooks = _HOOKS[dialect] = DialectHooks(dialect.name)
        event.listen(dialect, "do_execute", hooks.do_execute)
        event.listen(dialect, "do_execute_no_params", hooks.do_execute_no_params)
        event.listen(dialect, "do_executemany", hooks.do_executemany)
    return hooks
