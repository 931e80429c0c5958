"""`--method auto`: choose a method (and backbone) by cross-validation inside the training
data only, within a time budget, and say why."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import numpy as np

from scarce.core.progress import OutOfTime, time_limit
from scarce.core.seeding import derive
from scarce.data.balance import class_weights
from scarce.data.splits import copy_groups, stratified_folds
from scarce.data.types import LabeledSet, Modality
from scarce.encoders import create_encoder, default_encoder, encoders
from scarce.encoders.base import caching
from scarce.evaluation import metrics as M
from scarce.methods import methods

log = logging.getLogger(__name__)

DEFAULT_BUDGET = 300.0
MAX_FOLDS = 5


def candidates(modality: Modality, backbone: str | None) -> list[tuple[str, str | None]]:
    """(method, backbone) pairs that suit the modality: cheapest and most likely first."""
    out: list[tuple[str, str | None]] = []
    backbones = (
        [backbone]
        if backbone
        else [default_encoder(modality)]
        + [
            s.name
            for s in encoders
            if s.modality == modality and s.installed() and s.name != default_encoder(modality)
        ]
    )
    slow: list[tuple[str, str | None]] = []
    frozen: list[str] = []
    for spec in methods:
        if (
            spec.name == "auto"
            or modality not in spec.modalities
            or spec.needs_unlabeled
            or spec.domain
            or not spec.auto
        ):
            continue
        if spec.base == "required":  # auto has no base data to meta-train on
            continue
        if spec.tunes_encoder:  # training the encoder costs the most: tried last
            slow += [(spec.name, b) for b in backbones if create_encoder(b).trainable]
        elif spec.uses_encoder:
            frozen.append(spec.name)
        else:
            out.insert(0, (spec.name, None))
    # encoder by encoder, the default's first and linear-probe first on each: one encoding
    # serves all its methods, and the likeliest winner on the features most likely cached
    # runs before the budget can go (walk 31: knn on every encoder, a cold mpnet's encoding
    # included, left linear-probe on the default untried)
    frozen.sort(key=lambda name: name != "linear-probe")
    return out + [(m, b) for b in backbones for m in frozen] + slow


def choose(
    train: LabeledSet, *, backbone: str | None = None, budget: float = DEFAULT_BUDGET, seed: int = 0
) -> tuple[str, str | None, dict[str, Any]]:
    """(method, backbone, record). Every score comes from examples the candidate did not
    train on: stratified folds of the training data. Test data never reaches this function."""
    t0 = time.perf_counter()
    cands = candidates(train.modality, backbone)
    default = ("linear-probe", backbone or default_encoder(train.modality))
    min_count = min(train.counts().values())
    folds = min(MAX_FOLDS, min_count)
    record: dict[str, Any] = {
        "budget_seconds": budget,
        "folds": folds,
        "metric": "accuracy",
        "candidates": [],
        "chosen": None,
        "why": "",
    }
    if folds < 2:
        record["chosen"] = {"method": default[0], "backbone": default[1]}
        record["why"] = (
            f"a class has only {min_count} example, too few to validate anything "
            f"inside the training data; chose the default {default[0]} on "
            f"{default[1]}."
        )
        return default[0], default[1], record
    groups = copy_groups(train.inputs.hashes)  # copies stay in one fold
    splits = stratified_folds(train.y, folds, derive(seed, "auto") % 2**31, groups)
    folds = record["folds"] = len(splits)  # fewer where copies must share a fold
    # on unequal classes every method weighs classes alike (class weights, prior shift), so
    # candidates are ranked the same way: by balanced accuracy, each example weighing
    # 1 / its class's count (mean 1); equal classes: plain accuracy
    cw = class_weights(train.y, len(train.classes))
    unequal = cw is not None
    key = "balanced_accuracy" if unequal else "accuracy"
    what = key.replace("_", " ")
    record["metric"] = key
    scored: list[dict[str, Any]] = []
    right: list[np.ndarray] = []  # per scored entry, its weighted hits on the held-out folds
    # a method that ran out of budget: its seconds per fold and the encoder's parameters
    paced: dict[str, tuple[float, str, bool]] = {}  # (seconds, encoder, a whole fold)
    for name, bb in cands:
        entry: dict[str, Any] = {"method": name, "backbone": bb}
        record["candidates"].append(entry)
        elapsed = time.perf_counter() - t0
        if elapsed > budget and scored:
            entry["skipped"] = f"over the budget of {budget:.0f}s ({elapsed:.0f}s used)"
            continue
        if name in paced and bb and scored:
            # walk 32: a fold of finetune took 217 s, and finetune on a like encoder was
            # started anyway, to be stopped at the budget 80 s later
            per_fold, then, whole = paced[name]
            need = per_fold * folds * encoders.get(bb).params / encoders.get(then).params
            if need > budget - elapsed:
                # a stopped fold's time is a floor, not a fold's (walk 36: "took 1s a fold"
                # of a fold stopped after a second)
                took, more = ("took", "") if whole else ("took at least", " or more")
                entry["skipped"] = (
                    f"{name} {took} {per_fold:.0f}s a fold on {then}; {folds} folds on {bb} "
                    f"would take about {need:.0f}s{more}, more than the "
                    f"{max(budget - elapsed, 0):.0f}s left (--budget)"
                )
                continue
        spec = methods.get(name)
        t1 = time.perf_counter()
        held = np.zeros((len(train), len(train.classes)))
        done = 0
        share = budget
        # the first candidate always finishes (something must be chosen); the others stop
        # at the budget, within one training step or encoding batch
        limit = time_limit(budget - elapsed) if scored else contextlib.nullcontext()
        try:
            with limit:
                enc = create_encoder(bb) if bb else None
                if enc is not None and not spec.tunes_encoder and caching():
                    # every fold reads these features from the cache: encoded first, apart,
                    # so that the folds' pace leaves it out (walk 27: a cold cache's 25 s in
                    # fold 1, taken for every fold's, skipped a candidate that a warm cache
                    # kept: the same seed chose another method)
                    enc.encode(train.inputs, desc=f"encoding for {name}")
                    entry["encode_seconds"] = round(time.perf_counter() - t1, 2)
                    t1 = time.perf_counter()
                # a first fold longer than the budget's share per fold would be given up
                # when it ends (the check below): give it up at that point instead (walk 32:
                # finetune's first fold ran 217 s of a 300 s budget before its pace was known)
                share = (budget - (time.perf_counter() - t0)) / folds
                for i, (tr, va) in enumerate(splits):
                    first = (
                        time_limit(share, "share")
                        if i == 0 and scored
                        else contextlib.nullcontext()
                    )
                    with first:
                        fitted = spec.method(spec.config(), enc).fit(
                            train.subset(tr), seed=derive(seed, "auto-fit", i)
                        )
                    held[va] = fitted.predict_proba(train.subset(va).inputs)
                    done += 1
                    # after a fold, give up when the rest would not fit in what is left
                    per_fold = (time.perf_counter() - t1) / (i + 1)
                    left = budget - (time.perf_counter() - t0)
                    if i + 1 < folds and per_fold * (folds - i - 1) > left and scored:
                        if bb:
                            paced[name] = (per_fold, bb, True)
                        entry["skipped"] = (
                            f"{i + 1} fold(s) took {per_fold:.0f}s each; the other "
                            f"{folds - i - 1} would not fit in the {max(left, 0):.0f}s left of "
                            "the budget (--budget)"
                        )
                        break
        except OutOfTime as out:
            if out.limit == "share":
                entry["skipped"] = (
                    f"fold 1 of {folds} passed {share:.0f}s, its share of the "
                    f"{share * folds:.0f}s left of the budget: the {folds} folds would not fit "
                    "(--budget)"
                )
            else:
                entry["skipped"] = (
                    f"stopped at the budget of {budget:.0f}s during fold {done + 1} of {folds}"
                )
            if bb:  # a fold takes at least this long (the stopped one counted whole)
                paced[name] = ((time.perf_counter() - t1) / (done + 1), bb, False)
        if "skipped" in entry:
            continue
        m = M.compute(train.y, held)
        items = M.per_item(train.y, held)  # balanced accuracy's hits carry the class weights
        entry.update(
            {
                "accuracy": m["accuracy"],
                **({"balanced_accuracy": m["balanced_accuracy"]} if unequal else {}),
                "log_loss": float(
                    np.average(items["log_loss"], weights=cw[train.y] if unequal else None)
                ),
                "seconds": round(time.perf_counter() - t1, 2),
            }
        )
        right.append(items[key].astype(float))
        scored.append(entry)
        log.info(
            "auto: %s%s cross-validated %s %.3f", name, f" on {bb}" if bb else "", what, entry[key]
        )
    order = sorted(range(len(scored)), key=lambda i: (-scored[i][key], scored[i]["log_loss"]))
    top = scored[order[0]]
    # a lead of an example or two is noise: candidates within one standard error of the
    # most accurate (paired over the same examples) tie, and the lower log-loss, which
    # weighs every answer's confidence rather than only its argmax, breaks the tie
    # (+1e-9: a lead of one example is exactly one standard error, and rounding decided it)
    # each against the most accurate
    se = [_paired_se(right[order[0]], r, groups) for r in right]
    tied = [order[0]] + [i for i in order[1:] if top[key] - scored[i][key] <= se[i] + 1e-9]
    b = min(tied, key=lambda i: scored[i]["log_loss"])
    best = scored[b]
    # walk 13: each candidate's standing, so that the choice can be checked from the manifest
    for i, e in enumerate(scored):
        e["behind_best"] = round(top[key] - e[key], 6)
        e["paired_se"] = round(se[i], 6)
        e["tied_with_best"] = i in tied
    record["chosen"] = {"method": best["method"], "backbone": best["backbone"]}
    label = _label(best)
    if best is top:
        why = (
            f"{label} had the best {folds}-fold cross-validated {what} inside the training "
            f"data ({best[key]:.3f}, log-loss {best['log_loss']:.3f})"
        )
    else:
        why = (
            f"{label}'s {folds}-fold cross-validated {what} inside the training data "
            f"({best[key]:.3f}) is within one standard error "
            f"({se[b]:.3f}, paired over the {len(train)} examples"
            + (f", {len(set(groups.tolist()))} of them distinct" if groups is not None else "")
            + f") of the best, {_label(top)} ({top[key]:.3f}), and its log-loss is lower "
            f"({best['log_loss']:.3f} against {top['log_loss']:.3f})"
        )
    others = [i for i in tied if i not in (b, order[0])]
    if others:  # walk 14: tied candidates went unnamed when the tie-break chose
        why += "; also within one standard error of the best, with a log-loss no lower: " + (
            ", ".join(
                f"{_label(scored[i])} ({scored[i][key]:.3f}, {scored[i]['log_loss']:.3f})"
                for i in others
            )
        )
    beaten = [i for i in order if i not in tied]
    if beaten:
        nearest = scored[beaten[0]]
        # walk 27: its score alone read as a contradiction beside a tied one of the same
        # score (the standard errors, paired with the best, differ)
        why += (
            f"; the other {len(beaten)} fell more than one paired standard error behind the "
            f"best, the nearest {_label(nearest)} ({nearest[key]:.3f}: "
            f"{nearest['behind_best']:.3f} behind, standard error {nearest['paired_se']:.3f}; "
            "each candidate's gap and standard error are in the manifest)"
        )
    skipped = [e for e in record["candidates"] if "skipped" in e]
    if skipped:
        why += (
            f"; {len(skipped)} of {len(cands)} candidates did not fit in the budget of "
            f"{budget:.0f}s (raise --budget to try them)"
        )
    record["why"] = why + ". No test data was used to choose."
    record["seconds"] = round(time.perf_counter() - t0, 2)
    return best["method"], best["backbone"], record


def _label(e: dict[str, Any]) -> str:
    return e["method"] + (f" on {e['backbone']}" if e["backbone"] else "")


def _paired_se(a: np.ndarray, b: np.ndarray, groups: np.ndarray | None = None) -> float:
    """Standard error of the difference of two candidates' mean (weighted) hits on the same
    examples; with `groups`, exact copies are one cluster (a cluster-robust error: walk 30,
    180 examples of which 60 distinct made the tie band too narrow). Without copies, the
    plain one."""
    d = a - b
    if groups is None:
        return float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
    sums = np.bincount(groups, weights=d - d.mean())
    g = int((np.bincount(groups) > 0).sum())
    return float(np.sqrt(g / (g - 1) * (sums**2).sum()) / len(d)) if g > 1 else 0.0
