"""Do `scarce eval`'s 95% intervals cover the truth? Many small pools are drawn from a
large labeled set; each is evaluated as a user with only that pool would (`--protocol
episodes` or `kshot`), and its interval is checked against the accuracy the same protocol
reaches on the whole set (many more draws: the large-sample truth). A 95% interval should
cover it in about 95% of the pools.

    bench/interval_coverage.py --protocol episodes --pools 40

Fashion-MNIST's 10,000 test images, frozen EfficientNet-Lite0 features (encoded once,
cached); simpleshot and the pixel baseline (16x16 pixels, so that thousands of fits stay cheap).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from fewshot_common import RESULTS, Clock, limit_threads, provenance, write

CONFIGS = {"baseline": {"pixels": 16}}


def _accuracy(res: dict, method: str, k: int) -> dict:
    for s in res["summary"]:
        if s["method"] == method and s["shots"] == k and s["metric"] == "accuracy":
            return s
    raise KeyError((method, k))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--protocol", choices=["episodes", "kshot"], default="episodes")
    ap.add_argument("--pools", type=int, default=40)
    ap.add_argument("--per-class", type=int, default=20, help="pool images per class")
    ap.add_argument("--shots", default="1,5")
    ap.add_argument("--ways", type=int, default=5)
    ap.add_argument("--queries", type=int, default=15)
    ap.add_argument("--repeats", type=int, default=600, help="episodes, or kshot repeats")
    ap.add_argument("--truth-repeats", type=int, default=3000)
    ap.add_argument("--methods", default="simpleshot")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "interval_coverage.json")
    args = ap.parse_args()
    threads = limit_threads(args.threads)
    import scarce
    from scarce.data.public import fashion_mnist

    clock = Clock()
    x, y = fashion_mnist("test")
    shots = [int(s) for s in args.shots.split(",")]
    methods = args.methods.split(",")
    common = {
        "methods": methods,
        "shots": shots,
        "protocol": args.protocol,
        "configs": CONFIGS,
        "ways": args.ways,
        "queries": args.queries,
    }

    def run(xs: np.ndarray, ys: np.ndarray, repeats: int, seed: int) -> dict:
        key = "episodes" if args.protocol == "episodes" else "repeats"
        return scarce.evaluate(
            list(xs), [int(v) for v in ys], seed=seed, **{key: repeats}, **common
        )

    truth_res = run(x, y, args.truth_repeats, args.seed + 10_000)
    names = ["baseline", *methods]
    truth = {(m, k): _accuracy(truth_res, m, k) for m in names for k in shots}
    print(f"truth ({clock()} s):", {f"{m}@{k}": round(v["mean"], 4) for (m, k), v in truth.items()})
    g = np.random.default_rng(args.seed)
    pools = []
    for p in range(args.pools):
        idx = np.concatenate(
            [g.choice(np.flatnonzero(y == c), args.per_class, replace=False) for c in range(10)]
        )
        res = run(x[idx], y[idx], args.repeats, args.seed + p)
        row = {}
        for m in names:
            for k in shots:
                s, t = _accuracy(res, m, k), truth[(m, k)]["mean"]
                row[f"{m}@{k}"] = {
                    "mean": s["mean"],
                    "low": s["low"],
                    "high": s["high"],
                    "covers": bool(s["low"] <= t <= s["high"]),
                }
        pools.append(row)
        covered = {c: sum(r[c]["covers"] for r in pools) for c in row}
        print(f"pool {p + 1}/{args.pools} ({clock()} s): covered {covered}", flush=True)
    cells = list(pools[0])
    out = {
        **provenance(args.seed, threads),
        "setup": {
            "data": "Fashion-MNIST test set (10,000 images), efficientnet-lite0 frozen features",
            "protocol": args.protocol,
            "pool": f"{args.per_class} images per class, drawn anew for each pool",
            "repeats": args.repeats,
            "truth": f"the same protocol on all 10,000 images, {args.truth_repeats} draws",
            "configs": CONFIGS,
            **{k: v for k, v in common.items() if k not in ("configs",)},
        },
        "truth": {f"{m}@{k}": v["mean"] for (m, k), v in truth.items()},
        "coverage": {
            c: {
                "covered": sum(r[c]["covers"] for r in pools),
                "pools": len(pools),
                "mean_half_width": round(
                    float(np.mean([r[c]["high"] - r[c]["low"] for r in pools])) / 2, 4
                ),
                "sd_of_pool_means": round(float(np.std([r[c]["mean"] for r in pools], ddof=1)), 4),
            }
            for c in cells
        },
        "pools": pools,
        "seconds": clock(),
    }
    write(args.out, out)
    for c, v in out["coverage"].items():
        print(c, v)


if __name__ == "__main__":
    main()
