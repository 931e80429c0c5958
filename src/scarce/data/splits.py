"""Splits that keep exact copies together. An example trained on and its copy held out score
the model on what it learned by heart (walk 29: texts repeated 4 times read validation 1.000
against 0.789 on new data, and eval's rest-of-pool draws ranked a memorising TF-IDF baseline
first where held-out data ranked it last). Where no item repeats, every function here gives
what the plain split gives, draw for draw."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def copy_groups(keys: Sequence[str] | np.ndarray) -> np.ndarray | None:
    """Per item, a group number that exact copies share: of content hashes, or of the rows
    of a 2-D array (frozen features: equal inputs, equal rows). None when none repeats."""
    arr = np.asarray(keys)
    if len(arr) == 0:
        return None
    if arr.ndim == 2:  # each row as one value of its bytes: ~50x faster than unique(axis=0)
        arr = np.ascontiguousarray(arr)
        arr = arr.view(np.dtype((np.void, arr.dtype.itemsize * arr.shape[1]))).ravel()
    _, inv = np.unique(arr, return_inverse=True)
    inv = np.asarray(inv).reshape(-1)
    return inv if int(inv.max()) + 1 < len(inv) else None


def distinct_per_class(y: np.ndarray, groups: np.ndarray | None, n_classes: int = 0) -> np.ndarray:
    """Per class (at least `n_classes` of them), how many of its examples are not copies of
    one another."""
    if groups is None:
        return np.bincount(y, minlength=n_classes)
    k = max(n_classes, int(y.max()) + 1)
    return np.array([len(np.unique(groups[y == c])) for c in range(k)])


def stratified_folds(
    y: np.ndarray, folds: int, seed: int, groups: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold (shuffled, `seed`), copies in one fold: as many folds as the
    class with the fewest distinct examples allows, up to `folds`, so that every class
    trains in every fold. Without copies, scikit-learn's StratifiedKFold exactly."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y = np.asarray(y)
    x = np.zeros(len(y))
    if groups is None:
        return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y))
    present = distinct_per_class(y, groups)
    k = min(folds, int(present[present > 0].min()))
    if k < 2:  # a class is one example over and over: nothing to hold out apart from it
        return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y))
    return list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(x, y, groups))


def drop_copies(test: np.ndarray, train: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """`test` without the items that copy one in `train` (a draw's test set)."""
    if groups is None:
        return test
    return test[~np.isin(groups[test], groups[train])]


def copies_to_train(
    train: np.ndarray, held: np.ndarray, groups: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """A holdout with the held-out copies of training items moved to the training side."""
    if groups is None:
        return train, held
    moved = np.isin(groups[held], groups[train])
    if not moved.any():
        return train, held
    return np.sort(np.concatenate([train, held[moved]])), held[~moved]
