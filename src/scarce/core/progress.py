"""One progress wrapper for the whole package: tqdm, quiet when not a TTY or when asked."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def progress(
    it: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it"
) -> Iterator[T]:
    from tqdm.auto import tqdm

    disable = _quiet or not sys.stderr.isatty()
    yield from tqdm(it, total=total, desc=desc, unit=unit, disable=disable, leave=False)
