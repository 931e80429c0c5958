"""Classification metrics from predicted probabilities (scikit-learn where it has them)."""

from __future__ import annotations

from typing import Any

import numpy as np

from scarce.data.balance import class_weights

LOWER_IS_BETTER = frozenset({"log_loss", "ece"})
ECE_BINS = 10
_UNBOUNDED = frozenset({"log_loss"})  # the others lie in [0, 1]


def bounds(metric: str, *, paired: bool = False) -> tuple[float, float]:
    """The range a metric (or, `paired`, a difference of two) can take: intervals are clipped
    to it, since an accuracy of 1.05 helps nobody."""
    if metric in _UNBOUNDED:
        return (-np.inf, np.inf) if paired else (0.0, np.inf)
    return (-1.0, 1.0) if paired else (0.0, 1.0)


# the metrics that are means over test items, and so have a per-item score (per_item)
PER_ITEM = ("accuracy", "balanced_accuracy", "log_loss")


def per_item(y: np.ndarray, proba: np.ndarray) -> dict[str, np.ndarray]:
    """Each test item's share of the PER_ITEM metrics: the metric is the mean of these.
    Balanced accuracy: a hit weighs n / (classes present x its class's count)."""
    hit = (proba.argmax(1) == y).astype(np.float32)
    cw = class_weights(y, proba.shape[1]) if len(y) else None
    w = cw[y] if cw is not None else 1.0
    nll = -np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1))
    return {"accuracy": hit, "balanced_accuracy": hit * w, "log_loss": nll}


def compute(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Every score of one run. The confusion-matrix scores are computed here from one
    bincount: scikit-learn's input validation cost ~40 ms per run, more than most fits
    (tests check these against scikit-learn)."""
    k = proba.shape[1]
    pred = proba.argmax(1)
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k).astype(float)
    tp, support, predicted = np.diag(cm), cm.sum(1), cm.sum(0)
    present = support > 0  # classes absent from this test draw have no recall to average
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    out = {
        "accuracy": float(tp.sum() / len(y)),
        "balanced_accuracy": float((tp[present] / support[present]).mean()),
        "macro_f1": float(f1.mean()),
        "log_loss": float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1)).mean()),
        "ece": float(reliability(y, proba)["ece"]),
    }
    if k == 2 and present.all():
        from sklearn.metrics import roc_auc_score

        out["roc_auc"] = float(roc_auc_score(y, proba[:, 1]))
    return out


def one_class(y: np.ndarray, proba: np.ndarray) -> int | None:
    """The class a model answered for 90%+ of a test set (of 20+) where under 60% are that
    class: it has stopped telling classes apart there; None otherwise. `scarce fit --test`
    and `scarce eval` warn of it alike."""
    if len(y) < 20:
        return None
    top = np.bincount(proba.argmax(axis=1), minlength=proba.shape[1])
    c = int(top.argmax())
    return c if top[c] >= 0.9 * len(y) and float(np.mean(y == c)) < 0.6 else None


def reliability(y: np.ndarray, proba: np.ndarray, bins: int = ECE_BINS) -> dict[str, Any]:
    """Top-label calibration: per confidence bin, mean confidence vs accuracy; ECE is their
    gap weighted by bin size (Guo et al., On Calibration of Modern Neural Networks, 2017)."""
    conf = proba.max(1)
    correct = (proba.argmax(1) == y).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    mean_conf, acc, count = [], [], []
    ece = 0.0
    for b in range(bins):
        m = which == b
        n = int(m.sum())
        count.append(n)
        mean_conf.append(float(conf[m].mean()) if n else None)
        acc.append(float(correct[m].mean()) if n else None)
        if n:
            ece += n / len(y) * abs(float(conf[m].mean()) - float(correct[m].mean()))
    return {"bins": bins, "confidence": mean_conf, "accuracy": acc, "count": count, "ece": ece}


def confusion(y: np.ndarray, proba: np.ndarray) -> list[list[int]]:
    from sklearn.metrics import confusion_matrix

    k = proba.shape[1]
    return confusion_matrix(y, proba.argmax(1), labels=list(range(k))).tolist()


def per_class_f1(
    y: np.ndarray, proba: np.ndarray, classes: tuple[str, ...]
) -> dict[str, float | None]:
    """F1 per class; None for a class neither in `y` nor predicted, which was never tested
    (walk 23: an episode class too small to draw read F1 = 0.00)."""
    from sklearn.metrics import f1_score

    pred = proba.argmax(1)
    f1 = f1_score(y, pred, labels=list(range(len(classes))), average=None, zero_division=0)
    seen = set(np.unique(y)) | set(np.unique(pred))
    return {
        c: float(v) if i in seen else None for i, (c, v) in enumerate(zip(classes, f1, strict=True))
    }
