"""Prototypical networks (Snell, Swersky & Zemel, NeurIPS 2017): each class is the mean of
its examples' embeddings; an input goes to the nearest prototype in squared Euclidean
distance. Without base data the encoder stays frozen (the episodic meta-training of the
paper needs a base set of other classes)."""

from __future__ import annotations

import numpy as np

from scarce.methods._centroids import CentroidConfig, CentroidFitted, CentroidMethod
from scarce.methods.base import MethodSpec, register_method


class ProtoNetFitted(CentroidFitted):
    @staticmethod
    def transform(x: np.ndarray, shift: np.ndarray) -> np.ndarray:
        return x


class ProtoNet(CentroidMethod):
    fitted_cls = ProtoNetFitted


register_method(
    MethodSpec(
        name="protonet",
        modalities=("image", "text"),
        config=CentroidConfig,
        method=ProtoNet,
        fitted=ProtoNetFitted,
        summary="class prototypes (mean embeddings), nearest in squared Euclidean distance; "
        "frozen encoder",
        paper="Snell et al., Prototypical Networks for Few-shot Learning, NeurIPS 2017",
    )
)
