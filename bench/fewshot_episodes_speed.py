"""Per-episode speed of our metric methods against easyfsl's, measured interleaved: for each
episode, every method's fit + predict runs back to back, in a random order, so that the
load of a shared machine falls on all of them alike (fewshot_episodes.py times ours inside
evaluate_sets and easyfsl afterwards, minutes apart).

Same data, episodes and frozen features as fewshot_episodes.py (600 5-way K-shot 15-query
episodes per K, seed 0). Ours: the method's fit on the support set and predict_proba on the
queries, through the encoder's in-memory feature lookup, exactly as evaluate_sets runs them
(restricting the pool to the episode is outside the clock for both). easyfsl:
process_support_set + forward on the same features as float32 tensors. With base data our
SimpleShot centres on the base set; protonet with base data also runs its meta-trained block
(where meta-training kept one), which easyfsl's identity backbone does not have.

    .venv/bin/python bench/fewshot_episodes_speed.py   # -> results/fewshot_episodes_speed.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from fewshot_common import RESULTS, Clock, limit_threads, provenance, write
from fewshot_episodes import (
    QUERIES,
    SEED,
    WAYS,
    data_set,
    import_easyfsl,
    one_thread_onnx,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="fortunes,digits,fashion")
    ap.add_argument("--episodes", type=int, default=600)
    ap.add_argument("--shots", default="1,5")
    ap.add_argument("--out", default=str(RESULTS / "fewshot_episodes_speed.json"))
    args = ap.parse_args()

    import torch

    import scarce.methods  # noqa: F401 - registers the methods
    from scarce.data.episodes import restrict, sample_episodes
    from scarce.encoders import create_encoder
    from scarce.methods.base import methods

    threads = limit_threads(1)
    one_thread_onnx(1)
    clock = Clock()
    ProtoNets, SimpleShotCls, how = import_easyfsl()
    shots = [int(s) for s in args.shots.split(",")]
    results: dict[str, Any] = {}
    for d in [s.strip() for s in args.data.split(",") if s.strip()]:
        pool, base, _, ename = data_set(d)
        enc = create_encoder(ename)
        with enc.memoized():
            feats = torch.from_numpy(enc.encode(pool.inputs))
            mean = torch.from_numpy(enc.encode(base.inputs).mean(0))
            ours: dict[str, Any] = {}
            for name in ("simpleshot", "protonet"):
                spec = methods.get(name)
                ours[f"{name} (no base)"] = spec.method(spec.config(), enc)
                with_base = spec.method(spec.config(), enc)
                with_base.meta_train(base, seed=SEED)
                ours[name] = with_base
            peers = {
                "easyfsl-protonet": ProtoNets(backbone=torch.nn.Identity()).eval(),
                "easyfsl-simpleshot": SimpleShotCls(backbone=torch.nn.Identity()).eval(),
                "easyfsl-simpleshot-cl2n": SimpleShotCls(
                    backbone=torch.nn.Identity(), feature_centering=mean, feature_normalization=2
                ).eval(),
            }
            names = [*ours, *peers]
            for k in shots:
                eps = sample_episodes(pool.y, pool.classes, WAYS, k, QUERIES, args.episodes, SEED)
                secs: dict[str, list[float]] = {n: [] for n in names}
                acc: dict[str, list[float]] = {n: [] for n in names}
                remap = np.full(len(pool.classes), -1, np.int64)
                order = np.random.default_rng([SEED, k])
                for ep in eps:
                    train = restrict(pool, ep.support, ep.classes)
                    test = restrict(pool, ep.query, ep.classes)
                    remap[:] = -1
                    remap[ep.classes] = np.arange(WAYS)
                    ys = torch.from_numpy(remap[pool.y[ep.support]])
                    fs, fq = feats[ep.support], feats[ep.query]
                    for j in order.permutation(len(names)):  # none always follows another
                        n = names[j]
                        t = time.perf_counter()
                        if n in ours:
                            pred = ours[n].fit(train, seed=SEED).predict_proba(test.inputs)
                            pred = pred.argmax(1)
                        else:
                            with torch.inference_mode():
                                peers[n].process_support_set(fs, ys)
                                pred = peers[n](fq).argmax(1).numpy()
                        secs[n].append(time.perf_counter() - t)
                        acc[n].append(float((pred == test.y).mean()))
                results[f"{d}@K{k}"] = {
                    n: {
                        "ms_median": round(1000 * float(np.median(secs[n])), 3),
                        "ms_mean": round(1000 * float(np.mean(secs[n])), 3),
                        "accuracy": round(float(np.mean(acc[n])), 4),
                    }
                    for n in names
                }
                print(f"[{clock()}s] {d} K={k}", flush=True)
                for n in names:
                    r = results[f"{d}@K{k}"][n]
                    print(f"  {n:26s} {r['ms_median']:7.3f} ms median  acc {r['accuracy']:.3f}")
    out = {
        **provenance(SEED, threads, ("easyfsl", "onnxruntime")),
        "easyfsl_import": how,
        "setup": f"{WAYS}-way K-shot {QUERIES}-query, {args.episodes} episodes per K, "
        "methods interleaved per episode in a random order (seeded)",
        "results": results,
        "elapsed_seconds": clock(),
    }
    write(Path(args.out), out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
