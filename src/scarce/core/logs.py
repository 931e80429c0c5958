"""Logging and message helpers shared by the layers above."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)


class _OncePerSite(logging.Filter):
    """Passes the first warning from each line of code, drops the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.first: dict[tuple[str, int], logging.LogRecord] = {}
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.levelno >= logging.ERROR:
            return True
        site = (record.pathname, record.lineno)
        # one filter sits on several handlers: the first record passes each of them
        if self.first.setdefault(site, record) is record:
            return True
        if not getattr(record, "_scarce_dropped", False):
            record._scarce_dropped = True  # count a record once, however many handlers
            self.dropped += 1
        return False


@contextlib.contextmanager
def warnings_once() -> Iterator[None]:
    """While many fits of the same kind run (an evaluation's repeats), show each warning
    once, where it would otherwise repeat per fit, and say how many were held back."""
    handlers = [h for lg in (logging.getLogger(), logging.getLogger("scarce")) for h in lg.handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    once = _OncePerSite()
    for h in handlers:
        h.addFilter(once)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(once)
        if once.dropped:
            log.warning(
                "%d more warning(s) like those above came from the other fits (each is shown "
                "once).",
                once.dropped,
            )


def plural(noun: str, n: int) -> str:
    """`noun` as it reads after the number n ('1 repeat', '5 repeats', '2 batches'); tqdm's
    unit 'it' stays as it is."""
    if n == 1 or noun == "it":
        return noun
    return {"batch": "batches"}.get(noun, noun + "s")
