"""6.x's ``Profile``: a cProfile of a block or a function, written to a file for ``snakeviz`` & co."""

from __future__ import annotations

import contextlib
import cProfile
import pstats
import sys
from typing import Any

__all__ = ["Profile"]


class Profile(contextlib.ContextDecorator):
    """``with Profile("/tmp/x.prof"):`` or ``@Profile("/tmp/x.prof")``: profile, dump to ``path``,
    and print the ``print_number`` most expensive calls (cumulative time) when it is positive."""

    def __init__(self, path: str, print_number: int = 0) -> None:
        self.path = path
        self.print_number = print_number
        self.profile = cProfile.Profile()

    def __enter__(self) -> None:
        self.profile.enable()

    def __exit__(self, *exc: Any) -> None:
        self.profile.disable()
        self.profile.dump_stats(self.path)
        if self.print_number > 0:
            stats = pstats.Stats(self.profile, stream=sys.stdout).sort_stats(pstats.SortKey.CUMULATIVE)
            stats.print_stats(self.print_number)
