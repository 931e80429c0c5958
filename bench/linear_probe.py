"""Frozen-encoder methods (linear-probe, simpleshot, protonet) vs the from-scratch baseline
on Fashion-MNIST (10 classes, Lite0) and the fortunes quotes (6 categories, MiniLM): the
same seeded draws for every method, 95% intervals.

    .venv/bin/python bench/linear_probe.py      # -> bench/results/linear_probe.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from fewshot_common import RESULTS, provenance, write

SEED = 0
SHOTS = [1, 8, 20]
REPEATS = 5
METHODS = ["linear-probe", "simpleshot", "protonet"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=RESULTS / "linear_probe.json")
    args = ap.parse_args()
    from scarce.data.public import fashion_mnist, fortunes
    from scarce.data.types import Inputs, LabeledSet
    from scarce.encoders import create_encoder
    from scarce.evaluation.runner import evaluate_sets

    g = np.random.default_rng(SEED)
    x, y = fashion_mnist("train")
    xt, yt = fashion_mnist("test")
    classes = tuple(str(c) for c in range(10))
    pi, ti = g.choice(len(x), 3000, replace=False), g.choice(len(xt), 1000, replace=False)
    sets = {
        "fashion-mnist": (
            LabeledSet(Inputs.from_images(list(x[pi])), y[pi], classes, "fashion-mnist train"),
            LabeledSet(Inputs.from_images(list(xt[ti])), yt[ti], classes, "fashion-mnist test"),
            "efficientnet-lite0",
        )
    }
    texts, labels = fortunes()
    tc = tuple(sorted(set(labels)))
    ty = np.array([tc.index(lab) for lab in labels])
    test_idx = np.concatenate(
        [g.choice(np.flatnonzero(ty == c), 50, replace=False) for c in range(len(tc))]
    )
    rest = np.setdiff1d(np.arange(len(ty)), test_idx)
    sets["fortunes"] = (
        LabeledSet(Inputs.from_texts([texts[i] for i in rest]), ty[rest], tc, "fortunes pool"),
        LabeledSet(
            Inputs.from_texts([texts[i] for i in test_idx]),
            ty[test_idx],
            tc,
            "fortunes test (50 per class)",
        ),
        "minilm-l6",
    )
    out = {
        **provenance(SEED),
        "shots": SHOTS,
        "repeats": REPEATS,
        "results": {},
    }
    for name, (pool, test, backbone) in sets.items():
        t = time.perf_counter()
        res = evaluate_sets(
            pool,
            methods=METHODS,
            encoder=create_encoder(backbone),
            test=test,
            shots=SHOTS,
            repeats=REPEATS,
            seed=SEED,
            jobs=2,
        )
        rows = {}
        for s in res["summary"]:
            if s["metric"] == "accuracy":
                rows[f"{s['method']}@{s['shots']}"] = [
                    round(s[k], 4) for k in ("mean", "low", "high")
                ]
        for p in res["paired"]:
            if p["metric"] == "accuracy":
                rows[f"{p['method']}-gain@{p['shots']}"] = [
                    round(p[k], 4) for k in ("mean", "low", "high")
                ]
        out["results"][name] = {
            "backbone": backbone,
            "classes": len(pool.classes),
            "test_size": len(test),
            "accuracy_mean_low_high": rows,
            "seconds": round(time.perf_counter() - t, 1),
        }
        print(name, json.dumps(out["results"][name]), flush=True)
    write(args.out, out)


if __name__ == "__main__":
    main()
