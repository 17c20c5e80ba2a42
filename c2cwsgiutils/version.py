"""Version information: ``c2cwsgiutils-genversion`` writes ``versions.json``; a view serves it.

At build time (e.g. in a Dockerfile)::

    c2cwsgiutils-genversion $GIT_TAG $GIT_HASH          # or only $GIT_HASH

writes ``versions.json`` (``--output`` to choose the file)::

    {"main": {"git_hash": "...", "git_tag": "..."}, "packages": {"pyramid": "2.0.2", ...}}

At run time, when the file named by ``C2C_VERSIONS_PATH`` exists, ``{C2C_BASE_PATH}/versions.json``
serves it (behind the secret), and the health check's version check compares the ``git_hash`` of
every worker process.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from c2cwsgiutils import config
from c2cwsgiutils._deprecated import init_alias

__all__ = ["VERSIONS_PATH", "generate", "get_version", "includeme", "main", "read_versions"]

LOG = logging.getLogger(__name__)

VERSIONS_PATH = config.declare(
    "C2C_VERSIONS_PATH",
    "c2c.versions_path",
    "/app/versions.json",
    config.as_str,
    "File written by `c2cwsgiutils-genversion`; when it exists, `{C2C_BASE_PATH}/versions.json` serves it.",
    feature="version",
)


def installed_distributions() -> dict[str, str]:
    """``{name: version}`` of every installed distribution, sorted by lower-cased name."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.name
        if name and name not in found:
            found[name] = dist.version
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def generate(git_hash: str, git_tag: str | None = None) -> dict[str, Any]:
    """The content of ``versions.json``."""
    main_info: dict[str, str] = {"git_hash": git_hash}
    if git_tag:
        main_info["git_tag"] = git_tag
    return {"main": main_info, "packages": installed_distributions()}


def read_versions(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The parsed file, or ``None`` when it does not exist; raises ``ValueError`` when it is not JSON."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


@functools.lru_cache(maxsize=8)
def _version_from(path: str) -> str:
    try:
        data = read_versions(path)
    except (OSError, ValueError):
        LOG.warning("Could not read %s", path, exc_info=True)
        data = None
    if data is not None:
        git_hash = data.get("main", {}).get("git_hash")
        if git_hash:
            return str(git_hash)
    return os.environ.get("GIT_HASH", "")


def get_version(settings: Mapping[str, Any] | None = None) -> str:
    """This process's version: ``main.git_hash`` of the versions file, else ``$GIT_HASH``, else ""."""
    return _version_from(VERSIONS_PATH.get(settings))


def includeme(config_: Any) -> None:
    """Pyramid include: serve ``{C2C_BASE_PATH}/versions.json`` when the versions file exists."""
    path = VERSIONS_PATH.get(config_.get_settings())
    try:
        data = read_versions(path)
    except (OSError, ValueError) as exc:
        LOG.warning("versions view disabled: %s is unreadable (%s)", path, exc)
        return
    if data is None:
        # The default path missing is the usual case outside the Docker image: not worth a line in
        # every process's start-up; a path the user chose is.
        explicit = VERSIONS_PATH.raw(config_.get_settings()) is not None
        LOG.log(
            logging.WARNING if explicit else logging.DEBUG,
            "versions view disabled: %s does not exist (see c2cwsgiutils-genversion)",
            path,
        )
        return
    from c2cwsgiutils import _compiled
    from c2cwsgiutils.admin import add_admin_view

    def versions_view(request: Any) -> dict[str, Any]:
        # Beside the file: whether this process's hot paths run compiled (c2cwsgiutils._compiled).
        return {**data, "c2cwsgiutils_compiled": _compiled.build_status()}

    add_admin_view(config_, "versions", "versions.json", versions_view, title="Versions")


def main(argv: Sequence[str] | None = None) -> int:
    """``c2cwsgiutils-genversion [TAG] HASH [--output FILE]``."""
    parser = argparse.ArgumentParser(
        prog="c2cwsgiutils-genversion",
        description="Write versions.json: the git hash and tag, and the installed distributions.",
    )
    parser.add_argument("values", nargs="+", metavar="[TAG] HASH", help="git tag (optional) and git hash")
    parser.add_argument(
        "--output", "-o", default="versions.json", help="file to write (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if len(args.values) > 2:
        parser.error("expected [TAG] HASH")
    git_tag, git_hash = (None, args.values[0]) if len(args.values) == 1 else args.values
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(json.dumps(generate(git_hash, git_tag), indent=2) + "\n", encoding="utf-8")
    tmp.replace(output)
    print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())


init = init_alias(__name__)  # 6.x's set-up function, deprecated: config.include(this module)
