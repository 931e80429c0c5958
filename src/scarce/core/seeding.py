"""Seeds are passed down as generators; nothing here touches global RNG state except torch's,
which some library code reads and which we must pin for reproducible training."""

from __future__ import annotations

import numpy as np

from scarce.core.errors import ConfigError

MAX_SEED = 2**32 - 1


def check_seed(seed: object) -> int:
    """The seed as an int, or ConfigError: numpy and torch take 0..2**32-1 only."""
    ok = isinstance(seed, int | np.integer) and not isinstance(seed, bool)
    if not ok or not 0 <= seed <= MAX_SEED:  # type: ignore[operator]
        raise ConfigError(f"--seed must be an integer from 0 to {MAX_SEED}, got {seed!r}.")
    return int(seed)


def derive(seed: int, *tags: str | int) -> int:
    """A child seed for a named sub-task, stable across runs and independent of call order."""
    ss = np.random.SeedSequence([seed, *[_tag_int(t) for t in tags]])
    return int(ss.generate_state(1)[0])


def _tag_int(tag: str | int) -> int:
    if isinstance(tag, int):
        return tag
    return int.from_bytes(tag.encode("utf-8")[:8].ljust(8, b"\0"), "little")
