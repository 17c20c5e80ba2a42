"""Print, or write into docs/settings.md, the settings table generated from the declared settings.

Usage: python scripts/settings_table.py [--write docs/settings.md] [--check docs/settings.md]
The table sits between the markers <!-- settings-table:start --> and <!-- settings-table:end -->.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path

from c2cwsgiutils import config
from c2cwsgiutils.pyramid import import_features

START = "<!-- settings-table:start -->"
END = "<!-- settings-table:end -->"


# Settings of parts that are not Pyramid features of c2cwsgiutils.pyramid (own applications).
# Declared by modules no include imports (their settings are not validated at every start-up: the
# OTEL_* variables are shared with the OpenTelemetry SDKs, which accept values the OtlpHandler does not).
EXTRA_SETTINGS_MODULES = [
    "c2cwsgiutils.collector.settings",
    "c2cwsgiutils.collector.limits",
    "c2cwsgiutils.logging.otlp_handler",
]


def table() -> str:
    import_features()
    for name in EXTRA_SETTINGS_MODULES:
        importlib.import_module(name)
    lines = [
        "| env var | ini key | type | default | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for setting in sorted(config.SETTINGS.values(), key=lambda s: (s.feature != "core", s.feature, s.env)):
        default = setting.default
        shown = "(empty)" if default in ("", None) else f"`{default}`"
        if isinstance(default, bool):
            shown = f"`{str(default).lower()}`"
        meaning = setting.help.replace("|", "\\|").replace("\n", " ")
        ini = f"`{setting.ini}`" if setting.ini else "(env only)"
        lines.append(f"| `{setting.env}` | {ini} | {setting.convert.type_name} | {shown} | {meaning} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", type=Path, help="Markdown file to update in place (docs/settings.md)")
    parser.add_argument("--check", type=Path, help="fail when the table in that file is not up to date")
    args = parser.parse_args()
    generated = table()
    target = args.write or args.check
    if target is None:
        print(generated)
        return 0
    text = target.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        print(f"{target}: markers {START} / {END} not found", file=sys.stderr)
        return 2
    updated = pattern.sub(lambda _: f"{START}\n{generated}\n{END}", text)
    if args.check:
        if updated != text:
            print(f"{target}: settings table is out of date; run `make docs`", file=sys.stderr)
            return 1
        return 0
    target.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
