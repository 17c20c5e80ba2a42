"""The documentation's own checks: the front page stays short, broken links are found."""

from __future__ import annotations

from pathlib import Path

from scripts import check_links
from tests.helpers import ROOT


def test_the_readme_is_a_front_page_under_15_kb() -> None:
    assert (ROOT / "README.md").stat().st_size < 15_000


def test_the_links_outside_the_site_are_valid() -> None:
    names = ["README.md", "bench/README.md", "MIGRATION.md", "CHANGELOG.md"]
    assert [problem for name in names for problem in check_links.broken_links(ROOT / name)] == []


def test_a_broken_file_link_or_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "page.md").write_text("# A page\n\n## Some `code` here\n", encoding="utf-8")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](page.md#some-code-here) [missing](nope.md) [anchor](page.md#nope)\n"
        "`[in code](nope.md)`\n```\n[in a fence](nope.md)\n```\n[web](https://example.com/x)\n",
        encoding="utf-8",
    )
    problems = check_links.broken_links(doc)
    assert problems == [
        f"{doc}:1: nope.md: no such file",
        f"{doc}:1: page.md#nope: no heading with that anchor",
    ]
