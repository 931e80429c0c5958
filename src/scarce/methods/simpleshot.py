"""SimpleShot (Wang et al., 2019): nearest centroid on centred, L2-normalized features
("CL2N"). Centring uses the mean of the labeled examples' features (the paper uses the base
classes' mean; with no base data, the support set's is the estimate at hand)."""

from __future__ import annotations

import numpy as np

from scarce.methods._centroids import CentroidConfig, CentroidFitted, CentroidMethod
from scarce.methods.base import MethodSpec, register_method


class SimpleShotFitted(CentroidFitted):
    @staticmethod
    def transform(x: np.ndarray, shift: np.ndarray) -> np.ndarray:
        z = x - shift
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


class SimpleShot(CentroidMethod):
    fitted_cls = SimpleShotFitted

    def shift_for(self, feats: np.ndarray) -> np.ndarray:
        return feats.mean(axis=0).astype(np.float32)


register_method(
    MethodSpec(
        name="simpleshot",
        modalities=("image", "text"),
        config=CentroidConfig,
        method=SimpleShot,
        fitted=SimpleShotFitted,
        summary="nearest centroid on centred, L2-normalized frozen features (CL2N)",
        paper="Wang et al., SimpleShot: Revisiting Nearest-Neighbor Classification for "
        "Few-Shot Learning, arXiv 1911.04623, 2019",
    )
)
