"""Evaluation overhead: methods x shot counts x repeats on 2,000 images against one cold
encode pass of the same images. Everything but the encoding should be cheap, because the
features are encoded once and reused for every draw.

    .venv/bin/python bench/eval_overhead.py     # -> bench/results/eval_overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from fewshot_common import provenance

SEED = 0


def fresh_cache(root: Path, name: str, persistent: Path) -> None:
    """A cold embedding cache (the one-time ONNX export is kept out of the timings)."""
    d = root / name
    if (persistent / "onnx").exists():
        shutil.copytree(persistent / "onnx", d / "onnx")
    os.environ["SCARCE_CACHE_DIR"] = str(d)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--shots", default="1,5,10,20")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument(
        "--methods", default="", help="default: the frozen-encoder image methods fitting DATA alone"
    )
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "eval_overhead.json"))
    args = ap.parse_args()
    persistent = Path(os.environ.get("SCARCE_CACHE_DIR", Path.home() / ".cache" / "scarce"))
    work = Path(tempfile.mkdtemp(prefix="scarce-evalbench-"))

    from scarce.data.public import fashion_mnist
    from scarce.data.types import Inputs, LabeledSet
    from scarce.encoders import create_encoder
    from scarce.encoders.cache import EmbeddingCache
    from scarce.evaluation.runner import evaluate_sets
    from scarce.methods import methods

    x, y = fashion_mnist("train")
    idx = np.random.default_rng(SEED).choice(len(x), args.images, replace=False)
    pool = LabeledSet(
        Inputs.from_images(list(x[idx])),
        y[idx],
        tuple(str(c) for c in range(10)),
        "fashion-mnist train (sample)",
    )
    # the frozen-encoder methods that fit DATA alone: no base set, no source domain, no
    # unlabeled data, no encoder training, no teacher (each measured by its own bench)
    names = [m for m in args.methods.split(",") if m] or [
        s.name
        for s in methods
        if "image" in s.modalities
        and not s.needs_unlabeled
        and s.base != "required"
        and not s.domain
        and not s.tunes_encoder
        and s.name not in ("auto", "multitask", "distill")  # distill: bench/distill.py
    ]
    shots = [int(s) for s in args.shots.split(",")]

    enc = create_encoder("efficientnet-lite0")
    enc.backend()  # load the ONNX session outside both timings
    fresh_cache(work, "cold-encode", persistent)
    EmbeddingCache._instances.clear()
    t = time.perf_counter()
    enc.encode(pool.inputs)
    cold = time.perf_counter() - t
    print(f"cold encode of {len(pool)} images: {cold:.1f}s", flush=True)

    fresh_cache(work, "eval", persistent)
    t = time.perf_counter()
    res = evaluate_sets(
        pool,
        methods=names,
        encoder=enc,
        shots=shots,
        repeats=args.repeats,
        seed=SEED,
        jobs=args.jobs,
    )
    total = time.perf_counter() - t
    fits = len(res["runs"])
    print(f"evaluation: {fits} fits in {total:.1f}s ({res['timing']})", flush=True)
    acc = {
        f"{s['method']}@{s['shots']}": [
            round(s["mean"], 4),
            round(s["low"], 4),
            round(s["high"], 4),
        ]
        for s in res["summary"]
        if s["metric"] == "accuracy"
    }
    per_method = {
        m: round(
            sum(r["fit_seconds"] + r["predict_seconds"] for r in res["runs"] if r["method"] == m), 2
        )
        for m in (mm["name"] for mm in res["methods"])
    }
    out = {
        **provenance(SEED),
        "setup": {
            "images": len(pool),
            "data": pool.source,
            "encoder": enc.spec.name,
            "methods": [m["name"] for m in res["methods"]],
            "shots": shots,
            "repeats": args.repeats,
            "jobs": args.jobs,
            "fits": fits,
            "test": "rest of the pool",
        },
        "cold_encode_seconds": round(cold, 2),
        "evaluation_seconds": round(total, 2),
        "evaluation_encode_seconds": res["timing"]["encode_seconds"],
        "fit_and_predict_seconds_by_method": per_method,
        "ratio_evaluation_over_cold_encode": round(total / cold, 2),
        "target_ratio<=2": total / cold <= 2,
        "accuracy_mean_low_high": acc,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(
        json.dumps(
            {
                k: out[k]
                for k in (
                    "cold_encode_seconds",
                    "evaluation_seconds",
                    "ratio_evaluation_over_cold_encode",
                    "fit_and_predict_seconds_by_method",
                )
            }
        )
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
