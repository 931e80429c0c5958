"""Calibration at few shots: does the top probability mean what it says? For each method and
K, over seeded K-shot draws (the rest of the pool tests): accuracy, mean top probability,
log-loss and expected calibration error. Real data with real encoders: six fortunes
categories (MiniLM-L6), Fashion-MNIST and scikit-learn's digits (EfficientNet-Lite0).

    .venv/bin/python bench/calibration.py       # -> bench/results/calibration.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from fewshot_common import RESULTS, Clock, limit_threads, provenance, write

FORTUNES = ("computers", "politics", "science", "food", "sports", "law")


def _pool(x: list[Any], y: np.ndarray, classes: tuple[str, ...], per: int, kind: str) -> Any:
    from scarce.data.types import Inputs, LabeledSet

    g = np.random.default_rng(0)
    keep = np.concatenate(
        [g.choice(np.flatnonzero(y == c), per, replace=False) for c in range(len(classes))]
    )
    items = [x[i] for i in keep]
    inputs = Inputs.from_texts(items) if kind == "text" else Inputs.from_images(items)
    return LabeledSet(inputs, y[keep], classes, f"{kind} pool")


def pools(per: int) -> dict[str, tuple[Any, str]]:
    from scarce.data.public import digits_8x8, fashion_mnist, fortunes

    t, lab = fortunes(FORTUNES)
    y = np.array([FORTUNES.index(v) for v in lab])
    ten = tuple(str(i) for i in range(10))
    xf, yf = fashion_mnist("test")
    xd, yd = digits_8x8()
    return {
        "fortunes-6": (_pool(t, y, FORTUNES, per, "text"), "minilm-l6"),
        "fashion-mnist-10": (_pool(list(xf), yf, ten, per, "image"), "efficientnet-lite0"),
        "digits-10": (_pool(list(xd), yd, ten, per, "image"), "efficientnet-lite0"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default="linear-probe,simpleshot,protonet,knn,baseline")
    ap.add_argument("--shots", default="1,2,3,5,10")
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "calibration.json")
    args = ap.parse_args()

    from scarce.encoders import create_encoder
    from scarce.evaluation import metrics as M
    from scarce.evaluation.protocols import kshot_splits
    from scarce.methods import methods as registry

    out: dict[str, Any] = {
        **provenance(args.seed, limit_threads(args.threads)),
        "setup": f"{args.per_class} per class drawn once per data set; per K, {args.repeats} "
        "seeded K-shot draws, the rest of the pool tests; methods at their defaults",
        "rows": [],
    }
    shots = [int(k) for k in args.shots.split(",")]
    clock = Clock()
    for name, (pool, backbone) in pools(args.per_class).items():
        enc = create_encoder(backbone)
        with enc.memoized():
            enc.encode(pool.inputs, desc=name)
            for m in args.methods.split(","):
                spec = registry.get(m)
                for k in shots:
                    acc, conf, ll, ece = [], [], [], []
                    for sp in kshot_splits(pool, [k], args.repeats, args.seed, False):
                        train, test = pool.subset(sp.train), pool.subset(sp.test)
                        fitted = spec.method(spec.config(), enc).fit(train, seed=sp.repeat)
                        p = fitted.predict_proba(test.inputs)
                        scores = M.compute(test.y, p)
                        acc.append(scores["accuracy"])
                        ll.append(scores["log_loss"])
                        ece.append(scores["ece"])
                        conf.append(float(p.max(1).mean()))
                    row = {
                        "data": name,
                        "method": m,
                        "shots": k,
                        "accuracy": round(float(np.mean(acc)), 4),
                        "mean_top_probability": round(float(np.mean(conf)), 4),
                        "log_loss": round(float(np.mean(ll)), 4),
                        "ece": round(float(np.mean(ece)), 4),
                    }
                    out["rows"].append(row)
                    print(
                        f"{name:17s} {m:12s} K={k:<3d} accuracy {row['accuracy']:.3f}  top "
                        f"probability {row['mean_top_probability']:.3f}  log-loss "
                        f"{row['log_loss']:.3f}  ECE {row['ece']:.3f}",
                        flush=True,
                    )
    out["elapsed_seconds"] = round(clock(), 1)
    write(args.out, out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
