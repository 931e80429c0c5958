"""SimpleShot (Wang et al., 2019): nearest centroid on centred, L2-normalized features
("CL2N"). The centre is the labeled examples' mean; with base data, halfway between it and
the base classes' mean (the paper uses the base mean alone: see _episodic.task_centre)."""

from __future__ import annotations

from typing import Any

import numpy as np

from scarce.data.types import LabeledSet
from scarce.methods._centroids import CentroidConfig, CentroidFitted, CentroidMethod
from scarce.methods._episodic import cl2n
from scarce.methods.base import MethodSpec, register_method, torch_unit_rows


class SimpleShotFitted(CentroidFitted):
    def embed(self, feats: np.ndarray) -> np.ndarray:
        return cl2n(feats, self.shift)

    def torch_embed(self, t: dict[str, Any], feats: Any) -> Any:
        return torch_unit_rows(feats - t["shift"])

    def distances(self, feats: np.ndarray) -> np.ndarray:
        """||z - c||^2 for z = (x - s) / ||x - s||, from x.c, x.s and x.x alone: no centred,
        normalized copy of the inputs is made (it was half of an episode's prediction)."""
        s, c = self.shift, self.centroids
        x = np.asarray(feats, np.float32)
        xx, ss = np.einsum("ij,ij->i", x, x), float(s @ s)
        sq = xx - 2 * (x @ s) + ss
        norm = np.sqrt(np.maximum(sq, 0))
        # an input at the centre (to float32 cancellation) maps to the origin, as in cl2n
        unit = sq > 1e-5 * (xx + ss)
        zc = (x @ c.T - (c @ s)[None]) / np.where(unit, norm, 1)[:, None]
        d = unit[:, None] - 2 * zc * unit[:, None] + np.einsum("ij,ij->i", c, c)[None]
        return np.maximum(d, 0)


class SimpleShot(CentroidMethod):
    fitted_cls = SimpleShotFitted

    def shift_for(self, feats: np.ndarray) -> np.ndarray:
        return feats.mean(axis=0).astype(np.float32)

    def meta_train(self, base: LabeledSet, *, seed: int) -> dict[str, Any]:
        feats = self.encoder.encode(base.inputs, desc="encoding the base set")
        self.base_shift = feats.mean(axis=0).astype(np.float32)
        self.meta_training = {
            "base_sha256": base.data_hash(),
            "centring": "halfway between the base mean and the support mean",
        }
        return self.meta_training


register_method(
    MethodSpec(
        name="simpleshot",
        modalities=("image", "text"),
        config=CentroidConfig,
        method=SimpleShot,
        fitted=SimpleShotFitted,
        base="optional",
        summary="nearest centroid on centred, L2-normalized frozen features (CL2N); "
        "centred halfway to the base classes' mean with --base",
        paper="Wang et al., SimpleShot: Revisiting Nearest-Neighbor Classification for "
        "Few-Shot Learning, arXiv 1911.04623, 2019",
    )
)
