"""From-scratch baselines that every transfer result is shown beside: what the same labels
buy without a pretrained encoder. TF-IDF + logistic regression for text, logistic regression
on raw pixels for images; the same logistic head (and C search) as linear-probe."""

from __future__ import annotations

from typing import Any

import numpy as np

from scarce.data.images import read_rgb
from scarce.data.types import Inputs, LabeledSet
from scarce.methods.linear_probe import LinearProbeConfig, LogisticHead, fit_logistic

PIXEL_SIZE = 32


def pixels(inputs: Inputs, size: int = PIXEL_SIZE) -> np.ndarray:
    out = np.empty((len(inputs), size * size * 3), dtype=np.float32)
    for i, item in enumerate(inputs.items):
        out[i] = np.asarray(read_rgb(item, size), np.float32).ravel() / 255.0
    return out


class Baseline:
    """Fit on a LabeledSet, predict_proba on Inputs, like a Fitted method."""

    name = "baseline"

    def __init__(self, modality: str) -> None:
        self.modality = modality
        self.description = (
            "TF-IDF + logistic regression"
            if modality == "text"
            else f"logistic regression on {PIXEL_SIZE}x{PIXEL_SIZE} pixels"
        )
        self._vec: Any = None
        self._head: LogisticHead | None = None

    def _features(self, inputs: Inputs, fit: bool = False) -> np.ndarray:
        if self.modality == "image":
            return pixels(inputs)
        if fit:
            from sklearn.feature_extraction.text import TfidfVectorizer

            self._vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1)
            return self._vec.fit_transform(inputs.items).toarray().astype(np.float32)
        return self._vec.transform(inputs.items).toarray().astype(np.float32)

    def fit(self, train: LabeledSet, *, seed: int) -> Baseline:
        x = self._features(train.inputs, fit=True)
        self.classes = train.classes
        self._head = fit_logistic(
            x, train.y, len(train.classes), LinearProbeConfig(normalize="none"), seed=seed
        )
        return self

    def predict_proba(self, inputs: Inputs) -> np.ndarray:
        assert self._head is not None, "fit first"  # noqa: S101 - internal misuse only
        return self._head.predict_proba(self._features(inputs))
