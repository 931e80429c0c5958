"""Our MAML in its classic setting: a Conv-4 network trained from scratch on base-class
episodes (Finn et al. 2017, Omniglot-style 28x28 grey images), beside the pretrained-encoder
numbers of bench/fewshot_episodes.py on exactly the same novel episodes.

Why: learn2learn, the peer the issue names, does not install here without replacing torch
(see fewshot_episodes.json, "learn2learn"), so our MAML is run on the network it was made for.

- Data: Fashion-MNIST, the pools of fewshot_episodes.py --fashion: novel classes 5-9, 100 per
  class (the 600 test episodes per K are sample_episodes(pool.y, ..., 5, K, 15, 600, seed 0),
  the same as there); base classes 0-4: the same 100 per class there, or more with
  --base-per-class (a network trained from scratch needs more than a pretrained one).
- Network: 4 x [conv 3x3 (--filters), batch norm (batch statistics, as in the paper's
  transductive setting), ReLU, max-pool 2]: 28 -> 14 -> 7 -> 3 -> 1, then a linear head
  whose rows start as one shared zero row (our MAML's start), written functionally.
- Method: scarce.methods.maml.MAML's own outer step (`updater`) and inner loop
  (`_episodic.inner_adapt`, torch.func, second order), with the network plugged in as
  `logits`; the Omniglot hyper-parameters of the paper: inner lr 0.4, 1 inner step in
  training, 3 at test, Adam 1e-3; meta-batch 4 (the paper: 32) for CPU time; one model per K
  trained on 5-way K-shot 15-query base episodes for --steps steps.
- Pixels scaled to [0, 1], per-image mean/std from the base set.

    .venv/bin/python bench/maml_conv4.py            # -> bench/results/maml_conv4.json
    .venv/bin/python bench/maml_conv4.py --steps 20 --episodes 30 --out /tmp/c4.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from fewshot_common import RESULTS, Clock, limit_threads, provenance, write

SEED = 0
WAYS, QUERIES = 5, 15


def conv4_init(filters: int, seed: int) -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    p: dict[str, Any] = {}
    cin = 1
    for i in range(4):
        fan_in = cin * 9
        p[f"c{i}"] = torch.randn(filters, cin, 3, 3, generator=g) * (2 / fan_in) ** 0.5
        p[f"cb{i}"] = torch.zeros(filters)
        p[f"g{i}"] = torch.ones(filters)
        p[f"be{i}"] = torch.zeros(filters)
        cin = filters
    p["w0"] = torch.zeros(filters)
    p["b0"] = torch.zeros(())
    # the shared head row stays zero: no meta-gradient reaches it (see _episodic.head_init)
    return {k: v.requires_grad_(k not in ("w0", "b0")) for k, v in p.items()}


def conv4_logits(fast: dict[str, Any], x: Any) -> Any:
    import torch.nn.functional as F

    h = x
    for i in range(4):
        h = F.conv2d(h, fast[f"c{i}"], fast[f"cb{i}"], padding=1)
        h = F.batch_norm(h, None, None, fast[f"g{i}"], fast[f"be{i}"], training=True)
        h = F.max_pool2d(F.relu(h), 2)
    return h.flatten(1) @ fast["w"].T + fast["b"]


def arrays(pool: Any) -> np.ndarray:
    return np.stack([np.asarray(im, np.float32) / 255.0 for im in pool.inputs.items])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shots", default="1,5")
    ap.add_argument("--steps", type=int, default=1000, help="meta-training steps per K")
    ap.add_argument("--episodes", type=int, default=600, help="novel test episodes per K")
    ap.add_argument("--filters", type=int, default=32)
    ap.add_argument("--base-per-class", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS / "maml_conv4.json"))
    args = ap.parse_args()

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from fewshot_episodes import fashion_sets

    from scarce.data.episodes import sample_episodes
    from scarce.data.public import fashion_mnist
    from scarce.methods import _episodic as E
    from scarce.methods.maml import MAML, MAMLConfig

    threads = limit_threads(args.threads)
    clock = Clock()
    torch.manual_seed(SEED)
    pool, base100, info = fashion_sets(100)
    xn = arrays(pool)
    x_all, y_all = fashion_mnist("train")
    # fashion_sets' own draw (rng([SEED, 13]), 100 per class), to add only images it left out
    g13 = np.random.default_rng([SEED, 13])
    taken = {c: g13.choice(np.flatnonzero(y_all == c), 100, replace=False) for c in range(10)}
    base_idx = np.concatenate([np.sort(taken[c]) for c in range(5)])
    assert np.array_equal(x_all[base_idx].astype(np.float32) / 255.0, arrays(base100))
    bx: list[np.ndarray] = [arrays(base100)]
    by: list[np.ndarray] = [base100.y]
    extra = max(0, args.base_per_class - 100)
    g = np.random.default_rng([SEED, 14])
    for c in range(5) if extra else ():
        cand = np.setdiff1d(np.flatnonzero(y_all == c), taken[c])
        pick = np.sort(g.choice(cand, extra, replace=False))
        bx.append(x_all[pick].astype(np.float32) / 255.0)
        by.append(np.full(extra, c))
    xb, yb = np.concatenate(bx), np.concatenate(by)
    mu, sd = float(xb.mean()), float(xb.std())
    tb = torch.from_numpy((xb - mu) / sd)[:, None]
    tn = torch.from_numpy((xn - mu) / sd)[:, None]
    shots = sorted({int(s) for s in args.shots.split(",")})
    cfg = MAMLConfig(
        inner_lr=0.4, inner_steps=1, test_steps=3, meta_lr=1e-3, meta_batch=4, first_order=False
    )
    results: dict[str, Any] = {}
    for k in shots:
        maml = MAML(cfg, None)  # type: ignore[arg-type]  # no encoder: the network is here
        maml.logits = conv4_logits  # type: ignore[method-assign]
        p = conv4_init(args.filters, SEED + k)
        update = maml.updater(p)
        train_eps = sample_episodes(
            yb, tuple("01234"), WAYS, k, QUERIES, args.steps * cfg.meta_batch, SEED + 100 + k
        )
        t = time.perf_counter()
        losses = []
        for step in range(args.steps):
            tasks = []
            for ep in train_eps[step * cfg.meta_batch : (step + 1) * cfg.meta_batch]:
                remap = np.full(5, -1)
                remap[ep.classes] = np.arange(WAYS)
                tasks.append(
                    (
                        tb[ep.support],
                        torch.from_numpy(remap[yb[ep.support]]),
                        tb[ep.query],
                        torch.from_numpy(remap[yb[ep.query]]),
                    )
                )
            losses.append(update(tasks, step))
            if (step + 1) % 100 == 0:
                print(
                    f"[{clock()}s] K={k} step {step + 1}: loss {np.mean(losses[-100:]):.3f}",
                    flush=True,
                )
        train_s = time.perf_counter() - t
        start = {n: v.detach() for n, v in p.items()}
        eps = sample_episodes(pool.y, pool.classes, WAYS, k, QUERIES, args.episodes, SEED)
        accs, secs = [], []
        for ep in eps:
            remap = np.full(len(pool.classes), -1)
            remap[ep.classes] = np.arange(WAYS)
            ys = torch.from_numpy(remap[pool.y[ep.support]])
            yq = remap[pool.y[ep.query]]
            t1 = time.perf_counter()
            fast = E.inner_adapt(
                start, tn[ep.support], ys, WAYS, cfg.test_steps, cfg.inner_lr, False, conv4_logits
            )
            with torch.no_grad():
                pred = conv4_logits(fast, tn[ep.query]).argmax(1).numpy()
            secs.append(time.perf_counter() - t1)
            accs.append(float((pred == yq).mean()))
        a = np.array(accs)
        hw = 1.96 * float(a.std(ddof=1)) / np.sqrt(len(a))
        results[f"K{k}"] = {
            "shots": k,
            "accuracy": round(float(a.mean()), 4),
            "ci95_halfwidth": round(hw, 4),
            "episodes": len(a),
            "meta_training_seconds": round(train_s, 1),
            "ms_per_episode": round(1000 * float(np.mean(secs)), 2),
            "loss_first_last_100": [
                round(float(np.mean(losses[:100])), 4),
                round(float(np.mean(losses[-100:])), 4),
            ],
            "per_episode_accuracy": [round(x, 4) for x in accs],
        }
        print(
            f"[{clock()}s] Conv-4 MAML K={k}: {a.mean():.3f} ± {hw:.3f} "
            f"(meta-training {train_s:.0f}s, {np.mean(secs) * 1000:.1f} ms/episode)",
            flush=True,
        )
    pretrained = Path(RESULTS / "fewshot_episodes.json")
    beside = {}
    if pretrained.exists():
        rows = json.loads(pretrained.read_text()).get("rows", [])
        beside = {
            f"{r['method']}@K{r['shots']}": [r["accuracy"], r["ci95_halfwidth"]]
            for r in rows
            if r["data"] == "fashion"
        }
    out = {
        **provenance(SEED, threads),
        "setup": {
            "network": f"Conv-4, {args.filters} filters, batch-norm on batch statistics",
            "maml": {
                "inner_lr": cfg.inner_lr,
                "inner_steps": cfg.inner_steps,
                "test_steps": cfg.test_steps,
                "meta_lr": cfg.meta_lr,
                "meta_batch": cfg.meta_batch,
                "second_order": not cfg.first_order,
                "steps": args.steps,
            },
            "novel": info["novel"],
            "base": f"classes 0-4: {info['base']}, plus {extra} more per class "
            f"(rng([{SEED}, 14])), {len(yb)} in all",
            "episodes": f"{WAYS}-way K-shot {QUERIES}-query, {args.episodes} per K, the same "
            "as fewshot_episodes.py --fashion",
        },
        "results": results,
        "pretrained_lite0_fashion_same_episodes": beside,
        "elapsed_seconds": clock(),
    }
    write(Path(args.out), out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
