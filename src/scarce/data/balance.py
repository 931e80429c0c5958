"""Class balance of a label vector: one definition of the per-class weights that class-
weighted training, leave-one-out, model choice and balanced metrics all use."""

from __future__ import annotations

import numpy as np


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray | None:
    """Per class, n / (classes present x its count): the examples' weights then average 1
    and every present class weighs alike (absent classes get 0). None when the classes
    present are equal, where every weight would be 1."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    if not present.any() or counts[present].min() == counts[present].max():
        return None
    return np.where(present, len(y) / (present.sum() * np.maximum(counts, 1)), 0.0)
