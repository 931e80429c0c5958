"""Unequal classes: is a small class still found? For each data set and imbalance profile,
seeded draws train on unequal counts and test on a balanced remainder (as many of each
class); balanced accuracy, log-loss and the share of answers given to the largest class.
Real data with real encoders: six fortunes categories (MiniLM-L6), Fashion-MNIST and
scikit-learn's digits (EfficientNet-Lite0). Rows: linear-probe as shipped (balanced weights +
logit adjustment chosen on held-out logits), without the adjustment, without class weights,
simpleshot (prototypes, count-corrected distances), knn with and without class-weighted
votes, and scikit-learn's LogisticRegressionCV(class_weight="balanced") on
the same features as the peer.

    .venv/bin/python bench/imbalance.py       # -> bench/results/imbalance.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from calibration import pools
from fewshot_common import RESULTS, Clock, limit_threads, provenance, write

PROFILES = {
    "one-large": "one class of 60, every other 3",
    "long-tail": "60 down to 3, geometric",
    "mild": "half the classes 10, half 5",
    "one-large-singletons": "one class of 60, every other 1 (no cross-validation possible)",
}
VARIANTS = {
    "linear-probe": ("linear-probe", {}),
    "linear-probe, no adjustment": ("linear-probe", {"prior_shift": 0.0}),
    "linear-probe, no class weights": ("linear-probe", {"class_weight": "none"}),
    "simpleshot": ("simpleshot", {}),
    "knn": ("knn", {}),
    "knn, unweighted votes": ("knn", {"class_weight": "none"}),
}


def counts(profile: str, k: int, rng: np.random.Generator) -> np.ndarray:
    if profile == "one-large":
        c = np.full(k, 3)
    elif profile == "one-large-singletons":
        c = np.full(k, 1)
    elif profile == "long-tail":
        return rng.permutation(np.round(np.geomspace(60, 3, k)).astype(int))
    else:
        c = np.full(k, 5)
        c[rng.permutation(k)[: k // 2]] = 10
        return c
    c[rng.integers(k)] = 60
    return c


def draw(y: np.ndarray, want: np.ndarray, rng: np.random.Generator) -> tuple[Any, Any]:
    perm = [rng.permutation(np.flatnonzero(y == c)) for c in range(len(want))]
    rest = min(len(p) - n for p, n in zip(perm, want, strict=True))
    train = np.concatenate([p[:n] for p, n in zip(perm, want, strict=True)])
    test = np.concatenate([p[n : n + rest] for p, n in zip(perm, want, strict=True)])
    return train, test


def peer_proba(feats: np.ndarray, y: np.ndarray, test: np.ndarray) -> np.ndarray:
    """scikit-learn's LogisticRegressionCV, balanced weights, on the same unit-length
    features (folds as many as the smallest class allows)."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    x = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    xt = test / np.linalg.norm(test, axis=1, keepdims=True)
    folds = min(5, int(np.bincount(y).min()))
    if folds < 2:
        m = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    else:
        m = LogisticRegressionCV(
            Cs=10, cv=folds, class_weight="balanced", scoring="neg_log_loss", max_iter=2000
        )
    return m.fit(x, y).predict_proba(xt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", default=",".join(PROFILES))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "imbalance.json")
    args = ap.parse_args()

    from scarce.encoders import create_encoder
    from scarce.evaluation import metrics as M
    from scarce.methods import methods as registry

    out: dict[str, Any] = {
        **provenance(args.seed, limit_threads(args.threads)),
        "setup": f"{args.per_class} per class drawn once per data set; per profile, "
        f"{args.repeats} seeded draws train on unequal counts, the balanced rest tests",
        "profiles": PROFILES,
        "rows": [],
    }
    clock = Clock()
    for name, (pool, backbone) in pools(args.per_class).items():
        enc = create_encoder(backbone)
        with enc.memoized():
            feats = enc.encode(pool.inputs, desc=name)
            k = len(pool.classes)
            for profile in args.profiles.split(","):
                scores: dict[str, list[tuple[float, float, float]]] = {}
                shifts = []
                for r in range(args.repeats):
                    rng = np.random.default_rng([args.seed, r])
                    want = counts(profile, k, rng)
                    tr, te = draw(pool.y, want, rng)
                    train, test = pool.subset(tr), pool.subset(te)
                    big = int(np.argmax(want))
                    probas = {}
                    for label, (method, kw) in VARIANTS.items():
                        spec = registry.get(method)
                        fitted = spec.method(spec.config(**kw), enc).fit(train, seed=r)
                        probas[label] = fitted.predict_proba(test.inputs)
                        if label == "linear-probe":
                            shifts.append(fitted.meta["prior_shift"])
                    probas["scikit-learn LogisticRegressionCV"] = peer_proba(
                        feats[tr], pool.y[tr], feats[te]
                    )
                    for label, p in probas.items():
                        s = M.compute(test.y, p)
                        share = float((p.argmax(1) == big).mean())
                        scores.setdefault(label, []).append(
                            (s["balanced_accuracy"], s["log_loss"], share)
                        )
                for label, v in scores.items():
                    a = np.array(v)
                    row = {
                        "data": name,
                        "profile": profile,
                        "method": label,
                        "balanced_accuracy": round(float(a[:, 0].mean()), 4),
                        "balanced_accuracy_sd": round(float(a[:, 0].std(ddof=1)), 4),
                        "log_loss": round(float(a[:, 1].mean()), 4),
                        "largest_class_share": round(float(a[:, 2].mean()), 4),
                        "largest_class_true_share": round(1 / k, 4),
                    }
                    if label == "linear-probe":
                        row["prior_shift_chosen"] = shifts
                    out["rows"].append(row)
                    print(
                        f"{name:17s} {profile:21s} {label:34s} balanced accuracy "
                        f"{row['balanced_accuracy']:.3f}  log-loss {row['log_loss']:.3f}  "
                        f"largest class {row['largest_class_share']:.2f}",
                        flush=True,
                    )
    out["elapsed_seconds"] = round(clock(), 1)
    write(args.out, out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
