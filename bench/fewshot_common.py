"""Shared pieces of the few-shot benchmarks (bench/fewshot_text.py, bench/fewshot_image.py):
method selection, a cold embedding cache, the draws evaluate_sets used, and the per-method
rows (mean, 95% t interval over repeats, seconds).
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
# Methods that read the frozen embeddings evaluate_sets encodes up front (so their fit and
# predict seconds leave the encoding out); they are charged the encode time of their examples.
# finetune and setfit run the network themselves, inside fit and predict.
FROZEN_ENCODER_METHODS = "linear-probe,simpleshot,protonet,knn"


def machine() -> dict[str, Any]:
    load = os.getloadavg()[0]
    busy = load > 1.0
    if busy:
        print(
            f"WARNING: load average {load:.1f} at start: other jobs share the cores, so the "
            "seconds (torch's above all) are inflated; compare them only within this run",
            flush=True,
        )
    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "load_avg_1m_at_start": round(load, 2),
        "busy_at_start": busy,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
    }


def versions(extra: Sequence[str] = ()) -> dict[str, str]:
    from scarce.core.environment import library_versions

    out = library_versions()
    for name in extra:
        with contextlib.suppress(md.PackageNotFoundError):
            out[name] = md.version(name)
    return out


def provenance(
    seed: int | None = None, threads: dict[str, Any] | None = None, extra: Sequence[str] = ()
) -> dict[str, Any]:
    """What every result file starts with: the machine, the library versions (plus `extra`
    packages), the command that made it, and its seed and thread settings when given."""
    out: dict[str, Any] = {
        "machine": machine(),
        "versions": versions(extra),
        "command": f"bench/{Path(sys.argv[0]).name} " + " ".join(sys.argv[1:]),
    }
    if seed is not None:
        out["seed"] = seed
    if threads is not None:
        out["threads"] = threads
    return out


def select_methods(requested: str, modality: str) -> tuple[list[str], list[str]]:
    """The requested names that are registered for `modality`; the rest, with why, are
    printed and returned as notes (another engineer may not have added them yet)."""
    from scarce.methods import methods as registry

    ok, notes = [], []
    for name in dict.fromkeys(n.strip() for n in requested.split(",") if n.strip()):
        if name not in registry:
            notes.append(f"{name}: not registered (yet) - skipped")
        elif modality not in registry.get(name).modalities:
            notes.append(f"{name}: does not take {modality} data - skipped")
        elif registry.get(name).needs_unlabeled:
            notes.append(f"{name}: needs unlabeled data - skipped")
        else:
            ok.append(name)
    for n in notes:
        print(f"note: {n}", flush=True)
    if "baseline" not in ok:
        notes.append("baseline: evaluate_sets always adds it")
    return ok, notes


@contextlib.contextmanager
def cold_cache(enabled: bool) -> Iterator[str]:
    """An empty embedding cache for the block, so evaluate_sets' encode time is a real cold
    encode (charged to the frozen-encoder methods). The ONNX exports are copied over so the
    one-time export is not timed; call encoder.backend() before entering."""
    if not enabled:
        yield "warm (persistent cache)"
        return
    from scarce.core.environment import cache_dir
    from scarce.encoders.cache import EmbeddingCache

    persistent = cache_dir()
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"scarce-fewshot-{os.getpid()}"
    if (persistent / "onnx").exists():
        shutil.copytree(persistent / "onnx", work / "onnx", dirs_exist_ok=True)
    old = os.environ.get("SCARCE_CACHE_DIR")
    os.environ["SCARCE_CACHE_DIR"] = str(work)
    EmbeddingCache._instances.clear()
    try:
        yield "cold (fresh temporary cache)"
    finally:
        if old is None:
            os.environ.pop("SCARCE_CACHE_DIR", None)
        else:
            os.environ["SCARCE_CACHE_DIR"] = old
        EmbeddingCache._instances.clear()
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def recorded_splits() -> Iterator[list[Any]]:
    """Record the splits evaluate_sets draws (it calls runner.kshot_splits), so a peer outside
    scarce can be checked to train on exactly the same examples."""
    import scarce.evaluation.runner as runner

    seen: list[Any] = []
    orig = runner.kshot_splits

    def spy(*a: Any, **k: Any) -> Any:
        out = orig(*a, **k)
        seen.append(out)
        return out

    runner.kshot_splits = spy
    try:
        yield seen
    finally:
        runner.kshot_splits = orig


def run_ours(
    pool: Any,
    test: Any,
    names: list[str],
    encoder: Any,
    shots: list[int],
    repeats: int,
    seed: int,
    jobs: int,
    configs: dict[str, dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], list[Any]]:
    """evaluate_sets on our methods; returns its result and the splits it used, after checking
    that kshot_splits called with the same arguments reproduces them."""
    from scarce.evaluation.protocols import kshot_splits
    from scarce.evaluation.runner import evaluate_sets

    with recorded_splits() as seen:
        res = evaluate_sets(
            pool,
            methods=names,
            encoder=encoder,
            test=test,
            shots=shots,
            repeats=repeats,
            seed=seed,
            jobs=jobs,
            configs=configs,
        )
    assert len(seen) == 1, "evaluate_sets drew its splits more than once"
    mine = kshot_splits(pool, sorted(set(shots)), repeats, seed, True)
    assert [(s.shots, s.repeat) for s in mine] == [(s.shots, s.repeat) for s in seen[0]]
    for a, b in zip(mine, seen[0], strict=True):
        assert np.array_equal(a.train, b.train), f"draw K={a.shots} repeat={a.repeat} differs"
    return res, mine


def encode_rate(encoder: Any, pool: Any, test: Any, n: int = 256, seed: int = 0) -> float:
    """Seconds per example of a cache-free encode of a seeded sample of pool + test (the
    cost a frozen-encoder method pays to encode its train and test examples), measured
    whatever state the embedding cache is in."""
    g = np.random.default_rng([seed, 99])
    total = len(pool) + len(test)
    k_test = min(len(test), round(n * len(test) / total))
    k_pool = min(len(pool), n - k_test)
    secs = 0.0
    for s, k in ((pool, k_pool), (test, k_test)):
        if k:
            sub = s.inputs.subset(np.sort(g.choice(len(s), k, replace=False)))
            t = time.perf_counter()
            encoder.encode(sub, use_cache=False, desc="timing the encoder")
            secs += time.perf_counter() - t
    return secs / max(1, k_pool + k_test)


def rows_for(
    data: str,
    runs: list[dict[str, Any]],
    *,
    charge_per_item: dict[str, float],
) -> list[dict[str, Any]]:
    """One row per (method, K): accuracy and balanced accuracy (mean, 95% t interval over
    repeats) and seconds. `charge_per_item[method]` adds the encoder's seconds per example
    times (train + test examples) to each fit: a frozen-encoder method must encode them too."""
    from scarce.evaluation.intervals import interval

    out = []
    order = list(dict.fromkeys(r["method"] for r in runs))  # as run: baseline first
    keys = sorted(
        {(r["method"], r["shots"]) for r in runs}, key=lambda t: (t[1], order.index(t[0]))
    )
    for m, k in keys:
        rs = sorted((r for r in runs if r["method"] == m and r["shots"] == k), key=_rep)
        acc = interval([r["metrics"]["accuracy"] for r in rs], "t", 0.95)
        bal = interval([r["metrics"]["balanced_accuracy"] for r in rs], "t", 0.95)
        fit = [r["fit_seconds"] for r in rs]
        pred = [r["predict_seconds"] for r in rs]
        charge = [charge_per_item.get(m, 0.0) * (r["n_train"] + r["n_test"]) for r in rs]
        per_fit = float(np.mean(np.add(np.add(fit, pred), charge)))
        extra = {}
        if all("fit_cpu_seconds" in r for r in rs):
            cpu = [r["fit_cpu_seconds"] + r["predict_cpu_seconds"] for r in rs]
            extra["cpu_seconds_per_fit"] = round(float(np.mean(cpu)), 2)
        out.append(
            {
                "data": data,
                "shots": k,
                "method": m,
                "repeats": len(rs),
                "accuracy": round(acc.mean, 4),
                "accuracy_low": round(acc.low, 4),
                "accuracy_high": round(acc.high, 4),
                "accuracy_per_repeat": [round(r["metrics"]["accuracy"], 4) for r in rs],
                "balanced_accuracy": round(bal.mean, 4),
                "balanced_accuracy_low": round(bal.low, 4),
                "balanced_accuracy_high": round(bal.high, 4),
                "fit_seconds_per_fit": round(float(np.mean(fit)), 3),
                "predict_seconds_per_fit": round(float(np.mean(pred)), 3),
                "encode_charge_seconds_per_fit": round(float(np.mean(charge)), 3),
                "seconds_per_fit": round(per_fit, 3),
                "seconds_fit_predict_total": round(float(np.sum(fit) + np.sum(pred)), 2),
                "seconds_total_with_charge": round(per_fit * len(rs), 2),
                **extra,
            }
        )
    return out


def _rep(r: dict[str, Any]) -> int:
    return int(r["repeat"])


def table(rows: list[dict[str, Any]]) -> list[str]:
    head = (
        "| data | K | method | accuracy (95% CI) | balanced acc (95% CI) | fit+predict s/fit | "
        "+ encode s/fit | s total (fit+predict, all repeats) |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        hw = (r["accuracy_high"] - r["accuracy_low"]) / 2
        bhw = (r["balanced_accuracy_high"] - r["balanced_accuracy_low"]) / 2
        fp = r["fit_seconds_per_fit"] + r["predict_seconds_per_fit"]
        lines.append(
            f"| {r['data']} | {r['shots']} | {r['method']} | {r['accuracy']:.3f} ± {hw:.3f} | "
            f"{r['balanced_accuracy']:.3f} ± {bhw:.3f} | {fp:.2f} | "
            f"{r['encode_charge_seconds_per_fit']:.2f} | {r['seconds_fit_predict_total']:.1f} |"
        )
    return lines


def write(path: Path, out: dict[str, Any]) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=2, default=_jsonable))
    tmp.replace(path)


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


class Clock:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return round(time.perf_counter() - self.t0, 1)


def limit_threads(n: int) -> dict[str, Any]:
    """n > 0: torch and the BLAS/OpenMP pools use n threads for the whole run (ours and the
    peer alike). On a loaded machine, fewer torch threads than cores avoids OpenMP's
    oversubscription stalls (2 threads ran 3x slower than 1 with other jobs on 2 cores)."""
    import torch

    if n > 0:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(n)
        threadpool_limits(n)
    return {"requested": n or "library default", "torch": torch.get_num_threads()}
