"""One progress wrapper for the whole package: tqdm, quiet when not a TTY or when asked; and
the time limit that long loops honour (every long loop reports progress, so it checks here)."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import TypeVar

from scarce.core.logs import plural

T = TypeVar("T")

_quiet = False
PLAIN_EVERY = 60.0  # seconds between plain progress lines when stderr is not a terminal


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def progress(
    it: Iterable[T],
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    sizes: Sequence[int] | None = None,
) -> Iterator[T]:
    """`it` with a bar on a terminal, a plain line now and then in logs. `sizes`: how many
    units each item stands for (a batch of 32 images counts 32 images, so the rate reads in
    images per second)."""
    from tqdm.auto import tqdm

    tty = sys.stderr.isatty()
    if sizes is not None:
        total = sum(sizes)
    elif total is None and hasattr(it, "__len__"):
        total = len(it)  # type: ignore[arg-type]
    if total == 0:  # no bar flashing "0it" for nothing to do
        yield from it
        return
    start = last = time.monotonic()
    bar = tqdm(total=total, desc=desc, unit=unit, disable=_quiet or not tty, leave=False)
    done = 0
    try:
        for i, item in enumerate(it):
            check_time()
            now = time.monotonic()
            if not tty and not _quiet and now - last >= PLAIN_EVERY:  # logs: a line now and then
                last = now
                of = f"/{total}" if total else ""
                print(
                    f"{desc or 'working'}: {done}{of} {plural(unit, done)} done, "
                    f"{now - start:.0f}s elapsed",
                    file=sys.stderr,
                    flush=True,
                )
            yield item
            step = sizes[i] if sizes is not None else 1
            done += step
            bar.update(step)
    finally:
        bar.close()


@contextlib.contextmanager
def status(desc: str) -> Iterator[None]:
    """A one-line running clock on a terminal for a step that has nothing to count (a
    one-off export): without it, first use sat silent for ~10 s (walk 15)."""
    if _quiet or not sys.stderr.isatty():
        yield
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=None, desc=desc, bar_format="{desc} ({elapsed})", leave=False)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            bar.refresh()

    clock = threading.Thread(target=tick, daemon=True)
    clock.start()
    try:
        yield
    finally:
        stop.set()
        clock.join()
        bar.close()


_deadline: ContextVar[tuple[float, str] | None] = ContextVar("scarce_deadline", default=None)


class OutOfTime(Exception):
    """The limit set with `time_limit` passed; the work in progress is abandoned. Its
    `limit` names the limit that passed (the innermost)."""

    def __init__(self, limit: str = "") -> None:
        super().__init__(limit)
        self.limit = limit


@contextlib.contextmanager
def time_limit(seconds: float, name: str = "") -> Iterator[None]:
    """Within the block, `check_time` (and so every progress loop) raises OutOfTime(name)
    once `seconds` have passed: a budget holds to one step, not to one whole fit."""
    token = _deadline.set((time.monotonic() + seconds, name))
    try:
        yield
    finally:
        _deadline.reset(token)


def check_time() -> None:
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline[0]:
        raise OutOfTime(deadline[1])
