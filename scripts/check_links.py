"""Check the relative links of Markdown files that are not pages of the docs site.

Usage: python scripts/check_links.py README.md bench/README.md ...
mkdocs checks the links of docs/ itself (``make docs-check``); this checks the files outside it
(README.md is the front page on GitHub and PyPI): every relative link names an existing file and,
with ``#anchor``, a heading of that Markdown file (slugs as MkDocs makes them).
Exit status 1 with one line per broken link.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

LINK = re.compile(r"!?\[(?:[^\]]|\][^(])*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6}) (.*)$")


def slugify(text: str) -> str:
    """The anchor MkDocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).replace("`", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def outside_fences(text: str) -> list[tuple[int, str]]:
    """The lines of a Markdown text that are not inside a fenced code block, numbered from 1."""
    lines: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.split("\n"), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings."""
    found: set[str] = set()
    for _, line in outside_fences(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match:
            found.add(slugify(match.group(2)))
    return found


def broken_links(path: Path) -> list[str]:
    """One message per broken relative link of ``path``."""
    problems: list[str] = []
    for number, line in outside_fences(path.read_text(encoding="utf-8")):
        prose = re.sub(r"`[^`]*`", "", line)  # a link inside inline code is text
        for match in LINK.finditer(prose):
            target = match.group(1)
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path.resolve()
            if not resolved.exists():
                problems.append(f"{path}:{number}: {target}: no such file")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                problems.append(f"{path}:{number}: {target}: no heading with that anchor")
    return problems


def main(argv: list[str]) -> int:
    problems = [problem for name in argv for problem in broken_links(Path(name))]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
