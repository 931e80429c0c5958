"""Where finetune's shot-count defaults come from: a small grid of finetune settings against
the linear probe on the same K-shot draws, per data set and K.

Each grid entry is a name and a finetune config (JSON); `default` is the config a user gets
with no flags. The draws, data and test sets are those of bench/fewshot_image.py (fmnist) and
bench/fewshot_text.py (fortunes).

    .venv/bin/python bench/finetune_sweep.py --data fmnist --shots 20 --repeats 3 \
        --grid '{"default": {}, "lr1e-3": {"lr": 0.001}}'
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from fewshot_common import RESULTS, Clock, limit_threads, provenance, write

SEED = 0


def data(name: str, test_n: int) -> tuple[Any, Any, str]:
    if name == "fmnist":
        from fewshot_image import fashion_sets

        pool, test = fashion_sets(3000, test_n)
        return pool, test, "efficientnet-lite0"
    if name == "fortunes":
        from fewshot_text import fortunes_sets

        pool, test, _ = fortunes_sets(test_n // 6)
        return pool, test, "minilm-l6"
    raise SystemExit(f"unknown --data {name!r}: fmnist or fortunes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="fmnist")
    ap.add_argument("--shots", default="20")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--test", type=int, default=500)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--grid", required=True, help="JSON: {name: finetune config}")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    clock = Clock()
    from scarce.encoders import create_encoder
    from scarce.evaluation.runner import evaluate_sets

    threads = limit_threads(args.threads)
    grid: dict[str, dict[str, Any]] = json.loads(args.grid)
    shots = sorted({int(s) for s in args.shots.split(",")})
    pool, test, enc_name = data(args.data, args.test)
    enc = create_encoder(enc_name)
    rows: list[dict[str, Any]] = []
    lp = evaluate_sets(
        pool,
        methods=["linear-probe"],
        encoder=enc,
        test=test,
        shots=shots,
        repeats=args.repeats,
        seed=SEED,
    )
    for run in lp["runs"]:
        if run["method"] == "linear-probe":
            rows.append(
                {
                    "setting": "linear-probe",
                    "shots": run["shots"],
                    "repeat": run["repeat"],
                    "accuracy": run["metrics"]["accuracy"],
                    "seconds": run["fit_seconds"] + run["predict_seconds"],
                }
            )
    for name, cfg in grid.items():
        t = time.perf_counter()
        res = evaluate_sets(
            pool,
            methods=["finetune"],
            encoder=enc,
            test=test,
            shots=shots,
            repeats=args.repeats,
            seed=SEED,
            configs={"finetune": cfg},
        )
        for run in res["runs"]:
            if run["method"] == "finetune":
                rows.append(
                    {
                        "setting": name,
                        "config": cfg,
                        "shots": run["shots"],
                        "repeat": run["repeat"],
                        "accuracy": run["metrics"]["accuracy"],
                        "seconds": run["fit_seconds"] + run["predict_seconds"],
                    }
                )
        done = [r for r in rows if r["setting"] == name]
        print(
            f"[{clock()}s] {name}: "
            + ", ".join(
                f"K={k} {sum(r['accuracy'] for r in done if r['shots'] == k) / args.repeats:.4f}"
                for k in shots
            )
            + f" ({time.perf_counter() - t:.0f}s)",
            flush=True,
        )
    summary = {}
    for r in rows:
        s = summary.setdefault(f"{r['setting']} K={r['shots']}", {"acc": [], "sec": []})
        s["acc"].append(r["accuracy"])
        s["sec"].append(r["seconds"])
    table = {
        k: {
            "accuracy": round(sum(v["acc"]) / len(v["acc"]), 4),
            "seconds_per_fit": round(sum(v["sec"]) / len(v["sec"]), 1),
        }
        for k, v in summary.items()
    }
    for k, v in table.items():
        print(f"{k:40s} {v['accuracy']:.4f} {v['seconds_per_fit']:7.1f}s")
    out = Path(args.out or RESULTS / f"finetune_sweep_{args.data}.json")
    write(
        out,
        {
            **provenance(SEED, threads),
            "data": args.data,
            "pool_sha256": pool.data_hash(),
            "test_sha256": test.data_hash(),
            "summary": table,
            "rows": rows,
            "elapsed_seconds": clock(),
        },
    )


if __name__ == "__main__":
    main()
