"""Seeds are passed down as generators; nothing here touches global RNG state except torch's,
which some library code reads and which we must pin for reproducible training."""

from __future__ import annotations

import numpy as np


def derive(seed: int, *tags: str | int) -> int:
    """A child seed for a named sub-task, stable across runs and independent of call order."""
    ss = np.random.SeedSequence([seed, *[_tag_int(t) for t in tags]])
    return int(ss.generate_state(1)[0])


def _tag_int(tag: str | int) -> int:
    if isinstance(tag, int):
        return tag
    return int.from_bytes(tag.encode("utf-8")[:8].ljust(8, b"\0"), "little")
