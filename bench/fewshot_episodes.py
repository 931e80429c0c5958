"""Episodic few-shot benchmark (N-way K-shot, base / novel classes): our meta-learning and
metric methods against the easyfsl library on exactly the same episodes and frozen features.

Data (novel = the classes episodes are drawn from; base = other classes to meta-train on)
- fortunes (text, MiniLM-L6): Debian fortunes quotes (scarce.data.public.fortunes, 10-400
  characters, duplicates dropped). Novel: computers, politics, science, work, men-women,
  startrek, 60 quotes each (seeded sample, rng([seed, 11])). Base: every other category file
  in /usr/share/games/fortunes/*.u8 with >= 40 quotes, up to 100 each (seeded, rng([seed, 12])).
- digits (image, EfficientNet-Lite0): sklearn load_digits (1,797 8x8 images, scaled
  (images * 16).clip(0, 255) to uint8). Base: digits 0-4 (all images), novel: digits 5-9.
- fashion (image, EfficientNet-Lite0; --fashion): Fashion-MNIST official training images,
  base classes 0-4 and novel classes 5-9, 100 per class (seeded, rng([seed, 13])).

Protocol: evaluate_sets(protocol="episodes") with ways=5, queries=15, shots=(1, 5),
--episodes per K (600 by default), seed 0, base=the base set. The episodes are
scarce.data.episodes.sample_episodes(pool.y, pool.classes, ways, K, queries, episodes, seed) for
each K (what episode_splits draws); the script records the splits evaluate_sets drew and
checks, index by index, that recomputing them gives the same support and query sets.

Methods
- ours (evaluate_sets, default configs): baseline (TF-IDF / pixel model, always added),
  linear-probe (a new linear head trained on the support set's frozen features: Chen et
  al.'s "Baseline", A Closer Look at Few-shot Classification, 2019; the encoder fine-tuned
  too is `finetune` below), protonet, simpleshot, maml, reptile, and protonet / simpleshot
  once more without base data (the "(no base)" rows); all but the baseline read frozen
  encoder features, and with base data protonet/maml/reptile meta-train a small adapter block
  and every episodic method centres each task halfway between the base mean and its support
  mean. Meta-training seconds (once per data set) are reported separately.
- easyfsl (pip install --no-deps easyfsl): PrototypicalNetworks and SimpleShot with
  backbone=torch.nn.Identity() on the same frozen features (enc.encode of the pool, float32
  tensors): process_support_set(support, labels) then forward(queries) per episode. SimpleShot
  twice: easyfsl's defaults (cosine to prototypes, no centring) and "cl2n" (feature_centering =
  the base set's mean feature, feature_normalization=2, as in the SimpleShot paper).
  easyfsl.methods/__init__ imports modules that need torchvision (not installed, and not
  installable without changing torch), so the three torchvision-free files are imported
  without running that __init__ (see import_easyfsl).
- finetune on the support set (--finetune-episodes N, 100 by default): our `finetune`
  method (its default, shot-dependent config) fitted on each support set of the
  first N episodes per K, the comparison every few-shot paper makes; reported with its
  interval and as paired differences against every other method on the same N episodes.
- learn2learn: checked with pip install --dry-run; recorded as not installable if it would
  change torch (it is not installed).

Accuracy: mean over episodes, 95% interval = mean +- 1.96 * std / sqrt(n) (std with ddof=1).
Seconds per episode: fit + predict (ours: from the runs; easyfsl: process_support_set +
forward), features already encoded. Threads: torch, BLAS and ONNX Runtime pinned to --threads
(1 by default; ONNX Runtime's session is patched to it, it otherwise takes every core).

    .venv/bin/python bench/fewshot_episodes.py           # -> bench/results/fewshot_episodes.json
    .venv/bin/python bench/fewshot_episodes.py --quick         # 50 episodes, *_quick.json
    .venv/bin/python bench/fewshot_episodes.py --episodes 300 --fashion
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import collections
import contextlib
import importlib
import importlib.metadata as md
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from fewshot_common import RESULTS, Clock, limit_threads, provenance, write

SEED = 0
WAYS, QUERIES = 5, 15
NOVEL_FORTUNES = ("computers", "politics", "science", "work", "men-women", "startrek")
OURS = ["linear-probe", "protonet", "simpleshot", "maml", "reptile"]
PEERS = ["easyfsl-protonet", "easyfsl-simpleshot", "easyfsl-simpleshot-cl2n"]


# ---- data ---------------------------------------------------------------------------------


def fortunes_sets(novel_n: int, base_min: int, base_max: int) -> tuple[Any, Any, dict]:
    from scarce.data.public import FORTUNES_DIR, fortunes
    from scarce.data.types import Inputs, LabeledSet

    cats = sorted(p.name[:-3] for p in FORTUNES_DIR.glob("*.u8"))
    texts, labels = fortunes(tuple(cats))
    count = collections.Counter(texts)  # a quote in two files (or twice) would leak
    keep = [i for i, t in enumerate(texts) if count[t] == 1]
    texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    by_cat: dict[str, list[int]] = collections.defaultdict(list)
    for i, lab in enumerate(labels):
        by_cat[lab].append(i)
    gn, gb = np.random.default_rng([SEED, 11]), np.random.default_rng([SEED, 12])
    novel_idx, novel_y = [], []
    for c, cat in enumerate(NOVEL_FORTUNES):
        pick = np.sort(gn.choice(by_cat[cat], novel_n, replace=False))
        novel_idx += list(pick)
        novel_y += [c] * len(pick)
    base_cats = tuple(
        c for c in cats if c not in NOVEL_FORTUNES and len(by_cat.get(c, [])) >= base_min
    )
    base_idx, base_y = [], []
    for c, cat in enumerate(base_cats):
        idx = by_cat[cat]
        pick = np.sort(gb.choice(idx, min(base_max, len(idx)), replace=False))
        base_idx += list(pick)
        base_y += [c] * len(pick)
    pool = LabeledSet(
        Inputs.from_texts([texts[i] for i in novel_idx]),
        np.array(novel_y, np.int64),
        NOVEL_FORTUNES,
        "fortunes (novel categories)",
    )
    base = LabeledSet(
        Inputs.from_texts([texts[i] for i in base_idx]),
        np.array(base_y, np.int64),
        base_cats,
        "fortunes (base categories)",
    )
    skipped = sorted(c for c in cats if c not in NOVEL_FORTUNES and c not in base_cats)
    info = {
        "source": "scarce.data.public.fortunes over /usr/share/games/fortunes/*.u8 (10-400 "
        "characters, quotes occurring more than once dropped)",
        "novel": f"{list(NOVEL_FORTUNES)}, {novel_n} quotes each, rng([{SEED}, 11]) sample",
        "base": f"every other category with >= {base_min} quotes, up to {base_max} each, "
        f"rng([{SEED}, 12]) sample",
        "base_categories_skipped_too_few": skipped,
    }
    return pool, base, info


def digits_sets() -> tuple[Any, Any, dict]:
    from sklearn.datasets import load_digits

    from scarce.data.types import Inputs, LabeledSet

    d = load_digits()
    imgs = (d.images * 16).clip(0, 255).astype(np.uint8)
    y = d.target.astype(np.int64)
    b, n = y < 5, y >= 5
    base = LabeledSet(Inputs.from_images(list(imgs[b])), y[b], tuple("01234"), "sklearn digits 0-4")
    pool = LabeledSet(
        Inputs.from_images(list(imgs[n])), y[n] - 5, tuple("56789"), "sklearn digits 5-9"
    )
    info = {
        "source": "sklearn.datasets.load_digits (8x8, scaled (images*16).clip(0,255) uint8)",
        "novel": "digits 5-9, every image",
        "base": "digits 0-4, every image",
    }
    return pool, base, info


def fashion_sets(per_class: int) -> tuple[Any, Any, dict]:
    from scarce.data.public import FASHION_CLASSES, fashion_mnist
    from scarce.data.types import Inputs, LabeledSet

    x, y = fashion_mnist("train")
    g = np.random.default_rng([SEED, 13])
    idx = {
        c: np.sort(g.choice(np.flatnonzero(y == c), per_class, replace=False)) for c in range(10)
    }

    def make(cs: range, name: str) -> Any:
        sel = np.concatenate([idx[c] for c in cs])
        return LabeledSet(
            Inputs.from_images(list(x[sel])),
            y[sel] - cs.start,
            tuple(FASHION_CLASSES[c] for c in cs),
            name,
        )

    info = {
        "source": "scarce.data.public.fashion_mnist('train') (dataset-fashion-mnist)",
        "novel": f"classes 5-9, {per_class} per class, rng([{SEED}, 13]) sample",
        "base": f"classes 0-4, {per_class} per class, same generator",
    }
    return make(range(5, 10), "fashion-mnist 5-9"), make(range(0, 5), "fashion-mnist 0-4"), info


def data_set(name: str) -> tuple[Any, Any, dict, str]:
    """(novel pool, base set, description, encoder name) of one benchmark data set."""
    if name == "fortunes":
        return (*fortunes_sets(60, 40, 100), "minilm-l6")
    if name == "digits":
        return (*digits_sets(), "efficientnet-lite0")
    if name == "fashion":
        return (*fashion_sets(100), "efficientnet-lite0")
    raise SystemExit(f"unknown data set {name!r}")


# ---- peers ----------------------------------------------------------------------------------


def import_easyfsl() -> tuple[Any, Any, str]:
    """(PrototypicalNetworks, SimpleShot, how). easyfsl.methods/__init__ imports every method,
    some of which import easyfsl.modules (torchvision); when that fails, load the three files
    these two classes need (few_shot_classifier, utils, and theirs) without the __init__."""
    try:
        from easyfsl.methods import PrototypicalNetworks, SimpleShot

        return PrototypicalNetworks, SimpleShot, "from easyfsl.methods import ..."
    except ImportError as e:
        why = f"{type(e).__name__}: {e}"
    import easyfsl

    for k in [k for k in sys.modules if k.startswith("easyfsl.methods")]:
        del sys.modules[k]  # a half-imported package from the failed attempt
    pkg = types.ModuleType("easyfsl.methods")
    pkg.__path__ = [str(Path(easyfsl.__file__).parent / "methods")]
    sys.modules["easyfsl.methods"] = pkg
    pn = importlib.import_module("easyfsl.methods.prototypical_networks")
    ss = importlib.import_module("easyfsl.methods.simple_shot")
    how = (
        f"`from easyfsl.methods import ...` fails ({why}); imported "
        "easyfsl.methods.prototypical_networks / simple_shot / few_shot_classifier / utils "
        "directly (their code needs only torch), skipping easyfsl/methods/__init__.py"
    )
    return pn.PrototypicalNetworks, ss.SimpleShot, how


def pip_dry_run(spec: str) -> dict[str, Any]:
    """What `pip install --dry-run spec` would install (nothing is installed)."""
    t = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", spec],
        capture_output=True,
        text=True,
        timeout=600,
    )
    would = next((ln for ln in p.stdout.splitlines() if ln.startswith("Would install")), "")
    pkgs = would.removeprefix("Would install ").split()
    return {
        "spec": spec,
        "returncode": p.returncode,
        "would_install": pkgs,
        "error_tail": p.stderr.strip().splitlines()[-5:] if p.returncode else [],
        "seconds": round(time.perf_counter() - t, 1),
    }


def learn2learn_status(skip: bool) -> dict[str, Any]:
    if skip:
        return {"status": "not checked (--skip-dry-run)"}
    try:
        return {"status": f"installed {md.version('learn2learn')}"}
    except md.PackageNotFoundError:
        pass
    r = pip_dry_run("learn2learn==0.2.0")
    torch_now = md.version("torch")
    changes = [
        p
        for p in r["would_install"]
        if p.split("-")[0].lower() in ("torch", "torchvision", "numpy", "triton")
        or p.lower().startswith("nvidia-")
    ]
    if r["returncode"]:
        status = f"not installable: pip --dry-run failed: {' '.join(r['error_tail'])[-400:]}"
    elif any(p.startswith("torch-") for p in r["would_install"]):
        shown = ", ".join(p for p in changes if not p.lower().startswith("nvidia-"))
        n_nv = sum(p.lower().startswith("nvidia-") for p in changes)
        status = (
            f"not installable: it would replace torch {torch_now} ({shown}, and {n_nv} nvidia "
            "CUDA wheels); not installed"
        )
    else:
        status = "installable without touching torch (not installed by this script)"
    return {"status": status, "dry_run": r}


def easyfsl_install_note() -> dict[str, Any]:
    try:
        v = md.version("easyfsl")
    except md.PackageNotFoundError:
        return {"installed": False}
    reqs = md.requires("easyfsl") or []
    return {
        "installed": v,
        "install": "pip install --no-deps easyfsl (plain `pip install easyfsl` would replace "
        "torch with a CUDA build and add torchvision)",
        "declared_requirements": reqs,
    }


@contextlib.contextmanager
def recorded_episode_splits() -> Iterator[list[Any]]:
    import scarce.evaluation.runner as runner

    seen: list[Any] = []
    orig = runner.episode_splits

    def spy(*a: Any, **k: Any) -> Any:
        out = orig(*a, **k)
        seen.append(out)
        return out

    runner.episode_splits = spy
    try:
        yield seen
    finally:
        runner.episode_splits = orig


def one_thread_onnx(n: int) -> None:
    """ONNX Runtime sessions take os.cpu_count() intra-op threads (scarce/encoders/onnx.py);
    pin them to n like torch and BLAS."""
    import scarce.encoders.onnx as O

    def ort_backend(path: Path) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = n
        opts.inter_op_num_threads = n
        opts.log_severity_level = 3
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]

        def run(batch: dict[str, np.ndarray]) -> np.ndarray:
            return sess.run(None, {k: batch[k] for k in names})[0]

        return run

    O.ort_backend = ort_backend


# ---- one data set -----------------------------------------------------------------------------


def episode_eval(
    pool: Any, enc: Any, methods: list[str], shots: list[int], n: int, **kw: Any
) -> Any:
    from scarce.evaluation.runner import evaluate_sets

    return evaluate_sets(
        pool,
        methods=methods,
        encoder=enc,
        protocol="episodes",
        shots=shots,
        ways=WAYS,
        queries=QUERIES,
        episodes=n,
        seed=SEED,
        **kw,
    )


def as_runs(res: dict[str, Any], suffix: str = "", keep: set[str] | None = None) -> list[dict]:
    """evaluate_sets' runs as this benchmark's rows (method names + suffix)."""
    return [
        {
            "method": r["method"] + suffix,
            "shots": r["shots"],
            "episode": r["repeat"],
            "accuracy": r["metrics"]["accuracy"],
            "seconds": r["fit_seconds"] + r["predict_seconds"],
        }
        for r in res["runs"]
        if keep is None or r["method"] in keep
    ]


def run_dataset(
    name: str,
    pool: Any,
    base: Any,
    enc: Any,
    shots: list[int],
    episodes: int,
    clock: Clock,
    finetune_episodes: int = 0,
) -> dict[str, Any]:
    import torch

    from scarce.data.episodes import sample_episodes

    t = time.perf_counter()
    feats = enc.encode(pool.inputs, desc=f"encoding {name} novel")
    base_feats = enc.encode(base.inputs, desc=f"encoding {name} base")
    encode_s = time.perf_counter() - t
    print(f"[{clock()}s] {name}: encoded {len(pool)} + {len(base)} in {encode_s:.1f}s", flush=True)

    t = time.perf_counter()
    with recorded_episode_splits() as seen:
        res = episode_eval(pool, enc, OURS, shots, episodes, base=base)
    ours_s = time.perf_counter() - t
    print(f"[{clock()}s] {name}: evaluate_sets took {ours_s:.1f}s", flush=True)
    assert len(seen) == 1, "evaluate_sets drew its episodes more than once"
    used = seen[0]

    # the same episodes, recomputed as the brief says, checked against what evaluate_sets used
    eps = {
        k: sample_episodes(pool.y, pool.classes, WAYS, k, QUERIES, episodes, SEED) for k in shots
    }
    mine = [(k, ep) for k in shots for ep in eps[k]]
    assert len(mine) == len(used)
    for (k, ep), sp in zip(mine, used, strict=True):
        assert sp.shots == k
        assert sp.repeat == ep.index
        assert np.array_equal(ep.support, sp.train), f"K={k} episode {ep.index}: support differs"
        assert np.array_equal(ep.query, sp.test), f"K={k} episode {ep.index}: query differs"
        assert np.array_equal(ep.classes, sp.classes)

    # the same two methods without base data: no adapter, the very computation easyfsl does
    # with an identity backbone (the per-episode speed comparison like for like)
    plain = episode_eval(pool, enc, ["protonet", "simpleshot"], shots, episodes)

    ProtoNets, SimpleShotCls, how = import_easyfsl()
    ft = torch.from_numpy(np.asarray(feats, np.float32))
    mean = torch.from_numpy(np.asarray(base_feats, np.float32).mean(0))
    peers = {
        "easyfsl-protonet": lambda: ProtoNets(backbone=torch.nn.Identity()),
        "easyfsl-simpleshot": lambda: SimpleShotCls(backbone=torch.nn.Identity()),
        "easyfsl-simpleshot-cl2n": lambda: SimpleShotCls(
            backbone=torch.nn.Identity(), feature_centering=mean, feature_normalization=2
        ),
    }
    runs = as_runs(res)
    runs += as_runs(plain, " (no base)", {"protonet", "simpleshot"})
    t = time.perf_counter()
    remap = np.full(len(pool.classes), -1, np.int64)
    with torch.inference_mode():
        for pname, make in peers.items():
            model = make().eval()
            for k in shots:
                for ep in eps[k]:
                    remap[:] = -1
                    remap[ep.classes] = np.arange(WAYS)  # as scarce's restrict() relabels
                    ys = torch.from_numpy(remap[pool.y[ep.support]])
                    yq = remap[pool.y[ep.query]]
                    assert (ys >= 0).all()
                    assert (yq >= 0).all()
                    t1 = time.perf_counter()
                    model.process_support_set(ft[ep.support], ys)
                    scores = model(ft[ep.query])
                    t2 = time.perf_counter()
                    acc = float((scores.argmax(1).numpy() == yq).mean())
                    runs.append(
                        {
                            "method": pname,
                            "shots": k,
                            "episode": ep.index,
                            "accuracy": acc,
                            "seconds": t2 - t1,
                        }
                    )
    peer_s = time.perf_counter() - t
    print(f"[{clock()}s] {name}: easyfsl took {peer_s:.1f}s", flush=True)

    support_ft = None
    if finetune_episodes:
        # fine-tuning the encoder itself on each support set (Chen et al.'s baseline): seconds
        # per episode, so only the first episodes (episodes are seeded one by one: the first
        # n of a 600-episode draw are the same episodes)
        t = time.perf_counter()
        n_ft = min(finetune_episodes, episodes)
        ft_res = episode_eval(pool, enc, ["finetune"], shots, n_ft)
        ft_runs = as_runs(ft_res, keep={"finetune"})
        runs += ft_runs
        support_ft = {
            "episodes": n_ft,
            "seconds": round(time.perf_counter() - t, 1),
            "config": next(m["config"] for m in ft_res["methods"] if m["name"] == "finetune"),
            "paired_vs_ours": paired_on_first(ft_runs, runs, n_ft),
        }
        print(
            f"[{clock()}s] {name}: finetune on {n_ft} episodes per K took {support_ft['seconds']}s",
            flush=True,
        )

    meta = res.get("base", {}).get("meta_training", {})
    rows = rows_for(name, runs, meta)
    return {
        "pool": {
            "n": len(pool),
            "classes": list(pool.classes),
            "counts": pool.counts(),
            "sha256": pool.data_hash(),
        },
        "base": {
            "n": len(base),
            "classes": list(base.classes),
            "counts": base.counts(),
            "sha256": base.data_hash(),
        },
        "encoder": enc.spec.name,
        "feature_dim": int(ft.shape[1]),
        "encode_seconds": round(encode_s, 1),
        "evaluate_sets_seconds": round(ours_s, 1),
        "easyfsl_seconds": round(peer_s, 1),
        "easyfsl_import": how,
        "episodes_checked": f"{len(used)} splits evaluate_sets drew == sample_episodes("
        f"pool.y, pool.classes, {WAYS}, K, {QUERIES}, {episodes}, {SEED}) for K in {shots}",
        "meta_training": meta,
        "support_finetune": support_ft,
        "methods_ours": [
            {"name": m["name"], "description": m["description"], "config": m["config"]}
            for m in res["methods"]
        ],
        "rows": rows,
        "per_episode_accuracy": {
            f"{m}@K{k}": [
                round(r["accuracy"], 4)
                for r in sorted(
                    (r for r in runs if r["method"] == m and r["shots"] == k),
                    key=lambda r: r["episode"],
                )
            ]
            for m, k in dict.fromkeys((r["method"], r["shots"]) for r in runs)
        },
    }


def paired_on_first(
    ft_runs: list[dict[str, Any]], runs: list[dict[str, Any]], n: int
) -> list[dict[str, Any]]:
    """finetune minus each other method on the same first n episodes: mean and 95% interval
    of the paired per-episode differences."""
    out = []
    for k in sorted({r["shots"] for r in ft_runs}):
        ft = {r["episode"]: r["accuracy"] for r in ft_runs if r["shots"] == k}
        for m in dict.fromkeys(r["method"] for r in runs if r["method"] != "finetune"):
            other = {
                r["episode"]: r["accuracy"]
                for r in runs
                if r["method"] == m and r["shots"] == k and r["episode"] < n
            }
            common = sorted(set(ft) & set(other))
            d = np.array([ft[e] - other[e] for e in common])
            hw = 1.96 * float(d.std(ddof=1)) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            out.append(
                {
                    "shots": k,
                    "versus": m,
                    "episodes": len(d),
                    "finetune": round(float(np.mean([ft[e] for e in common])), 4),
                    "other": round(float(np.mean([other[e] for e in common])), 4),
                    "difference": round(float(d.mean()), 4),
                    "ci95_halfwidth": round(hw, 4),
                }
            )
    return out


def rows_for(data: str, runs: list[dict[str, Any]], meta: dict[str, Any]) -> list[dict]:
    order = list(dict.fromkeys(r["method"] for r in runs))
    keys = sorted(
        {(r["method"], r["shots"]) for r in runs}, key=lambda t: (t[1], order.index(t[0]))
    )
    out = []
    for m, k in keys:
        acc = np.array([r["accuracy"] for r in runs if r["method"] == m and r["shots"] == k])
        sec = np.array([r["seconds"] for r in runs if r["method"] == m and r["shots"] == k])
        n = len(acc)
        hw = 1.96 * float(acc.std(ddof=1)) / np.sqrt(n) if n > 1 else float("nan")
        out.append(
            {
                "data": data,
                "shots": k,
                "method": m,
                "episodes": n,
                "accuracy": round(float(acc.mean()), 4),
                "ci95_halfwidth": round(hw, 4),
                "accuracy_low": round(float(acc.mean()) - hw, 4),
                "accuracy_high": round(float(acc.mean()) + hw, 4),
                "seconds_per_episode": round(float(sec.mean()), 5),
                "meta_training_seconds": meta.get(m, {}).get("seconds"),
            }
        )
    return out


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| data | K | method | accuracy ± 95% | ms / episode (fit+predict) | meta-train s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        mt = r["meta_training_seconds"]
        lines.append(
            f"| {r['data']} | {r['shots']} | {r['method']} | {r['accuracy']:.3f} ± "
            f"{r['ci95_halfwidth']:.3f} | {1000 * r['seconds_per_episode']:.2f} | "
            f"{'' if mt is None else f'{mt:.1f}'} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=600)
    ap.add_argument("--shots", default="1,5")
    ap.add_argument("--data", default="fortunes,digits", help="fortunes, digits, fashion")
    ap.add_argument("--fashion", action="store_true", help="add fashion to --data")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="50 episodes")
    ap.add_argument("--skip-dry-run", action="store_true", help="skip the learn2learn check")
    ap.add_argument(
        "--finetune-episodes",
        type=int,
        default=100,
        help="fine-tune the encoder on the support set of the first N episodes per K "
        "(seconds per episode; 0 = skip)",
    )
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    if args.quick:
        args.episodes = 50
    out_path = Path(args.out or RESULTS / f"fewshot_episodes{'_quick' if args.quick else ''}.json")
    clock = Clock()
    shots = sorted({int(s) for s in args.shots.split(",")})
    data = [d.strip() for d in args.data.split(",") if d.strip()]
    if args.fashion and "fashion" not in data:
        data.append("fashion")

    threads = limit_threads(args.threads)
    if args.threads > 0:
        one_thread_onnx(args.threads)
    from scarce.encoders import create_encoder

    encoders: dict[str, Any] = {}
    out: dict[str, Any] = {
        **provenance(SEED, extra=("easyfsl", "learn2learn", "onnxruntime")),
        "quick": args.quick,
        "setup": {
            "protocol": f"{WAYS}-way K-shot {QUERIES}-query episodes, K in {shots}, "
            f"{args.episodes} episodes per K, seed {SEED}, same episodes for every method",
            "episodes": args.episodes,
            "shots": shots,
            "ways": WAYS,
            "queries": QUERIES,
            "threads": {**threads, "onnxruntime": args.threads or "default (every core)"},
            "ours": [
                "baseline (always added)",
                *OURS,
                "protonet (no base)",
                "simpleshot (no base)",
            ],
            "finetune_episodes": args.finetune_episodes,
            "ours_configs": "defaults; base = the data set's base classes",
            "peers": PEERS,
            "interval": "mean +- 1.96 * std(ddof=1) / sqrt(episodes)",
            "seconds": "per episode: fit + predict (ours, from evaluate_sets' runs) or "
            "process_support_set + forward (easyfsl); features pre-encoded for both; "
            "meta-training seconds (once per data set) separate",
        },
        "easyfsl": easyfsl_install_note(),
        "learn2learn": learn2learn_status(args.skip_dry_run),
        "data": {},
        "results": {},
    }
    print(f"[{clock()}s] learn2learn: {out['learn2learn']['status']}", flush=True)
    all_rows: list[dict[str, Any]] = []
    for d in data:
        pool, base, info, ename = data_set(d)
        if ename not in encoders:
            encoders[ename] = create_encoder(ename)
            encoders[ename].backend()
        print(
            f"[{clock()}s] {d}: novel {len(pool)}, base {len(base)} ({len(base.classes)} classes)",
            flush=True,
        )
        out["data"][d] = info
        res = run_dataset(
            d, pool, base, encoders[ename], shots, args.episodes, clock, args.finetune_episodes
        )
        out["results"][d] = res
        all_rows += res["rows"]
        out["rows"] = all_rows
        out["table"] = table(all_rows)
        out["elapsed_seconds"] = clock()
        write(out_path, out)  # after every data set: a partial result survives a stop
        print("\n".join(table(res["rows"])), flush=True)
    print("\n".join(out["table"]))
    print(f"wrote {out_path} after {clock()}s")


if __name__ == "__main__":
    main()
