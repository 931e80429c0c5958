"""k-nearest neighbours on frozen features: cosine similarity on centred, L2-normalized
embeddings, neighbours' votes weighted by exp(similarity / T) (the k-NN probe of Wu et al.,
CVPR 2018, used by DINO to judge frozen features). Unlike a linear head it keeps every
labeled example, so it follows classes that are not linearly separable or form several
clusters. k, T and a small share of uniform probability are chosen by leave-one-out
log-loss on the labeled examples, so the probabilities mean something."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, ClassVar, Literal

import numpy as np

from scarce.core.config import Config, check_range
from scarce.data.balance import class_weights
from scarce.data.types import Inputs, LabeledSet, UnlabeledSet
from scarce.encoders.base import Encoder
from scarce.methods.base import (
    MethodSpec,
    State,
    register_method,
    torch_head,
    torch_unit_rows,
    unit_rows,
    with_head,
)

KS = (1, 3, 5, 10, 20, 50)
TEMPERATURES = (0.02, 0.05, 0.1, 0.2, 0.5)
SMOOTHING = (0.01, 0.05, 0.1, 0.2)
LOO_QUERIES = 2000  # leave-one-out on a seeded sample of this many labeled examples at most
CHUNK = 1024  # queries per similarity block when predicting


@dataclasses.dataclass(frozen=True)
class KnnConfig(Config):
    k: int | None = None
    temperature: float | None = None
    class_weight: Literal["balanced", "none"] = "balanced"

    help: ClassVar[dict[str, str]] = {
        "k": "neighbours that vote; None = chosen by leave-one-out log-loss",
        "temperature": "votes weigh exp(cosine similarity / temperature); None = chosen "
        "by leave-one-out",
        "class_weight": "'balanced': a neighbour's vote weighs 1 / its class's count (a large "
        "class no longer outvotes the rest), and leave-one-out weighs classes alike",
    }

    def check(self) -> None:
        if self.k is not None:
            check_range("knn", "k", self.k, 1)
        if self.temperature is not None:
            check_range("knn", "temperature", self.temperature, 1e-4)


def _embed(x: np.ndarray, shift: np.ndarray) -> np.ndarray:
    return unit_rows(x.astype(np.float32) - shift)


def _vote(
    sims: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    temperature: float,
    smoothing: float,
    class_w: np.ndarray | None = None,
) -> np.ndarray:
    """Class probabilities from each query's neighbours (sims, labels: (n, k), best first);
    class_w: a weight per class on its neighbours' votes, or per query and class (n, C)."""
    w = np.exp((sims - sims[:, :1]) / temperature)  # shifted by the best: no overflow
    if class_w is not None and class_w.ndim == 2:
        w = w * np.take_along_axis(class_w, labels, axis=1)
    elif class_w is not None:
        w = w * class_w[labels]
    votes = np.zeros((len(sims), n_classes))
    np.add.at(votes, (np.arange(len(sims))[:, None], labels), w)
    votes /= votes.sum(axis=1, keepdims=True)
    return (1 - smoothing) * votes + smoothing / n_classes


