"""Which writing system texts are in, counted per text."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def share_mostly_in(texts: Sequence[str], in_script: Callable[[str], int]) -> float:
    """The share of the texts with letters whose `in_script` characters (a count per text)
    are over half of their letters; 0.0 when no text has letters. Counted per text, so that
    half-English, half-Chinese data reads as half Chinese (walk 10: 20% of its letters)."""
    shown = mostly = 0
    for t in texts:
        letters = sum(c.isalpha() for c in t)
        if letters:
            shown += 1
            mostly += in_script(t) > 0.5 * letters
    return mostly / shown if shown else 0.0
