"""The error tree of scarce.

ScarceError
 +-- InputError            the user can fix it; the CLI exits with code 2
 |    +-- DataError        a file or a row of the user's data (names it)
 |    |    +-- LayoutError  laid out otherwise than asked: a missing column, a folder for a file
 |    |    +-- UnusableImages  image files that cannot be read (each named)
 |    +-- ConfigError      a bad option or knob value
 |    +-- BundleError      a model bundle that is corrupt, tampered or unknown
 |    +-- UnknownName      a method/encoder name that does not exist (suggests close ones)
 |    +-- EncoderUnavailable  an encoder whose package is not installed (gives the pip line)
 +-- NotFittedError        also an AttributeError, as in scikit-learn
Anything else is a bug or an environment failure; the CLI exits with code 1.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ScarceError(Exception):
    """Root of every error scarce raises on purpose."""


class InputError(ScarceError, ValueError):
    """Bad usage or bad input: the message says what to do."""


class DataError(InputError):
    """A problem in the user's data, naming the file or row."""


class UnusableImages(DataError):
    """Image files that cannot be decoded or found, each named (`scarce predict` can skip
    them)."""


class LayoutError(DataError):
    """Data laid out otherwise than asked (a missing column, a folder where a table was
    expected): reading it another way may work, unlike a bad row. `bare`: the message
    without its `hint` (a flag to pass, which does not apply to every file read)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message + hint)
        self.bare = message


class ConfigError(InputError):
    """An option or method knob out of its allowed range."""


class BundleError(InputError):
    """A model bundle that cannot be trusted or read."""


class UnknownName(InputError, KeyError):
    """A registry lookup for a name that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        msg = f"unknown {kind} {name!r}.{hint} Known: {', '.join(known)}."
        super().__init__(msg)
        self.msg = msg

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return self.msg


class EncoderUnavailable(InputError):
    """An encoder whose package is not installed."""


class NotFittedError(ScarceError, AttributeError):
    """The estimator was used before fit."""
