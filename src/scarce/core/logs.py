"""Logging and message helpers shared by the layers above."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

# How the caller spells the command-line flags that messages name: a table ("--seed" ->
# "seed="), set by the Python API for the length of a call, or {} from the command line
# (messages name flags as typed there). Errors get it as a note (api._python_spelling);
# warnings through the record factory below.
SPELLING: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "scarce_spelling", default=None
)
FLAG = re.compile(r"--[a-z][a-z-]*[a-z]")
NOTE = "In Python: "
# who a warning speaks for, put before it: a fit inside another (distill's teacher), whose
# "--unlabeled not used" would otherwise read as said of the whole command
SPEAKER: contextvars.ContextVar[str] = contextvars.ContextVar("scarce_speaker", default="")


def spelling_note(said: str, table: dict[str, str]) -> str | None:
    """'In Python: --seed is seed=.' for the flags `said` names and does not spell already."""

    def spelled(flag: str) -> bool:  # the message gives the keyword already
        keyword = re.search(r"\w+=", table[flag])
        return (keyword.group() if keyword else table[flag]) in said

    flags = [f for f in dict.fromkeys(FLAG.findall(said)) if f in table and not spelled(f)]
    return NOTE + "; ".join(f"{f} is {table[f]}" for f in flags) + "." if flags else None


def command_line() -> Callable[[], None]:
    """Messages from here on are read at the command line: no Python notes. Returns what
    undoes it (a test runs the command line and Python in one process)."""
    token = SPELLING.set({})
    return lambda: SPELLING.reset(token)


_make_record = logging.getLogRecordFactory()


def _record(*args: object, **kwargs: object) -> logging.LogRecord:
    """A warning from scarce that names command-line flags, logged during a Python call,
    says how Python spells them (walk 24: Python users read '--unlabeled not used'); and,
    inside `collect_warnings`, a copy of each of scarce's warnings."""
    record = _make_record(*args, **kwargs)
    if record.levelno < logging.WARNING or not record.name.startswith("scarce"):
        return record
    if speaker := SPEAKER.get():
        with contextlib.suppress(TypeError, ValueError):  # a bad format: as below
            record.msg, record.args = f"{speaker}: {record.getMessage()}", None
        record._scarce_speaker = speaker  # warnings_once tells its sites apart by it
    table = SPELLING.get()
    if table:
        try:
            said = record.getMessage()
        except (TypeError, ValueError):  # a bad format: logging's handler reports it, later
            return record
        note = spelling_note(said, table)
        if note:
            record.msg, record.args = f"{said} ({note})", None
    buckets = _COLLECTED.get()
    if buckets and record.levelno < logging.ERROR and not _HELD.get():
        with contextlib.suppress(TypeError, ValueError):
            said = {
                "name": record.name,
                "level": record.levelno,
                "path": record.pathname,
                "line": record.lineno,
                "msg": record.getMessage(),
            }
            for bucket in buckets:  # every open collection: a fit's, and its evaluation's
                bucket.append(said)
    return record


logging.setLogRecordFactory(_record)


@contextlib.contextmanager
def speaking_for(who: str) -> Iterator[None]:
    """scarce's warnings logged inside start with `who: `."""
    token = SPEAKER.set(who)
    try:
        yield
    finally:
        SPEAKER.reset(token)


class _OncePerSite(logging.Filter):
    """Passes the first warning from each line of code, drops the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.first: dict[tuple[str, int, str], logging.LogRecord] = {}
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.levelno >= logging.ERROR:
            return True
        # the same line speaking for another model (distill's teacher) is another warning
        site = (record.pathname, record.lineno, getattr(record, "_scarce_speaker", ""))
        # one filter sits on several handlers: the first record passes each of them
        if self.first.setdefault(site, record) is record:
            return True
        if not getattr(record, "_scarce_dropped", False):
            record._scarce_dropped = True  # count a record once, however many handlers
            self.dropped += 1
        return False


def _handlers() -> list[logging.Handler]:
    """Where scarce's records end up: the root's and scarce's handlers, and logging's
    last resort. A filter must sit there: a logger's own filters skip its children's records."""
    handlers = [h for lg in (logging.getLogger(), logging.getLogger("scarce")) for h in lg.handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    return handlers


@contextlib.contextmanager
def warnings_once() -> Iterator[None]:
    """While many fits of the same kind run (an evaluation's repeats), show each warning
    once, where it would otherwise repeat per fit, and say how many were held back."""
    handlers = _handlers()
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


_HELD: contextvars.ContextVar[bool] = contextvars.ContextVar("scarce_errors_only", default=False)
_COLLECTED: contextvars.ContextVar[tuple[list[dict[str, Any]], ...]] = contextvars.ContextVar(
    "scarce_collected", default=()
)


@contextlib.contextmanager
def collect_warnings() -> Iterator[list[dict[str, Any]]]:
    """Copies of the warnings scarce logs in this context (not those `errors_only` holds
    back), as plain data, for `say_again` to give them once more: an evaluation's kept fit,
    reused, warns as it did when it ran. Read as records are made, not by a handler: a
    handler of its own would stop logging's last resort from showing them."""
    bucket: list[dict[str, Any]] = []
    token = _COLLECTED.set((*_COLLECTED.get(), bucket))
    try:
        yield bucket
    finally:
        _COLLECTED.reset(token)


def say_again(said: list[dict[str, Any]]) -> None:
    """Warnings that `collect_warnings` kept, logged again from where they first were (the
    same site: `warnings_once` folds them with fresh ones as before)."""
    for r in said:
        logger = logging.getLogger(r["name"])
        if logger.isEnabledFor(r["level"]):
            logger.handle(
                logger.makeRecord(
                    logger.name, r["level"], r["path"], r["line"], r["msg"], None, None
                )
            )


class _HeldBack(logging.Filter):
    """Drops scarce's warnings logged in a context inside `errors_only`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            _HELD.get() and record.name.startswith("scarce") and record.levelno < logging.ERROR
        )


@contextlib.contextmanager
def errors_only() -> Iterator[None]:
    """scarce's warnings held back (errors still show): for a second fit on data the first
    already warned about, such as the reference a domain fit compares itself with. Held
    per context, not by the logger's level: a fit on another thread keeps its warnings."""
    handlers = _handlers()
    held = _HeldBack()
    for h in handlers:
        h.addFilter(held)
    token = _HELD.set(True)
    try:
        yield
    finally:
        _HELD.reset(token)
        for h in handlers:
            h.removeFilter(held)


# below this a score or a difference of scores is floating-point round-off, not a value
ROUND_OFF = 1e-12


def fixed(v: float, digits: int = 3, sign: bool = False) -> str:
    """v with `digits` decimals, or more where a value that is not 0 would show as 0: walk
    25 read an interval "[+0.000, +0.108]" called better, the verdict resting on the
    unrounded bound."""
    plus = "+" if sign else ""
    if abs(v) < ROUND_OFF:  # walk 27: equal answers averaged to "+5.6e-18"
        v = 0.0
    text = f"{v:{plus}.{digits}f}"
    while v and not float(text) and digits < 6:
        digits += 1
        text = f"{v:{plus}.{digits}f}"
    return f"{v:{plus}.1e}" if v and not float(text) else text


def plural(noun: str, n: int) -> str:
    """`noun` as it reads after the number n ('1 repeat', '5 repeats', '2 batches'); tqdm's
    unit 'it' stays as it is."""
    if n == 1 or noun == "it":
        return noun
    return {"batch": "batches"}.get(noun, noun + "s")
