"""The one SQL normaliser, and that the profiler, the SQL metrics and the SQL spans name a statement alike."""

from __future__ import annotations

import pytest

from c2cwsgiutils.sql import profiler
from c2cwsgiutils.sql import spans as sql_spans
from c2cwsgiutils.sql.normalise import normalise, shortened
from c2cwsgiutils.stats import sql as sql_stats

CASES = [
    # casts stay, parameters go
    ("SELECT col1::text FROM t2 WHERE x::int = :name", "SELECT col1::text FROM t2 WHERE x::int = ?"),
    (
        "SELECT a FROM t WHERE b = %(b_1)s AND c = %s AND d = $1 AND e = ?",
        "SELECT a FROM t WHERE b = ? AND c = ? AND d = ? AND e = ?",
    ),
    # numbers, exponents, signs; digits in names stay
    ("SELECT 1e5, 2.5E-3, .5, 42, t2.c3 FROM t2", "SELECT ?, ?, ?, ?, t2.c3 FROM t2"),
    ("SELECT a FROM t WHERE b = -1 AND c - 1 > 0", "SELECT a FROM t WHERE b = ? AND c - ? > ?"),
    # strings of every kind
    ("SELECT 'x''y', E'it\\'s', B'101', X'1F', N'n', U&'d\\0061t'", "SELECT ?, ?, ?, ?, ?, ?"),
    ("SELECT $$a 'b' ; 1$$, $fn$ x $$ y $fn$ FROM t", "SELECT ?, ? FROM t"),
    ("SELECT a FROM t WHERE b = 'never closed", "SELECT a FROM t WHERE b = ?"),
    # quoted identifiers are kept whole
    ('SELECT "col 1", "a""2" FROM "t-3"', 'SELECT "col 1", "a""2" FROM "t-3"'),
    # IN lists, arrays, VALUES rows
    ("SELECT a FROM t WHERE id IN (1, 2, 3, 4)", "SELECT a FROM t WHERE id IN (?)"),
    ("SELECT a FROM t WHERE id IN (-1, +2)", "SELECT a FROM t WHERE id IN (?)"),
    ("SELECT a FROM t WHERE id = ANY(ARRAY[1, 2, 3])", "SELECT a FROM t WHERE id = ANY(ARRAY[?])"),
    ("INSERT INTO t (a, b) VALUES (1, 'a'), (2, 'b'), (3, 'c')", "INSERT INTO t (a, b) VALUES (?)"),
    ("INSERT INTO t (a) VALUES (%(a_m0)s), (%(a_m1)s)", "INSERT INTO t (a) VALUES (?)"),
    # comments, including the tagging's, and whitespace
    ("/*request_id='abc',traceparent='00-1-2-01'*/ SELECT a -- note\nFROM t /* x */", "SELECT a FROM t"),
    ("SELECT a -- 'not a string\n FROM t", "SELECT a FROM t"),
    ("SELECT '/* not a comment */' FROM t", "SELECT ? FROM t"),
]


@pytest.mark.parametrize(("statement", "expected"), CASES)
def test_normalise(statement: str, expected: str) -> None:
    assert normalise(statement) == expected


@pytest.mark.parametrize(("statement", "expected"), CASES)
def test_profiler_metrics_and_spans_give_the_same_text(statement: str, expected: str) -> None:
    assert profiler.normalize(statement) == sql_stats.normalize(statement) == sql_spans._text(statement, None)
    assert profiler.normalize(statement) == expected


def test_same_statement_with_other_values_is_the_same_text() -> None:
    assert normalise("SELECT * FROM t WHERE id IN (1, 2) AND d > 1e3 -- a") == normalise(
        "select * FROM t\n WHERE id IN (7) AND d > 2.5 /* b */"
    ).replace("select", "SELECT")


def test_shortened_keeps_long_texts_apart() -> None:
    first = shortened("x" * 200 + "a", 160)
    second = shortened("x" * 200 + "b", 160)
    assert first != second
    assert len(first) <= 170
    assert shortened("short", 160) == "short"
