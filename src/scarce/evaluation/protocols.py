"""How examples are split into train and test, seeded so that every method sees the same
draws (paired comparisons)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np

from scarce.core.errors import DataError
from scarce.core.seeding import derive
from scarce.data.splits import (
    copies_to_train,
    copy_groups,
    distinct_per_class,
    drop_copies,
    stratified_folds,
)
from scarce.data.types import LabeledSet

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Split:
    shots: int | None  # K per class (kshot), None for k-fold
    repeat: int
    fold: int | None
    train: np.ndarray
    test: np.ndarray | None  # None: the given test set
    classes: np.ndarray | None = None  # episodes: the pool classes taking part, in label order
    adapt: np.ndarray | None = None  # domain: target examples given unlabeled for adaptation


def kshot_splits(
    pool: LabeledSet, shots: Sequence[int], repeats: int, seed: int, test_given: bool
) -> list[Split]:
    """For each K and repeat, K examples per class drawn from the pool; the test set is the
    given one, or the rest of the pool. Exact copies count as one example: a draw takes one
    of them, and the rest of the pool tests without the copies of what trained."""
    groups = copy_groups(pool.inputs.hashes)
    counts = pool.counts()
    if groups is not None:  # distinct examples per class
        distinct = distinct_per_class(pool.y, groups, len(pool.classes)).tolist()
        counts = dict(zip(pool.classes, distinct, strict=True))
    spare = 0 if test_given else 1  # one left over per class to test on
    need = max(shots) + spare
    short = {c: n for c, n in counts.items() if n < need}
    if short:
        c, n = min(short.items(), key=lambda kv: kv[1])  # the smallest class of all
        extra = "" if test_given else f" ({max(shots)} to train on and one left over to test on)"
        most = n - spare
        fit = [k for k in shots if k <= most] or ([most] if most >= 1 else [])
        todo = [f"pass --shots {','.join(map(str, fit))}"] if fit else []
        todo.append("add examples")
        if not test_given:
            todo.append("pass --test to test on other data")
        # semicolons: a comma would run into the list of shot counts
        advice = " or ".join(todo) if len(todo) < 3 else "; ".join(todo[:-1]) + "; or " + todo[-1]
        kind = " distinct" if groups is not None else ""  # exact copies count once
        raise DataError(
            f"class {c!r} has {n}{kind} example{'s' if n != 1 else ''}; --shots {max(shots)} "
            f"needs at least {need} per class{extra}. {advice[0].upper()}{advice[1:]}."
        )
    at = _distinct(pool)  # one of each set of copies in a class to draw from
    by_class = [at[pool.y[at] == c] for c in range(len(pool.classes))]
    whole = [k for k in shots if repeats > 1 and all(len(idx) <= k for idx in by_class)]
    if whole:  # walk 13: identical repeats read as "3 repeats" with no word of it
        log.warning(
            "--shots %s takes every example of every class: its %d repeats train on the same "
            "data, so they differ only by the methods' own randomness, and its interval "
            "measures the test set alone.",
            ",".join(map(str, whole)),
            repeats,
        )
    out = []
    for k in shots:
        for r in range(repeats):
            g = np.random.default_rng(derive(seed, "kshot", k, r))
            train = np.sort(np.concatenate([g.choice(idx, k, replace=False) for idx in by_class]))
            test = None
            if not test_given:  # the rest, less the copies of what trained
                test = drop_copies(np.setdiff1d(np.arange(len(pool)), train), train, groups)
            out.append(Split(k, r, None, train, test))
    return out


def kfold_splits(pool: LabeledSet, folds: int, repeats: int, seed: int) -> list[Split]:
    """Repeated stratified k-fold; exact copies stay in one fold."""
    smallest = min(pool.counts().items(), key=lambda kv: kv[1])
    if smallest[1] < folds:
        raise DataError(
            f"class {smallest[0]!r} has {smallest[1]} examples; {folds}-fold cross-validation "
            f"needs at least {folds} per class. Lower --folds or add examples."
        )
    groups = copy_groups(pool.inputs.hashes)
    distinct = distinct_per_class(pool.y, groups)
    c = int(np.argmin(np.where(distinct > 0, distinct, np.iinfo(int).max)))
    if distinct[c] < folds:
        raise DataError(
            f"class {pool.classes[c]!r} has {distinct[c]} distinct examples (the others are "
            f"exact copies, which stay in one fold); {folds}-fold cross-validation needs "
            f"{folds}. Lower --folds, or remove the copies and add examples."
        )
    out = []
    for r in range(repeats):
        splits = stratified_folds(pool.y, folds, derive(seed, "kfold", r) % 2**31, groups)
        for f, (tr, te) in enumerate(splits):
            out.append(Split(None, r, f, tr, te))
    return out


def episode_splits(
    pool: LabeledSet, shots: Sequence[int], ways: int, queries: int, episodes: int, seed: int
) -> list[Split]:
    """N-way K-shot episodes for each K: support = train, queries = test, `repeat` = episode."""
    from scarce.data.episodes import sample_episodes

    at = _distinct(pool)  # copies count once: no episode holds two of them
    out = []
    for k in shots:
        for ep in sample_episodes(pool.y[at], pool.classes, ways, k, queries, episodes, seed):
            out.append(Split(k, ep.index, None, at[ep.support], at[ep.query], ep.classes))
    return out


def _distinct(pool: LabeledSet) -> np.ndarray:
    """The positions of the pool less its exact copies within a class (the first of each
    kept): every position where none repeats."""
    groups = copy_groups(pool.inputs.hashes)
    if groups is None:
        return np.arange(len(pool))
    return np.sort(np.unique(groups * len(pool.classes) + pool.y, return_index=True)[1])


def episode_left_out(pool: LabeledSet, shots: Sequence[int], queries: int) -> dict[int, list[str]]:
    """Per K, the classes too small for K support plus `queries` query examples: episodes
    never draw them, so nothing is tested on them (walk 19: 4 of 10 went without a word)."""
    counts = np.bincount(pool.y[_distinct(pool)], minlength=len(pool.classes))
    out = {
        k: [pool.classes[c] for c in range(len(pool.classes)) if 0 < counts[c] < k + queries]
        for k in shots
    }
    return {k: v for k, v in out.items() if v}


def domain_splits(
    target: LabeledSet, labeled: Sequence[int], repeats: int, seed: int, test_given: bool
) -> list[Split]:
    """Per repeat: half of each target class is the test set (unless one is given), the rest
    is given unlabeled for adaptation; of that rest, K per class are labeled (K in
    `labeled`, 0 = unsupervised adaptation). The test examples are never seen in training."""
    counts = target.counts()
    for c, n in counts.items():
        half = 0 if test_given else n // 2
        if n and (n - half < max(labeled) or (not test_given and half < 1)):
            raise DataError(
                f"target class {c!r} has {n} example(s): too few for {max(labeled)} labeled per "
                "class plus a test half. Lower --target-labels, add examples, or pass --test."
            )
    present = [c for c in range(len(target.classes)) if counts[target.classes[c]]]
    groups = None if test_given else copy_groups(target.inputs.hashes)
    out = []
    for r in range(repeats):
        g = np.random.default_rng(derive(seed, "domain", r))
        adapt, test = [], []
        for c in present:
            idx = g.permutation(np.flatnonzero(target.y == c))
            h = 0 if test_given else len(idx) // 2
            test.append(idx[:h])
            adapt.append(idx[h:])
        a = np.sort(np.concatenate(adapt))
        t = None if test_given else np.sort(np.concatenate(test))
        order = [g.permutation(ad) for ad in adapt]  # nested: the K labeled are a prefix
        for k in labeled:
            lab = [o[:k] for o in order] if k else []
            train = np.sort(np.concatenate(lab)) if k else np.zeros(0, np.int64)
            # the test half less the copies of the labeled (those of the unlabeled lend no
            # label: adapting to an input is what the method may do with any test input)
            tk = None if t is None else drop_copies(t, train, groups)
            out.append(Split(k, r, None, train, tk, adapt=a))
    return out


def holdout_split(data: LabeledSet, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test indices of a whole data set: `fraction` of each class (rounded,
    at least one where the class has two or more) to test on; every class keeps at least one
    example to train on."""
    g = np.random.default_rng(seed)
    train, test = [], []
    for c in range(len(data.classes)):
        idx = g.permutation(np.flatnonzero(data.y == c))
        n_test = min(max(round(len(idx) * fraction), 1), len(idx) - 1) if len(idx) > 1 else 0
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    tr, te = np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
    return copies_to_train(tr, te, copy_groups(data.inputs.hashes))
