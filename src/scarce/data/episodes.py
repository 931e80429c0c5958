"""N-way K-shot Q-query episodes over labeled data, and the base / novel split.

An episode picks `ways` classes, then `shots` support and `queries` query examples from each,
without overlap. Episodes are drawn from a seeded generator per episode index, so episode i
is the same whatever the number of episodes asked for."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from scarce.core.errors import DataError
from scarce.core.seeding import derive
from scarce.data.types import LabeledSet


@dataclasses.dataclass(frozen=True)
class Episode:
    index: int
    classes: np.ndarray  # the pool's class indices, in episode label order
    support: np.ndarray  # pool indices, `shots` per class
    query: np.ndarray  # pool indices, `queries` per class


def sample_episodes(
    y: np.ndarray,
    classes: Sequence[str],
    ways: int,
    shots: int,
    queries: int,
    episodes: int,
    seed: int,
) -> list[Episode]:
    """Class-balanced episodes over labels `y` (indices into `classes`); only classes with at
    least shots + queries examples take part. Indices in the episodes are positions in `y`."""
    if ways < 2 or shots < 1 or queries < 1 or episodes < 1:
        raise DataError(
            f"episodes need --ways >= 2, --shots >= 1, --queries >= 1 and --episodes >= 1; got "
            f"ways={ways}, shots={shots}, queries={queries}, episodes={episodes}."
        )
    need = shots + queries
    if ways > len(classes):
        raise DataError(
            f"{ways}-way episodes need {ways} classes, but the data has only {len(classes)}: "
            f"lower --ways to {len(classes)} or fewer."
        )
    counts = np.bincount(y, minlength=len(classes))
    eligible = np.flatnonzero(counts >= need)
    if len(eligible) < ways:
        short = ", ".join(f"{classes[c]!r} ({counts[c]})" for c in np.argsort(counts)[:5])
        raise DataError(
            f"{ways}-way {shots}-shot episodes with {queries} queries need {ways} classes with at "
            f"least {need} examples each; {len(eligible)} have that (fewest: {short}). Lower "
            "--ways, --shots or --queries, or add examples."
        )
    by_class = {int(c): np.flatnonzero(y == c) for c in eligible}
    out = []
    for e in range(episodes):
        g = np.random.default_rng(derive(seed, "episode", ways, shots, queries, e))
        chosen = np.sort(g.choice(eligible, ways, replace=False))
        sup, qry = [], []
        for c in chosen:
            pick = g.choice(by_class[int(c)], need, replace=False)
            sup.append(pick[:shots])
            qry.append(pick[shots:])
        out.append(Episode(e, chosen, np.concatenate(sup), np.concatenate(qry)))
    return out


def restrict(pool: LabeledSet, idx: np.ndarray, classes: np.ndarray) -> LabeledSet:
    """The examples `idx` of `pool`, relabelled to the episode's classes 0..ways-1."""
    remap = np.full(len(pool.classes), -1, np.int64)
    remap[classes] = np.arange(len(classes))
    y = remap[pool.y[idx]]
    if (y < 0).any():
        raise DataError("an episode example lies outside the episode's classes")  # a bug
    names = tuple(pool.classes[int(c)] for c in classes)
    return LabeledSet(pool.inputs.subset(idx), y, names, pool.source)


def check_base(base: LabeledSet, novel: LabeledSet) -> None:
    """The base set holds other classes than the user's (novel) ones, in the same modality."""
    if base.modality != novel.modality:
        raise DataError(
            f"--base holds {base.modality} data but the training data is {novel.modality}: the "
            "base set must be the same kind of data, with other classes."
        )
    shared = sorted(set(base.classes) & set(novel.classes))
    if shared:
        raise DataError(
            f"--base shares {len(shared)} class(es) with the training data: "
            f"{', '.join(map(repr, shared[:8]))}"
            + (f" and {len(shared) - 8} more" if len(shared) > 8 else "")
            + (" (every one of its classes)" if len(shared) == len(base.classes) else "")
            + ". The base set holds *other* classes to meta-train on; remove the shared ones "
            "from it (or rename them if they really differ)."
        )
    if len(base.classes) < 2:
        raise DataError("--base needs at least 2 classes to meta-train on.")
