from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import child_env

MODELS = textwrap.dedent(
    """
    from sqlalchemy import ForeignKey, MetaData, String, Table, Column, Integer
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


    class Base(DeclarativeBase):
        pass


    class Author(Base):
        __tablename__ = "author"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))


    class Book(Base):
        __tablename__ = "book"
        __table_args__ = {"schema": "library"}
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str | None]
        author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))


    class Novel(Book):
        __tablename__ = "novel"
        __table_args__ = {"schema": "library"}
        id: Mapped[int] = mapped_column(ForeignKey("library.book.id"), primary_key=True)


    other = MetaData()
    Table("loose", other, Column("id", Integer, primary_key=True))
    """
)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models")
    (path / "graph_models.py").write_text(MODELS)
    return path


_RUNS: dict[tuple[str, ...], subprocess.CompletedProcess[str]] = {}


def run(models_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command's result for ``args`` (each distinct command runs once per module)."""
    if args not in _RUNS:
        _RUNS[args] = subprocess.run(
            [sys.executable, "-m", "c2cwsgiutils.scripts.models_graph", *args],
            env=child_env(),
            cwd=models_dir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    return _RUNS[args]


def test_declarative_base_gives_tables_columns_and_foreign_keys(models_dir: Path) -> None:
    result = run(models_dir, "graph_models:Base")
    assert result.returncode == 0, result.stderr
    dot = result.stdout
    assert dot.startswith("digraph models {")
    assert dot.rstrip().endswith("}")
    assert '"author" [label=<' in dot
    assert '"library.book" [label=<' in dot
    assert (
        '<td align="left" port="author_id">author_id</td><td align="left">INTEGER NOT NULL</td><td>FK</td>'
        in dot
    )
    assert '<td align="left">VARCHAR(50) NOT NULL</td>' in dot
    assert '"library.book" -> "author" [label="author_id → author.id"];' in dot
    assert "loose" not in dot
    assert "is a" not in dot


def test_inheritance_is_drawn_on_request(models_dir: Path) -> None:
    result = run(models_dir, "graph_models:Base", "--inheritance")
    assert '"library.novel" -> "library.book" [style=dashed, arrowhead=empty, label="is a"];' in result.stdout


def test_metadata_target(models_dir: Path) -> None:
    result = run(models_dir, "graph_models:other")
    assert result.returncode == 0, result.stderr
    assert '"loose" [label=<' in result.stdout
    assert "author" not in result.stdout


def test_output_is_valid_dot(models_dir: Path) -> None:
    # Graphviz is not a dependency: check the structure a dot parser relies on instead.
    dot = run(models_dir, "graph_models").stdout
    assert dot.count("{") == dot.count("}")
    assert dot.count("<table") == dot.count("</table>") == 3  # author, library.book, library.novel
    assert all(line.endswith((";", "{", "}")) for line in dot.splitlines())


def test_unknown_target_is_one_line_and_exit_code_2(models_dir: Path) -> None:
    result = run(models_dir, "graph_models:Nothing")
    assert result.returncode == 2
    assert result.stderr.startswith("c2cwsgiutils-models-graph: cannot load graph_models:Nothing")
