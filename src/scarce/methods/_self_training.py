"""Self-training on frozen features: the head labels the unlabeled inputs it is surest of,
is fitted again with them, and repeats with a growing share (pseudo-labeling, Lee 2013; the
growing share is curriculum labeling, Cascante-Bonilla et al., AAAI 2021).

Pseudo-labels can also teach a head its own mistakes, so `check` compares the head with and
without them on held-out labels, paired fold by fold, and the caller uses them only when
that comparison says they help.

The share is ranked over all unlabeled inputs at once, not per class: equal quotas per class
assume the unlabeled inputs are spread evenly over the classes. On the fortunes quotes
(classes of 114 to 868) such quotas filled each small class with wrong pseudo-labels and cost
0.08 to 0.15 accuracy at 2 to 8 labels per class (a design experiment, 6 draws, 1,500
unlabeled quotes), where the ranking over all gained on average (bench/semi_supervised.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from scarce.core.progress import progress


class Head(Protocol):
    def predict_proba(self, feats: np.ndarray) -> np.ndarray: ...


FitHead = Callable[[np.ndarray, np.ndarray], Head]

# rounds, each taking a larger share of the unlabeled inputs: the first take only the surest
# (on fortunes, Fashion-MNIST and MNIST the surest 10% were 0.93-0.98 right at 2 labels per
# class, the whole set 0.57-0.63)
ROUNDS = 5
REPEATS = 2  # shuffles of the k-fold check: one left the decision to a few held-out examples
# fewest labeled examples the check may decide on: each is held out once per shuffle, and
# fewer than 20 answers cannot tell a 5-point gain from noise (bench/semi_supervised.py,
# 5 draws: with 4 to 16 labels in all the check used pseudo-labels that cost 0.013 to 0.039
# on average on fortunes and fine-food; from 20 no set lost more than 0.005)
MIN_CHECKED = 20
MAX_FOLDS = 5


def shares(final: float) -> tuple[float, ...]:
    """The share of the unlabeled inputs pseudo-labeled in each round, growing evenly to
    `final`."""
    return tuple(round(final * r / ROUNDS, 4) for r in range(1, ROUNDS + 1))


def pseudo_label(
    fit: FitHead,
    x: np.ndarray,
    y: np.ndarray,
    xu: np.ndarray,
    shares: tuple[float, ...],
    start: Head | None = None,
) -> tuple[Head, np.ndarray]:
    """(head, indices of `xu` that carry pseudo-labels in its last fit). `start`: the head
    `fit(x, y)` gives, when the caller has it already."""
    head = fit(x, y) if start is None else start
    pick = np.zeros(0, dtype=np.int64)
    for share in shares:
        proba = head.predict_proba(xu)
        pick = surest(proba, share)
        if len(pick):
            labels = proba[pick].argmax(axis=1)
            head = fit(np.concatenate([x, xu[pick]]), np.concatenate([y, labels]))
    return head, pick


def surest(proba: np.ndarray, share: float, *, per_class: bool = False) -> np.ndarray:
    """Indices of the `share` of rows whose top probability is highest: ranked over all rows
    (most confident first), or with `per_class` that share of the rows predicted as each
    class (in row order; class-balanced, as in CBST, Zou et al. ECCV 2018, for a target
    domain where one class could crowd out the rest; at least one row per predicted class).
    Ties keep row order, so a run is the same on every machine."""
    conf = proba.max(axis=1)
    if not per_class:
        return np.argsort(-conf, kind="stable")[: round(share * len(proba))]
    pred = proba.argmax(axis=1)
    keep = []
    for c in np.unique(pred):
        idx = np.flatnonzero(pred == c)
        keep.append(idx[np.argsort(-conf[idx], kind="stable")[: max(1, round(share * len(idx)))]])
    return np.sort(np.concatenate(keep))


def check(
    fit: FitHead,
    x: np.ndarray,
    y: np.ndarray,
    xu: np.ndarray,
    shares: tuple[float, ...],
    *,
    seed: int,
    weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """Held-out accuracy with and without pseudo-labels on the same stratified folds
    (`REPEATS` shuffles of up to `MAX_FOLDS` folds); `weights` per example (1 / class count,
    on unequal classes) make it balanced accuracy. Needs 2+ examples in every class."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    folds = min(MAX_FOLDS, int(np.bincount(y).min()))
    w = np.ones(len(y)) if weights is None else weights
    splits = RepeatedStratifiedKFold(
        n_splits=folds, n_repeats=REPEATS, random_state=seed % 2**31
    ).split(x, y)
    without, with_ = [], []
    for tr, te in progress(list(splits), desc="checking that pseudo-labels help", unit="fold"):
        plain = fit(x[tr], y[tr])
        hits = [
            (head.predict_proba(x[te]).argmax(axis=1) == y[te]) * w[te]
            for head in (plain, pseudo_label(fit, x[tr], y[tr], xu, shares, plain)[0])
        ]
        without.append(hits[0].sum() / w[te].sum())
        with_.append(hits[1].sum() / w[te].sum())
    gain = np.subtract(with_, without)
    return {
        "folds": f"{folds}-fold cross-validation, {REPEATS} shuffles",
        "without": round(float(np.mean(without)), 5),
        "with": round(float(np.mean(with_)), 5),
        "gain": round(float(gain.mean()), 5),
        # a gain within one standard error is a tie, as auto counts a lead (walk 32: +0.0075,
        # 3 answers in 400, switched pseudo-labels on, and they cost one test image)
        "gain_se": round(float(gain.std(ddof=1) / np.sqrt(len(gain))), 5),
        "better_in": int((gain > 0).sum()),
        "worse_in": int((gain < 0).sum()),
    }
