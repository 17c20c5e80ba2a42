"""``c2cwsgiutils-logs`` never writes terminal control sequences from record fields (issue #18)."""

from __future__ import annotations

import pytest

from tests.collector.cli_process import Collector, collector, logs  # noqa: F401 - the fixture
from tests.collector.records import wire

HOSTILE = "pay\x1b[2J\x1b]52;c;ZXZpbA==\x07day\rFORGED LINE\x9b31m\u202eevil"
CONTROLS = ("\x1b", "\x07", "\r", "\x9b", "\u202e")
OUR_COLOURS = ("\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[36m", "\x1b[2m", "\x1b[1m", "\x1b[0m")


@pytest.mark.parametrize(
    "command",
    [
        ["query", "--request-id", "req-escape", "--color", "never"],
        ["query", "--request-id", "req-escape", "--color", "always"],
        ["query", "--request-id", "req-escape", "--json"],
        ["request", "req-escape", "--color", "never"],
        [
            "tail",
            "--from-id",
            "0",
            "--max",
            "1",
            "--timeout",
            "20",
            "--request-id",
            "req-escape",
            "--color",
            "never",
        ],
    ],
    ids=["query", "query-colour", "query-json", "request", "tail"],
)
def test_control_characters_of_records_are_escaped(collector: Collector, command: list[str]) -> None:  # noqa: F811
    collector.post(
        wire(
            HOSTILE,
            request_id="req-escape",
            logger_name="evil\x1b[8m",
            service="svc\x1b]0;title\x07",
            span_id="span\r1",
        )
    )
    result = logs(collector, *command)
    assert result.returncode == 0, result.stderr
    assert "FORGED LINE" in result.stdout
    text = result.stdout
    for colour in OUR_COLOURS:  # the CLI's own colours; the record's "\x1b[8m", "\x1b[2J" stay visible
        text = text.replace(colour, "")
    for control in CONTROLS:
        assert control not in text, (control, result.stdout)