def _top(sims: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k largest similarities, best first; among equal similarities
    the lower index, as ONNX's TopK does, so that the graph and this agree on ties."""
    k = min(k, sims.shape[1])
    kth = -np.partition(-sims, k - 1, axis=1)[:, k - 1 : k]
    above, tie = sims > kth, sims == kth
    pick = above | (tie & (np.cumsum(tie, axis=1) <= k - above.sum(axis=1, keepdims=True)))
    idx = np.nonzero(pick)[1].reshape(len(sims), k)  # ascending index in each row
    order = np.argsort(-np.take_along_axis(sims, idx, axis=1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)


def _canonical(memory: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(distinct rows, each row's one among them), or None when every row is distinct. A
    text stored twice (under two labels) otherwise got similarities a rounding apart that
    changed with the other inputs of the batch, and the k-th neighbour with them (walk 14)."""
    distinct, group = np.unique(memory, axis=0, return_inverse=True)
    return None if len(distinct) == len(memory) else (distinct, group.ravel())


class KnnFitted:
    def __init__(
        self,
        encoder: Encoder,
        classes: tuple[str, ...],
        memory: np.ndarray,
        labels: np.ndarray,
        shift: np.ndarray,
        meta: dict[str, Any],
    ) -> None:
        self.encoder, self.classes = encoder, classes
        self.memory, self.labels, self.shift, self.meta = memory, labels, shift, meta
        self.canonical = _canonical(memory)

    def _sims(self, z: np.ndarray) -> np.ndarray:
        if self.canonical is None:
            return z @ self.memory.T
        distinct, group = self.canonical
        return (z @ distinct.T)[:, group]  # copies get the very same number

    def predict_proba(self, inputs: Inputs) -> np.ndarray:
        return self.proba_from_features(self.encoder.encode(inputs))

    def proba_from_features(self, feats: np.ndarray) -> np.ndarray:
        z = _embed(feats, self.shift)
        # bundles from before the option voted unweighted
        class_w = _class_weights(self.labels, len(self.classes), self.meta.get("class_weight"))
        out = []
        for i in range(0, len(z), CHUNK):
            sims = self._sims(z[i : i + CHUNK])
            top = _top(sims, int(self.meta["k"]))
            out.append(
                _vote(
                    np.take_along_axis(sims, top, axis=1),
                    self.labels[top],
                    len(self.classes),
                    float(self.meta["temperature"]),
                    float(self.meta["smoothing"]),
                    class_w,
                )
            )
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)))

    def graph_tensors(self) -> dict[str, np.ndarray]:
        """The constants of the graph: the stored examples, and per example a one-hot of
        its label times its class's vote weight."""
        k = len(self.classes)
        class_w = _class_weights(self.labels, k, self.meta.get("class_weight"))
        votes = np.eye(k, dtype=np.float32)[self.labels]
        if class_w is not None:
            votes *= class_w[self.labels, None].astype(np.float32)
        if self.canonical is None:
            return {"memory": self.memory, "votes": votes, "shift": self.shift}
        distinct, group = self.canonical
        # indices as float32 buffers (exact below 2^24), made integers again in the graph
        return {
            "memory": distinct,
            "group": group.astype(np.float32),
            "votes": votes,
            "shift": self.shift,
        }

    def export_module(self) -> Any:
        head = torch_head(self.graph_tensors(), self.torch_proba)
        return with_head(self.encoder.torch_module(), head, self.encoder.spec.modality)

    def torch_proba(self, t: dict[str, Any], feats: Any) -> Any:
        import torch

        sims = torch_unit_rows(feats - t["shift"]) @ t["memory"].T
        if "group" in t:
            sims = sims[:, t["group"].long()]
        # ONNX TopK puts the lower index first among equal values, as _top does
        top, idx = torch.topk(sims, min(int(self.meta["k"]), len(self.labels)), dim=1)
        w = torch.exp((top - top[:, :1]) / float(self.meta["temperature"]))
        votes = (w[:, :, None] * t["votes"][idx]).sum(1)
        votes = votes / votes.sum(1, keepdim=True)
        smoothing = float(self.meta["smoothing"])
        return (1 - smoothing) * votes + smoothing / len(self.classes)

    def state(self) -> State:
        return (
            {"memory": self.memory, "labels": self.labels, "shift": self.shift},
            dict(self.meta),
        )

    @classmethod
    def from_state(
        cls,
        tensors: dict[str, np.ndarray],
        meta: dict[str, Any],
        encoder: Encoder,
        classes: tuple[str, ...],
    ) -> KnnFitted:
        labels = tensors["labels"].astype(np.int64)
        return cls(encoder, classes, tensors["memory"], labels, tensors["shift"], meta)


def _class_weights(labels: np.ndarray, n_classes: int, how: str | None) -> np.ndarray | None:
    """1 / count per class (mean 1 over the examples), or None where votes are unweighted or
    the classes equal. On unequal classes an unweighted vote follows the class sizes: one
    class of 60 beside 3 of each other took most of a balanced test set."""
    return class_weights(labels, n_classes) if how == "balanced" else None


class Knn:
    spec: MethodSpec

    def __init__(self, config: KnnConfig, encoder: Encoder) -> None:
        self.config, self.encoder = config, encoder

    def fit(
        self,
        train: LabeledSet,
        *,
        unlabeled: UnlabeledSet | None = None,
        val: LabeledSet | None = None,
        seed: int,
    ) -> KnnFitted:
        feats = self.encoder.encode(train.inputs, desc="encoding training data")
        shift = feats.mean(axis=0).astype(np.float32)
        z = _embed(feats, shift)
        n_classes = len(train.classes)
        meta = self._choose(z, train.y, n_classes, seed)
        return KnnFitted(self.encoder, train.classes, z, train.y.astype(np.int32), shift, meta)

    def _choose(self, z: np.ndarray, y: np.ndarray, n_classes: int, seed: int) -> dict[str, Any]:
        cfg = self.config
        ks = [cfg.k] if cfg.k is not None else [k for k in KS if k < len(y)] or [1]
        temps = [cfg.temperature] if cfg.temperature is not None else list(TEMPERATURES)
        class_w = _class_weights(y, n_classes, cfg.class_weight)
        if np.bincount(y, minlength=n_classes).min() < 2:
            # leave-one-out would leave a class with no example: fixed, conservative choice
            return {
                "k": cfg.k or min(10, len(y)),
                "temperature": cfg.temperature or 0.1,
                "smoothing": 0.1,
                "loo_log_loss": None,
                "class_weight": cfg.class_weight,
            }
        q = np.arange(len(y))
        if len(q) > LOO_QUERIES:
            q = np.sort(np.random.default_rng(seed).choice(len(y), LOO_QUERIES, replace=False))
        sims = z[q] @ z.T
        sims[np.arange(len(q)), q] = -np.inf  # leave each query out of its own neighbours
        top = _top(sims, max(ks))
        top_sims, top_labels = np.take_along_axis(sims, top, axis=1), y[top]
        best: dict[str, Any] = {}
        best_loss = np.inf
        # each left-out example weighs as its class does in the votes
        q_w = None if class_w is None else class_w[y[q]]
        # the votes weighed as a fit without the query would weigh them: its class one
        # example fewer (walk 32: at 2 per class a left-out example's lone own neighbour met
        # the others' pairs, and leave-one-out read 0.000 where new data scored 0.42)
        loo_w = class_w
        if cfg.class_weight == "balanced":
            left = np.bincount(y, minlength=n_classes)[None, :] - np.eye(n_classes)[y[q]]
            loo_w = 1.0 / np.maximum(left, 1)
        right = np.zeros(len(q), bool)
        for k, t, s in itertools.product(ks, temps, SMOOTHING):
            p = _vote(top_sims[:, :k], top_labels[:, :k], n_classes, t, s, loo_w)
            loss = float(np.average(-np.log(p[np.arange(len(q)), y[q]]), weights=q_w))
            if loss < best_loss - 1e-9:
                best_loss = loss
                best = {"k": k, "temperature": t, "smoothing": s}
                right = p.argmax(axis=1) == y[q]
        counts = np.bincount(y[q], minlength=n_classes)
        recall = np.bincount(y[q], right, minlength=n_classes)[counts > 0] / counts[counts > 0]
        # audit 26: the manifest had no estimate for knn; these are the held-out answers
        validation = {
            "accuracy": round(float(right.mean()), 5),
            "balanced_accuracy": round(float(recall.mean()), 5),
            "log_loss": round(best_loss, 5),
            "n": len(q),
            "how": "leave-one-out inside the training data, at the k and temperature it "
            "chose (so slightly optimistic)",
        }
        return {
            **best,
            "loo_log_loss": round(best_loss, 6),
            "class_weight": cfg.class_weight,
            "validation": validation,
        }


register_method(
    MethodSpec(
        name="knn",
        modalities=("image", "text"),
        config=KnnConfig,
        method=Knn,
        fitted=KnnFitted,
        summary="similarity-weighted k-nearest neighbours on centred, L2-normalized frozen "
        "features; k and temperature by leave-one-out",
        paper="Wu et al., Unsupervised Feature Learning via Non-Parametric Instance "
        "Discrimination, CVPR 2018 (the weighted k-NN probe)",
    )
)
