"""Run every method on the same splits, score them, and assemble the results document
(docs/results-schema.md)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import platform
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from scarce import __version__
from scarce.core.environment import library_versions
from scarce.core.errors import ConfigError, DataError
from scarce.core.logs import plural, warnings_once
from scarce.core.progress import progress
from scarce.core.seeding import derive
from scarce.data.episodes import restrict
from scarce.data.splits import copy_groups, distinct_per_class
from scarce.data.types import LabeledSet, UnlabeledSet
from scarce.data.validate import align_domains
from scarce.encoders.base import Encoder
from scarce.evaluation import metrics as M
from scarce.evaluation.curves import fit_curve
from scarce.evaluation.intervals import (
    MIN_BOOTSTRAP,
    MIN_VERDICT_REPEATS,
    TOO_FEW,
    Interval,
    change_interval,
    interval,
    item_means,
    item_variance,
    paired_near_zero,
    repeats_needed,
    support_variance,
    verdict,
)
from scarce.evaluation.protocols import (
    Split,
    domain_splits,
    episode_left_out,
    episode_splits,
    holdout_split,
    kfold_splits,
    kshot_splits,
)
from scarce.evaluation.resume import FitStore, ordered_hash
from scarce.evaluation.schema import SCHEMA, SCHEMA_VERSION
from scarce.methods import methods as registry
from scarce.methods._meta_cache import meta_train
from scarce.methods.base import check_base_use

log = logging.getLogger(__name__)

BASELINE = "baseline"
SOURCE_ONLY = "source-only"  # the reference of the domain protocol
MULTITASK = "multitask"
SINGLE_TASK = "multitask:single-task"  # multitask trained on the evaluated task alone
LABELS_ONLY = ":labels-only"  # suffix of a method's twin fitted without --unlabeled
NOT_USED = "not used: the same fits"  # the verdict of a with/without pair that never used U
TASK_TEST = 0.25  # of each other task, held out per repeat to score it on
HARDEST = 12


def evaluate_sets(
    pool: LabeledSet,
    *,
    methods: Sequence[str],
    encoder: Encoder | None,
    test: LabeledSet | None = None,
    protocol: str = "kshot",
    shots: Sequence[int] = (1, 5, 20),
    repeats: int = 10,
    folds: int = 5,
    seed: int = 0,
    interval_method: str = "t",
    confidence: float = 0.95,
    jobs: int = 1,
    configs: dict[str, dict[str, Any]] | None = None,
    base: LabeledSet | None = None,
    ways: int = 5,
    queries: int = 15,
    episodes: int = 600,
    source: LabeledSet | None = None,
    labeled_target: Sequence[int] = (0,),
    tasks: dict[str, LabeledSet] | None = None,
    primary_task: str = "label",
    versus: str | None = None,
    unlabeled: UnlabeledSet | None = None,
    resume: bool = True,
) -> dict[str, Any]:
    """Evaluate `methods` (the baseline is always added) on validated data sets. `base`:
    labeled data of other classes that the methods taking it meta-train on, once, before
    their fits; protocol "episodes": `episodes` N-way K-shot tasks per K, scored on queries;
    protocol "domain": `pool` is the labeled target domain, whose labels only score (and,
    `labeled_target` per class, train); every method learns from `source`, and the domain
    methods are compared with source-only. `tasks` (with the multitask method): the other
    tasks; every task, `pool`'s (named `primary_task`) and each of them, is scored trained
    with the others and alone, on the same draws; each repeat holds out TASK_TEST of every
    other task to score it. `versus`: a method (run if not listed) that every other one is
    also compared with, paired over the same draws, besides the baseline. `unlabeled`: extra
    inputs that each method able to read them gets in every fit; its twin `M:labels-only`
    fits the same draws without them, paired (protocols kshot and kfold). `resume`: reuse
    the fits that a stopped run of this same evaluation finished (evaluation.resume)."""
    t0 = time.perf_counter()
    reference = BASELINE
    first = [BASELINE]
    if protocol == "domain":
        if source is None:
            raise ConfigError("--protocol domain needs --source (the labeled source domain).")
        pool = align_domains(pool, source)
        if test is not None:
            test = align_domains(test, source)
        reference = SOURCE_ONLY
        first = [BASELINE, SOURCE_ONLY]
    elif source is not None:
        raise ConfigError("--source is for --protocol domain.")
    names = first + [m for m in dict.fromkeys(methods) if m not in first]
    if versus is not None:
        if versus in first:
            raise ConfigError(
                f"--versus {versus}: every method is already compared with {first[-1]}"
                + (f" (and {BASELINE})" if len(first) > 1 else "")
                + "; name another method, or drop --versus."
            )
        registry.get(versus)
        if versus not in names:
            names.append(versus)
    if tasks and MULTITASK not in names:
        raise ConfigError("--task is for --methods multitask.")
    if tasks and protocol in ("domain", "episodes"):
        raise ConfigError(
            f"--task cannot be combined with --protocol {protocol}: multitask is compared with "
            "single-task under --protocol kshot or kfold."
        )
    if tasks:  # the same method without the other tasks: what they bring, paired
        names.append(SINGLE_TASK)
    readers = _unlabeled_readers(unlabeled, names, protocol)
    for m in readers:  # the same method without them: what the unlabeled inputs bring, paired
        names.insert(names.index(m) + 1, m + LABELS_ONLY)
    origin = {SINGLE_TASK: MULTITASK, **{m + LABELS_ONLY: m for m in readers}}
    overlap = _overlap(unlabeled, pool, test) if unlabeled is not None else (0, 0)
    if readers and (in_test := overlap[1]):
        log.warning(
            "%d of the --unlabeled inputs are also %s: the draws that test on them score a "
            "model that saw them unlabeled, which can read higher than on new inputs.",
            in_test,
            "in --test" if test is not None else "in DATA (tested on when not drawn)",
        )
    specs = {n: registry.get(origin.get(n, n)) for n in names}
    for n, s in specs.items():
        if pool.modality not in s.modalities:
            raise ConfigError(f"method {n!r} does not work on {pool.modality} data.")
    # a twin (multitask:single-task, M:labels-only) runs with its method's settings
    own = [n for n in names if n not in origin]
    unknown = sorted(set(configs or {}) - {*own, EVERY})
    if unknown:
        twins = [n for n in unknown if n in names]
        raise ConfigError(
            f"--set names {', '.join(map(repr, unknown))}, which "
            + (
                f"runs with {origin[twins[0]]}'s settings: set {origin[twins[0]]}.KNOB instead."
                if twins
                else f"this evaluation does not run (it runs {', '.join(own)})."
            )
        )
    configs = _spread_shared(configs, names, specs)
    if protocol != "domain":
        need = [n for n in names if specs[n].domain and specs[n].needs_unlabeled]
        if need:
            raise ConfigError(
                f"{', '.join(need)} adapt(s) from a source domain: use --protocol domain "
                "--source SOURCE (DATA is then the labeled target)."
            )
    # the methods the user named first, so that a bad shared --set names one of them
    # rather than the baseline or source-only added beside them
    built = {
        n: specs[n].config.from_dict((configs or {}).get(origin.get(n, n)), owner=specs[n].name)
        for n in sorted(names, key=lambda n: n in first)
    }
    cfgs = {n: built[n] for n in names}
    check_base_use(specs, base, pool)
    left_out: dict[int, list[str]] = {}  # episodes: classes too small to draw, per K
    if protocol == "kshot":
        if not shots or min(shots) < 1:
            raise ConfigError(f"--shots must be positive integers, got {list(shots)}.")
        splits = kshot_splits(pool, sorted(set(shots)), repeats, seed, test is not None)
    elif protocol == "kfold":
        if folds < 2:
            raise ConfigError(f"--folds must be 2 or more, got {folds}.")
        if test is not None:
            raise ConfigError(
                "--protocol kfold uses every labeled example; drop --test, or use "
                "--protocol kshot to test on a given set."
            )
        splits = kfold_splits(pool, folds, repeats, seed)
    elif protocol == "episodes":
        if test is not None:
            raise ConfigError(
                "--protocol episodes draws support and query examples from DATA; drop --test."
            )
        if not shots or min(shots) < 1:
            raise ConfigError(f"--shots must be positive integers, got {list(shots)}.")
        splits = episode_splits(pool, sorted(set(shots)), ways, queries, episodes, seed)
        repeats = episodes
        left_out = episode_left_out(pool, sorted(set(shots)), queries)
        if left_out:
            counts = pool.counts()
            log.warning(
                "--protocol episodes leaves out the classes with fewer than K + %d (--queries) "
                "examples, which are never tested on: %s. Lower --shots or --queries, or add "
                "examples, to include them.",
                queries,
                "; ".join(
                    f"at K={k}: "
                    + ", ".join(f"{c!r} ({counts[c]})" for c in cs[:6])
                    + (f" and {len(cs) - 6} more" if len(cs) > 6 else "")
                    for k, cs in left_out.items()
                ),
            )
    elif protocol == "domain":
        if not labeled_target or min(labeled_target) < 0:
            raise ConfigError(
                f"--target-labels must be counts >= 0 per class, got {list(labeled_target)}."
            )
        shots = sorted(set(labeled_target))
        splits = domain_splits(pool, shots, repeats, seed, test is not None)
    else:
        raise ConfigError(
            f"--protocol must be 'kshot', 'kfold', 'episodes' or 'domain', got {protocol!r}."
        )

    small = _small_pool(pool, protocol, test is not None)
    unit = Units.name(protocol, repeats)
    n_units = folds * repeats if unit == "fold" else repeats
    if n_units < MIN_VERDICT_REPEATS and len(names) > 1:
        log.warning(  # walk 26: said only after 313 s, in every cell of the table
            "%d paired %s cannot tell methods apart: every comparison will read '%s'. For a "
            "verdict, run with --%ss %d or more.",
            n_units,
            plural(unit, n_units),
            TOO_FEW,
            unit,
            MIN_VERDICT_REPEATS,
        )
    requested = interval_method
    if interval_method == "bootstrap" and n_units < MIN_BOOTSTRAP:
        log.warning(  # walk 21: the fallback was said nowhere
            "--interval bootstrap needs %d+ repeats: from %d no resampling interval can cover "
            "95%% of the time, so these intervals are t intervals.",
            MIN_BOOTSTRAP,
            n_units,
        )
        interval_method = "t"
    # one instance per method: what it meta-trains on the base set serves every fit; made
    # before any encoding, so that a method refusing the encoder says so at once (walk 19)
    instances = {n: specs[n].method(cfgs[n], encoder) for n in names}
    encode_s = 0.0
    with encoder.memoized() if encoder is not None else contextlib.nullcontext():
        if encoder is not None and any(s.uses_encoder for s in specs.values()):
            t = time.perf_counter()
            encoder.encode(pool.inputs, desc="encoding the data")
            if source is not None:
                encoder.encode(source.inputs, desc="encoding the source")
            if test is not None:
                encoder.encode(test.inputs, desc="encoding the test set")
            if unlabeled is not None:
                encoder.encode(unlabeled.inputs, desc="encoding the unlabeled inputs")
            if any(s.tunes_encoder for s in specs.values()):
                # the network the tuning methods copy, loaded once here: charged to the first
                # fit, it made a method's seconds depend on the order of --methods (walk 25:
                # setfit's same draw took 36.4 s first, 4.0 s after finetune)
                encoder.torch_module()
            encode_s = time.perf_counter() - t
        if tasks:
            instances[MULTITASK].add_tasks(tasks, primary=primary_task)
        meta_training: dict[str, Any] = {}
        if base is not None:
            for n in names:
                if specs[n].base != "no":
                    t = time.perf_counter()
                    rec = meta_train(n, instances[n], base, seed=derive(seed, "meta"))
                    meta_training[n] = {**rec, "seconds": round(time.perf_counter() - t, 2)}
        jobs_list = [(n, sp) for sp in splits for n in names]
        detail_keys = _detail_keys(splits, protocol)

        def tested(sp: Split) -> tuple[LabeledSet, np.ndarray]:
            """A draw's test set and its items' keys (pool positions; a given test set's
            after the pool's). A given --test set is scored without the copies of what the
            draw trains on, as the rest of the pool is (walk 30: its copies of training rows
            ranked a memorising baseline first)."""
            if sp.test is not None:
                return pool.subset(sp.test), np.asarray(sp.test)
            assert test is not None  # noqa: S101 - kshot_splits gives no test only with one given
            seen = {pool.inputs.hashes[i] for i in sp.train}
            if sp.adapt is not None and source is not None:
                seen.update(source.inputs.hashes)
            idx = np.array(
                [j for j, h in enumerate(test.inputs.hashes) if h not in seen], dtype=np.int64
            )
            if not len(idx):
                raise DataError(
                    f"every --test example ({test.source}) is a copy of one a draw trains on: "
                    "nothing is left to test on. Give test examples that training does not hold."
                )
            return (test if len(idx) == len(test) else test.subset(idx)), len(pool) + idx

        def one(job: tuple[str, Split]) -> dict[str, Any]:
            name, sp = job
            labeled = None
            if sp.classes is not None:  # an episode: its classes, relabelled 0..ways-1
                train = restrict(pool, sp.train, sp.classes)
                tst = restrict(pool, sp.test, sp.classes)
                keys = np.asarray(sp.test)
            elif sp.adapt is not None and source is not None:  # domain: learn from the source
                labeled = pool.subset(sp.train) if len(sp.train) else None
                train = source if labeled is None else source.join(labeled)
                tst, keys = tested(sp)
            else:
                train = pool.subset(sp.train)
                tst, keys = tested(sp)
            fit_seed = derive(seed, "fit", sp.shots or 0, sp.repeat, sp.fold or 0)
            # every other task, split the same way for multitask and its single-task twin
            held = (
                {n: _task_holdout(n, t, seed, sp) for n, t in tasks.items()}
                if tasks and name in (MULTITASK, SINGLE_TASK)
                else {}
            )
            t1 = time.perf_counter()
            selection = None
            if held and name == MULTITASK:
                inst = instances[name]
                fitted = inst.fit_tasks(
                    {inst.primary: train, **{n: tr for n, (tr, _) in held.items()}}, seed=fit_seed
                )
            elif sp.adapt is not None and source is not None and specs[name].domain:
                target = UnlabeledSet(pool.inputs.subset(sp.adapt), pool.source)
                fitted = instances[name].fit_domain(
                    source, target, labeled_target=labeled, seed=fit_seed
                )
                sel = fitted.meta["selection"]
                selection = {k: sel[k] for k in ("criterion", "trade_off", "step", "estimates")}
            else:
                extra = unlabeled if name in readers else None
                fitted = instances[name].fit(train, unlabeled=extra, seed=fit_seed)
            t2 = time.perf_counter()
            proba = fitted.predict_proba(tst.inputs)
            t3 = time.perf_counter()
            rec: dict[str, Any] = {
                "method": name,
                "shots": sp.shots,
                "repeat": sp.repeat,
                "fold": sp.fold,
                # walk 44 could not tell a fit's seed from an evaluation's repeat: with this one
                # `scarce fit --seed` on the same training data gives the repeat's model
                "seed": fit_seed,
                "n_train": len(train),
                "n_test": len(tst),
                "fit_seconds": round(t2 - t1, 4),
                "predict_seconds": round(t3 - t2, 4),
                "metrics": M.compute(tst.y, proba),
            }
            if selection is not None:
                rec["selection"] = selection
            rec["_one_class"] = M.one_class(tst.y, proba)
            if name in readers:  # a method may decide not to use them (self_training=auto)
                st = (getattr(fitted, "meta", None) or {}).get("self_training") or {}
                rec["unlabeled_used"] = bool(st.get("used", True))
            # per test item, for the share of the interval the test sample owns
            rec["_items"] = (keys, M.per_item(tst.y, proba))
            # support items that episodes redraw from the pool, hundreds of times: k-shot's
            # ten or so repeats cannot estimate their pull (simulated, 20 of 21 per class:
            # half-widths of 0.16 where 0.02 would cover)
            if protocol == "episodes":
                rec["_support"] = np.asarray(sp.train)
            if held:  # the other tasks: by the multitask model's heads, or each trained alone
                rec["tasks"] = {}
                for n, (tr, te) in held.items():
                    if not len(te):
                        continue
                    if name == MULTITASK:
                        p_t = fitted.predict_tasks(te.inputs)[n]
                    else:
                        p_t = (
                            instances[name]
                            .fit_tasks({n: tr}, seed=fit_seed)
                            .predict_proba(te.inputs)
                        )
                    rec["tasks"][n] = M.compute(te.y, p_t)
            if (sp.shots, sp.repeat) in detail_keys:
                rec["_proba"], rec["_test"] = proba, tst
                if sp.classes is not None:  # an episode: back to the pool's classes
                    rec["_proba"] = np.zeros((len(proba), len(pool.classes)), proba.dtype)
                    rec["_proba"][:, sp.classes] = proba
                    rec["_test"] = pool.subset(sp.test)
            return rec

        store = FitStore(
            {
                "protocol": protocol,
                "seed": seed,
                "draws": [shots, repeats, folds, ways, queries, episodes, labeled_target],
                "data": [ordered_hash(d) for d in (pool, test, source, unlabeled, base)],
                "tasks": {n: ordered_hash(t) for n, t in (tasks or {}).items()},
                "primary": primary_task,
                "encoder": encoder.key if encoder is not None else None,
                "versions": library_versions(),
            },
            enabled=resume,
        )

        def job_key(name: str, sp: Split) -> str:
            arrays = (sp.train, sp.test, sp.classes, sp.adapt)
            return FitStore.job_key(
                {
                    "method": name,
                    "config": cfgs[name].to_dict(),
                    "reads_unlabeled": name in readers,
                    "split": [sp.shots, sp.repeat, sp.fold],
                    "rows": [None if a is None else np.asarray(a).tolist() for a in arrays],
                }
            )

        keys = {(name, id(sp)): job_key(name, sp) for name, sp in jobs_list}
        store.announce(list(keys.values()))

        serial = threading.Lock()

        def alone(job: tuple[str, Split]) -> dict[str, Any]:
            if jobs > 1 and specs[job[0]].torch_seeded:  # see MethodSpec.torch_seeded
                with serial:
                    return one(job)
            return one(job)

        def kept(job: tuple[str, Split]) -> dict[str, Any]:
            name, sp = job
            rec = store.run(keys[name, id(sp)], lambda: alone(job))
            if "_proba" in rec and "_test" not in rec:  # kept: its test set, drawn again
                rec["_test"] = tested(sp)[0]
            return rec

        with warnings_once(), store.session(len(jobs_list)):
            runs = _run_all(kept, jobs_list, jobs)
    units = Units(runs, pool, protocol, repeats, test)
    one_class = _warn_one_class(runs, names, pool.classes, protocol, test is not None)

    res = _assemble(
        pool,
        test,
        names,
        specs,
        cfgs,
        encoder,
        runs,
        protocol,
        shots,
        repeats,
        folds,
        seed,
        interval_method,
        confidence,
        reference,
        small_pool=small,
    )
    if small:
        res["protocol"]["small_pool"] = small
    if one_class:  # walk 23: said in the terminal only, beside the report's all-clear
        res["one_class"] = one_class
    if protocol != "episodes" and (floor := _majority(splits, pool, test)):
        res["majority"] = floor
    if requested != interval_method:  # walk 23: the fallback was recorded nowhere
        res["protocol"]["interval_requested"] = requested
    if tasks:
        res["multitask"] = {
            **_versus(units, MULTITASK, SINGLE_TASK, interval_method, confidence, seed),
            "primary": primary_task,
            "tasks": {
                n: {
                    "source": t.source,
                    "n": len(t),
                    "classes": list(t.classes),
                    "test": f"{TASK_TEST:.0%} of each class held out per repeat",
                    "paired": _versus(
                        units, MULTITASK, SINGLE_TASK, interval_method, confidence, seed, task=n
                    )["paired"],
                }
                for n, t in tasks.items()
            },
        }
    if versus is not None:
        res["versus"] = {
            "method": versus,
            "paired": [
                {"method": m, **row}
                for m in names
                if m not in (*first, versus, SINGLE_TASK) and not m.endswith(LABELS_ONLY)
                for row in _versus(units, m, versus, interval_method, confidence, seed)["paired"]
            ],
        }
    if unlabeled is not None:
        res["unlabeled"] = _unlabeled_record(
            unlabeled, readers, units, overlap, interval_method, confidence, seed
        )
        said = {r["name"]: r["description"] for r in res["methods"]}
        for rec in res["methods"]:
            if rec["name"] in readers:
                rec["description"] += f" + {len(unlabeled)} unlabeled"
            elif rec["name"] in origin and rec["name"].endswith(LABELS_ONLY):
                rec["description"] = f"{said[origin[rec['name']]]}, labels only"
    if protocol == "domain":
        assert source is not None  # noqa: S101 - checked above
        res["protocol"].update(
            {
                "labeled_target": shots,
                "test": "given" if test is not None else "half of each target class",
                "adapt": "the target examples outside the test set, unlabeled",
            }
        )
        res["domain"] = {
            "source": {
                "source": source.source,
                **source.hash_record(),
                "n": len(source),
                "counts": source.counts(),
            },
            "reference": reference,
            "note": "target labels only score the models (and train, as many per class as "
            "labeled_target says); each domain method chose its checkpoint and trade-off "
            "without them unless 4+ labels per class (40+ in all) were given",
        }
    if protocol == "episodes":
        res["protocol"].update(
            {
                "ways": ways,
                "queries": queries,
                "episodes": episodes,
                "test": "queries",
                "left_out": {str(k): cs for k, cs in left_out.items()},
            }
        )
    if base is not None:
        res["base"] = {
            "source": base.source,
            **base.hash_record(),
            "n": len(base),
            "classes": list(base.classes),
            "meta_training": meta_training,
        }
    res["timing"] = {
        "total_seconds": round(time.perf_counter() - t0, 2),
        "encode_seconds": round(encode_s, 2),
        "jobs": jobs,
    }
    if store.reused:  # their fit_seconds are the stopped run's; total_seconds is this one's
        res["timing"]["resumed_fits"] = store.reused
    store.discard()
    return res


SMALL_POOL = 10  # distinct examples in the smallest class, below which a pool tests little


def _small_pool(pool: LabeledSet, protocol: str, test_given: bool) -> str | None:
    """Where every draw tests on the few examples a small pool leaves over, a caution (said
    now, and beside each negative-transfer flag), else None. Walk 29: on 18 texts, 3 of 5
    seeds flagged linear-probe as worse than the baseline, which 180 held-out texts rank
    below it: each seed tested on the same handful of items."""
    if test_given or protocol not in ("kshot", "kfold"):
        return None
    distinct = distinct_per_class(pool.y, copy_groups(pool.inputs.hashes), len(pool.classes))
    c = int(np.argmin(distinct))
    if distinct[c] >= SMALL_POOL:
        return None
    said = (
        f"DATA holds {int(distinct.sum())} distinct examples, {int(distinct[c])} of class "
        f"{pool.classes[c]!r} at fewest: every draw tests on the few left over, so each verdict "
        "rests on those same items however many the repeats; "
        + (
            "--protocol kshot with --test (other examples) tells more"
            if protocol == "kfold"
            else "--test with other examples tells more"
        )
    )
    log.warning("%s.", said)
    return said


def _majority(
    splits: list[Split], pool: LabeledSet, test: LabeledSet | None
) -> list[dict[str, Any]]:
    """Per shot count, what always answering each test set's largest class scores, averaged
    over the draws: accuracy, and balanced accuracy (one over the classes the test set
    holds). Empty where the test sets' classes are equal. From the test sets themselves
    (walk 24: the pool's shares said 0.500 where K=19 left a test set 93% one class)."""
    by_k: dict[Any, list[tuple[float, float]]] = {}
    for sp in splits:
        y = pool.y[sp.test] if sp.test is not None else test.y if test is not None else None
        if y is None or not len(y):
            continue
        counts = np.bincount(y)
        present = counts[counts > 0]
        by_k.setdefault(sp.shots, []).append((present.max() / len(y), 1 / len(present)))
    out = [
        {
            "shots": k,
            "accuracy": float(np.mean([a for a, _ in v])),
            "balanced_accuracy": float(np.mean([b for _, b in v])),
        }
        for k, v in by_k.items()
    ]
    return out if any(r["accuracy"] > r["balanced_accuracy"] + 1e-3 for r in out) else []


def _warn_one_class(
    runs: list[dict[str, Any]],
    names: list[str],
    classes: Sequence[str],
    protocol: str,
    test_given: bool = True,
) -> list[dict[str, Any]]:
    """walk 21: `scarce fit --test` warned of a test set answered with one class; eval,
    where it shows only in a confusion matrix, did not. Returns what it said, per method."""
    said = []
    for m in names:
        mine = [r["_one_class"] for r in runs if r["method"] == m and "_one_class" in r]
        hit = [c for c in mine if c is not None]
        if mine and len(hit) > len(mine) / 2:
            where = (  # walk 24: not for a test drawn from the same pool
                "; if the test data comes from elsewhere than the training data, "
                "--protocol domain measures adapting to it"
                if protocol != "domain" and test_given
                else ""
            )
            message = (
                f"{m} answered one class ({classes[max(set(hit), key=hit.count)]!r}) for 90%+ "
                f"of the test examples in {len(hit)} of its {len(mine)} fits, where far fewer "
                f"are that class: it tells the classes apart no better than a constant there"
                f"{where}."
            )
            log.warning("%s", message)
            said.append({"method": m, "fits": len(hit), "of": len(mine), "message": message})
    return said


def _unlabeled_readers(
    unlabeled: UnlabeledSet | None, names: list[str], protocol: str
) -> list[str]:
    """The methods that get `unlabeled` (each then has a labels-only twin)."""
    if unlabeled is None:
        return []
    if protocol not in ("kshot", "kfold"):
        hint = (
            "the target DATA is what the domain methods adapt to, unlabeled"
            if protocol == "domain"
            else "episodes are scored on their own query examples"
        )
        raise ConfigError(
            f"--unlabeled is for --protocol kshot or kfold ({hint}); drop --unlabeled."
        )
    readers = [n for n in names if n != SINGLE_TASK and registry.get(n).uses_unlabeled]
    if not readers:
        takers = [n for n in registry.names() if registry.get(n).uses_unlabeled]
        raise ConfigError(
            f"none of the methods run ({', '.join(names)}) reads --unlabeled: add "
            f"{' or '.join(takers)} to --methods, or drop --unlabeled."
        )
    return readers


def _overlap(unlabeled: UnlabeledSet, pool: LabeledSet, test: LabeledSet | None) -> tuple[int, int]:
    """How many unlabeled inputs are also in the pool, and in what is tested on."""
    mine = set(unlabeled.inputs.hashes)
    in_pool = sum(h in mine for h in pool.inputs.hashes)
    return in_pool, sum(h in mine for h in test.inputs.hashes) if test is not None else in_pool


def _unlabeled_record(
    unlabeled: UnlabeledSet,
    readers: list[str],
    units: Units,
    overlap: tuple[int, int],
    interval_method: str,
    confidence: float,
    seed: int,
) -> dict[str, Any]:
    """What the unlabeled inputs were (`overlap`: how many are also in the pool, and in what
    is tested on), and what they gave each method that read them."""
    in_pool, in_test = overlap
    return {
        **unlabeled.record(),
        "in_data": in_pool,
        "in_test": in_test,
        "methods": readers,
        "note": "each method here got the unlabeled inputs in every fit; M"
        + LABELS_ONLY
        + " fitted the same draws without them (inputs also drawn as labeled examples "
        "are dropped from the unlabeled ones)",
        "paired": [
            _unused_said({"method": m, **row, **_uses(units.runs, m, row["shots"])})
            for m in readers
            for row in _versus(units, m, m + LABELS_ONLY, interval_method, confidence, seed)[
                "paired"
            ]
        ],
    }


def _unused_said(row: dict[str, Any]) -> dict[str, Any]:
    """Where no fit used the inputs, the two sides are the same fits: no number of repeats
    would tell a difference (walk 23: "too few repeats to tell" said otherwise)."""
    if row["used"] == 0:
        row["verdict"] = NOT_USED
        # the same fits are certainly alike: no bound for unseen items to widen it by
        row["low"] = row["high"] = row["mean"]
    return row


def _uses(runs: list[dict[str, Any]], method: str, k: int | None) -> dict[str, int]:
    """In how many of its fits at `k` the method used the unlabeled inputs (walk 21: a row
    of +0.000 did not say that none had)."""
    mine = [r for r in runs if r["method"] == method and r["shots"] == k]
    return {"used": sum(r.get("unlabeled_used", True) for r in mine), "fits": len(mine)}


def _task_holdout(
    name: str, task: LabeledSet, seed: int, sp: Split
) -> tuple[LabeledSet, LabeledSet]:
    """(train, test) of another task for one draw; the same for every shot count."""
    tr, te = holdout_split(task, TASK_TEST, derive(seed, "task", name, sp.repeat, sp.fold or 0))
    return task.subset(tr), task.subset(te)


def _versus(
    units: Units,
    a: str,
    b: str,
    how: str,
    confidence: float,
    seed: int,
    task: str | None = None,
) -> dict[str, Any]:
    """a minus b in accuracy on the same draws, per shot count, with its interval over the
    same units and pool variance as every other interval; on the evaluated data's task, or on
    another `task` (the runs' "tasks" scores: their held-out examples are drawn anew each
    repeat, so the repeats already vary them)."""
    rows = []
    for k in sorted({r["shots"] for r in units.runs if r["method"] == a}, key=lambda v: v or 0):
        ua, ub = (units.per_unit(m, k, "accuracy", task) for m in (a, b))
        common = sorted(set(ua) & set(ub))
        if not common:
            continue
        diffs = [ua[c] - ub[c] for c in common]
        pool_side = units.items(a, k, "accuracy", versus=b) if task is None else (0.0, 0)
        iv = interval(diffs, how, confidence, seed, M.bounds("accuracy", paired=True), pool_side)
        iv = _alike_on_every_item(iv, diffs, pool_side, confidence)
        rows.append(
            {
                "shots": k,
                "metric": "accuracy",
                **iv.as_dict(),
                "verdict": verdict(iv),
                # unrounded: tables round once, to the digits they show
                "method_accuracy": float(np.mean([ua[c] for c in common])),
                "versus_accuracy": float(np.mean([ub[c] for c in common])),
            }
        )
    return {"method": a, "versus": b, "paired": rows}


def _alike_on_every_item(
    iv: Interval, diffs: list[float], pool_side: tuple[float, int], confidence: float
) -> Interval:
    """A paired accuracy difference of 0 on every draw, with the same answer on every item:
    not a certainty that the two are alike (walk 32: both perfect on 65 target items read
    +0.000 [+0.000, +0.000])."""
    if pool_side[1] and len(diffs) >= 2 and not any(diffs):
        return paired_near_zero(iv, 0, 0, pool_side[1], confidence)
    return iv


def _run_all(one: Any, jobs_list: list, jobs: int) -> list[dict[str, Any]]:
    if jobs == 1:
        return [one(j) for j in progress(jobs_list, desc="fitting", unit="fit")]
    from joblib import Parallel, delayed
    from threadpoolctl import threadpool_limits

    # each method's first fit alone: their lazy imports race when two threads run them at
    # once (audit 26: 'cannot import name clone from partially initialized module
    # sklearn.base' in 3 of 12 runs of --jobs 2)
    firsts: dict[str, int] = {}
    for i, (name, _) in enumerate(jobs_list):
        firsts.setdefault(name, i)
    done = {i: one(jobs_list[i]) for i in sorted(firsts.values())}
    rest = [i for i in range(len(jobs_list)) if i not in done]
    # threads: features are shared in memory; BLAS pinned to one thread per worker so that
    # joblib's workers and the math libraries do not fight over the cores
    with threadpool_limits(1):
        out = Parallel(n_jobs=jobs, prefer="threads")(delayed(one)(jobs_list[i]) for i in rest)
    done.update(zip(rest, out, strict=True))
    return [done[i] for i in range(len(jobs_list))]


EVERY = "*"  # configs key whose knobs go to every method that has them


def _spread_shared(
    configs: dict[str, dict[str, Any]] | None, names: list[str], specs: dict
) -> dict[str, dict[str, Any]]:
    """Knobs under EVERY (`eval --set steps=200`) go to each method with a knob of that name;
    a method's own setting wins. One that no method has is an error, not silence."""
    configs = {k: dict(v) for k, v in (configs or {}).items()}
    shared = configs.pop(EVERY, {})
    for knob, value in shared.items():
        takers = [n for n in names if knob in specs[n].config.shared_knobs()]
        if not takers and (own := [n for n in names if knob in specs[n].config.scoped_only]):
            raise ConfigError(
                f"--set {knob}=…: {own[0]} takes {knob} only when named: "
                f"--set {own[0]}.{knob}=… (it would no longer be the plain reference)."
            )
        if not takers:
            raise ConfigError(
                f"--set {knob}=…: none of the methods run ({', '.join(names)}) has a knob "
                f"{knob!r}. See `scarce methods`."
            )
        for n in takers:
            configs.setdefault(n, {}).setdefault(knob, value)
    return configs


def _detail_keys(splits: list[Split], protocol: str) -> set[tuple[int | None, int]]:
    if protocol == "episodes":  # every episode of the largest K, mapped to the pool's classes
        top = max(s.shots or 0 for s in splits)
        return {(top, s.repeat) for s in splits if s.shots == top}
    if protocol == "kshot":
        return {(max(s.shots or 0 for s in splits), 0)}
    if protocol == "domain":  # the fewest target labels: with none, the main result
        return {(min(s.shots or 0 for s in splits), 0)}
    return {(None, 0)}


class Units:
    """The runs grouped into the units of an interval: a repeat (folds averaged within it);
    with fewer k-fold repeats than a verdict needs, each fold of each repeat (walk 32: one
    repeat gave a verdict from its 5 folds, and two repeats refused one). Every interval of
    a results document, of a method or of a paired difference, is taken over these units
    and counts the pool's own variance the same way (audit 20: `--versus` and the other
    paired tables once took each run as a unit and left the test items' variance out, and
    covered 82% where 95% was said)."""

    def __init__(
        self,
        runs: list[dict[str, Any]],
        pool: LabeledSet,
        protocol: str,
        repeats: int,
        test: LabeledSet | None = None,
    ) -> None:
        self.runs, self.pool = runs, pool
        self.unit = self.name(protocol, repeats)
        # exact copies are one test item (their scores move together), in the pool and in a
        # given test set (keyed after the pool's): each key's stand-in is its copies' first
        hashes = list(pool.inputs.hashes) + ([] if test is None else list(test.inputs.hashes))
        groups = copy_groups(hashes)
        self._rep = None if groups is None else np.unique(groups, return_index=True)[1][groups]

    @staticmethod
    def name(protocol: str, repeats: int) -> str:
        """'fold' with fewer k-fold repeats than a verdict needs, else 'repeat'."""
        return "fold" if protocol == "kfold" and repeats < MIN_VERDICT_REPEATS else "repeat"

    def per_unit(
        self, method: str, k: int | None, metric: str, task: str | None = None
    ) -> dict[Any, float]:
        """Each unit's mean `metric` of `method` at `k` shots (on another `task`: the runs'
        "tasks" scores), keyed by repeat, or by (repeat, fold)."""
        vals: dict[Any, list[float]] = {}
        for r in self.runs:
            if r["method"] != method or r["shots"] != k:
                continue
            scores = r["metrics"] if task is None else r.get("tasks", {}).get(task)
            if scores is not None and metric in scores:
                unit = (r["repeat"], r["fold"]) if self.unit == "fold" else r["repeat"]
                vals.setdefault(unit, []).append(scores[metric])
        return {u: float(np.mean(v)) for u, v in vals.items()}

    def scored(
        self, method: str, k: int | None, metric: str
    ) -> dict[tuple[int, int | None], tuple[np.ndarray, np.ndarray]]:
        """Per run of `method` at `k`: (test item keys, their `metric` scores); the keys of a
        pool's copies are one key."""
        return {
            (r["repeat"], r["fold"]): (self._key(r["_items"][0]), r["_items"][1][metric])
            for r in self.runs
            if r["method"] == method and r["shots"] == k and "_items" in r
        }

    def _key(self, keys: np.ndarray) -> np.ndarray:
        """Each key (a pool position, or a given test set's past the pool) as its copies'
        first."""
        return keys if self._rep is None else self._rep[np.asarray(keys)]

    def trained(
        self, method: str, k: int | None, metric: str
    ) -> dict[tuple[int, int | None], tuple[np.ndarray, float]]:
        """Per run of `method` at `k` that redrew its support from the pool (episodes): (the
        keys trained on, the run's `metric`)."""
        return {
            (r["repeat"], r["fold"]): (r["_support"], r["metrics"][metric])
            for r in self.runs
            if r["method"] == method and r["shots"] == k and "_support" in r
        }

    def items(
        self, method: str, k: int | None, metric: str, versus: str | None = None
    ) -> tuple[float, int]:
        """The share of the variance of the mean (of a paired difference, with `versus`)
        owed to which items the pool holds: those tested on, and those trained on where
        episodes redraw them from the pool; 0 where the unit of the interval already varies its
        items (the folds of a single k-fold) or the metric is not a mean over items."""
        if self.unit == "fold" or metric not in M.PER_ITEM:
            return 0.0, 0
        a, sa = self.scored(method, k, metric), self.trained(method, k, metric)
        if versus is None:
            test_side = item_variance(list(a.values()))
            train_side = support_variance(list(sa.values()), self.pool.y)
        else:
            b, sb = self.scored(versus, k, metric), self.trained(versus, k, metric)
            both = sorted(set(a) & set(b), key=str)
            test_side = item_variance([(a[u][0], a[u][1] - b[u][1]) for u in both])
            both = sorted(set(sa) & set(sb), key=str)
            diffs = [(sa[u][0], sa[u][1] - sb[u][1]) for u in both]
            train_side = support_variance(diffs, self.pool.y)
        # both sides of the pool in one term; the fewer items set its degrees of freedom
        counts = [c for c in (test_side[1], train_side[1]) if c]
        return test_side[0] + train_side[0], min(counts) if counts else 0

    def change(
        self, method: str, k0: int, k1: int, metric: str, confidence: float
    ) -> Interval | None:
        """How `method`'s mean `metric` moved from `k0` to `k1` shots, with its interval: the
        test items' side from each item's change (items tested at both, averaged over the
        runs), the training side (episodes) of each point added. None without two units
        at each."""
        u0, u1 = self.per_unit(method, k0, metric), self.per_unit(method, k1, metric)
        if len(u0) < 2 or len(u1) < 2:
            return None
        pool_side: tuple[float, int] = (0.0, 0)
        scored = [list(self.scored(method, k, metric).values()) for k in (k0, k1)]
        if self.unit != "fold" and metric in M.PER_ITEM and all(scored):
            (ka, ma), (kb, mb) = (item_means(s) for s in scored)
            both, ia, ib = np.intersect1d(ka, kb, return_indices=True)
            test_side = item_variance([(both, mb[ib] - ma[ia])])
            train = [
                support_variance(list(self.trained(method, k, metric).values()), self.pool.y)
                for k in (k0, k1)
            ]
            counts = [c for c in (test_side[1], *(n for _, n in train)) if c]
            pool_side = (test_side[0] + sum(v for v, _ in train), min(counts) if counts else 0)
        return change_interval(list(u0.values()), list(u1.values()), confidence, pool_side)


def _assemble(
    pool: LabeledSet,
    test: LabeledSet | None,
    names: list[str],
    specs: dict,
    cfgs: dict,
    encoder: Encoder | None,
    runs: list[dict[str, Any]],
    protocol: str,
    shots: Sequence[int],
    repeats: int,
    folds: int,
    seed: int,
    how: str,
    confidence: float,
    reference: str = BASELINE,
    small_pool: str | None = None,
) -> dict[str, Any]:
    metric_names = ["accuracy", "balanced_accuracy", "macro_f1", "log_loss", "ece"]
    if len(pool.classes) == 2:
        metric_names.append("roc_auc")
    shot_values: list[int | None] = sorted({r["shots"] for r in runs if r["shots"] is not None})
    if protocol == "kfold":
        shot_values = [None]

    units = Units(runs, pool, protocol, repeats, test)
    per_unit, items = units.per_unit, units.items

    summary: list[dict[str, Any]] = []
    paired: list[dict[str, Any]] = []
    negative: list[dict[str, Any]] = []
    untested: list[dict[str, Any]] = []  # below the reference, on too few repeats to judge
    for k in shot_values:
        for m in names:
            for metric in metric_names:
                v = per_unit(m, k, metric)
                if not v:
                    continue
                iv = interval(
                    list(v.values()), how, confidence, seed, M.bounds(metric), items(m, k, metric)
                )
                summary.append({"method": m, "shots": k, "metric": metric, **iv.as_dict()})
            if m == reference:
                continue
            for metric in metric_names:
                a, b = per_unit(m, k, metric), per_unit(reference, k, metric)
                common = sorted(set(a) & set(b))
                if not common:
                    continue
                diffs = [a[i] - b[i] for i in common]
                pool_side = items(m, k, metric, versus=reference)
                iv = interval(
                    diffs, how, confidence, seed, M.bounds(metric, paired=True), pool_side
                )
                if metric == "accuracy":
                    iv = _alike_on_every_item(iv, diffs, pool_side, confidence)
                said = verdict(iv, metric not in M.LOWER_IS_BETTER)
                paired.append(
                    {
                        "method": m,
                        "versus": reference,
                        "shots": k,
                        "metric": metric,
                        **iv.as_dict(),
                        "verdict": said,
                    }
                )
                flag = specs[m].domain if reference != BASELINE else specs[m].uses_encoder
                if metric == "accuracy" and said == "worse" and flag:
                    negative.append(
                        {
                            "method": m,
                            "shots": k,
                            "mean": iv.mean,
                            "low": iv.low,
                            "high": iv.high,
                            "message": _negative_message(m, k, iv, encoder, reference)
                            # walk 30: after "use the baseline", the caution that weighs it
                            + (f" Before acting on it: {small_pool}." if small_pool else ""),
                        }
                    )
                if metric == "accuracy" and said == TOO_FEW and flag and iv.mean < 0:
                    untested.append(
                        {
                            "method": m,
                            "shots": k,
                            "mean": iv.mean,
                            "n": iv.n,
                            "message": _untested_message(m, k, iv.mean, iv.n, reference),
                        }
                    )
                if metric == "accuracy" and said == "better" and m == BASELINE:
                    # domain protocol: the encoder itself hurts, adaptation aside
                    worse = Interval(-iv.mean, -iv.high, -iv.low, iv.n)
                    mean = {n: np.mean(list(per_unit(n, k, metric).values()) or [0]) for n in names}
                    adapted = [n for n in names if specs[n].domain and n != reference]
                    best = max(adapted, key=lambda n: mean[n], default=None)
                    # walk 19: "use the baseline" read wrong beside an adapted method above it
                    rescued = (
                        (best, float(mean[best]), float(mean[BASELINE]))
                        if best is not None and mean[best] > mean[BASELINE]
                        else None
                    )
                    negative.append(
                        {
                            "method": reference,
                            "shots": k,
                            "mean": worse.mean,
                            "low": worse.low,
                            "high": worse.high,
                            "message": _negative_message(
                                reference, k, worse, encoder, domain=True, rescued=rescued
                            ),
                        }
                    )

    curves = {}
    if protocol in ("kshot", "episodes") and len(shot_values) >= 2:
        k0, k1 = min(shot_values), max(shot_values)
        for m in names:
            pts = [s for s in summary if s["method"] == m and s["metric"] == "accuracy"]
            change = units.change(m, k0, k1, "accuracy", confidence)
            curves[m] = {
                "metric": "accuracy",
                "points": [{k: p[k] for k in ("shots", "mean", "low", "high")} for p in pts],
                "fit": fit_curve(
                    *([p[f] for p in pts] for f in ("shots", "mean", "low", "high")),
                    change=change,
                ),
            }
            if change is not None:
                curves[m]["change"] = {"from": k0, "to": k1, **change.as_dict()}

    details = {}
    for m in names:
        mine = [r for r in runs if r["method"] == m and "_proba" in r]
        if not mine:
            continue
        proba = np.concatenate([r["_proba"] for r in mine])
        tests = [r["_test"] for r in mine]
        y = np.concatenate([t.y for t in tests])
        items = [
            it
            for t in tests
            for it in (t.inputs.names if t.modality == "image" else t.inputs.items)
        ]
        rel = M.reliability(y, proba)
        wrong = np.flatnonzero(proba.argmax(1) != y)
        wrong = wrong[np.argsort(-proba[wrong].max(1), kind="stable")][:HARDEST]
        details[m] = {
            "shots": mine[0]["shots"],
            "repeat": 0 if protocol != "episodes" else f"all {len(mine)} episodes",
            "confusion": M.confusion(y, proba),
            "per_class_f1": M.per_class_f1(y, proba, pool.classes),
            "reliability": {k: rel[k] for k in ("bins", "confidence", "accuracy", "count")},
            "hardest": [
                {
                    "input": str(items[i])[:500],
                    "true": pool.classes[int(y[i])],
                    "predicted": pool.classes[int(proba[i].argmax())],
                    "confidence": float(proba[i].max()),
                }
                for i in wrong
            ],
        }

    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scarce_version": __version__,
        "versions": library_versions(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "seed": seed,
        "data": {
            "source": pool.source,
            "cwd": os.getcwd(),  # relative image paths below are relative to it
            "modality": pool.modality,
            **pool.hash_record(),
            "n": len(pool),
            "classes": list(pool.classes),
            "counts": pool.counts(),
            "test": None
            if test is None
            else {
                "source": test.source,
                **test.hash_record(),
                "n": len(test),
                "counts": test.counts(),
            },
        },
        "protocol": {
            "name": protocol,
            "shots": sorted(set(shots)) if protocol in ("kshot", "episodes", "domain") else [],
            "repeats": repeats,
            "folds": folds if protocol == "kfold" else None,
            "test": "fold" if protocol == "kfold" else ("given" if test else "rest"),
            "interval": how,
            "confidence": confidence,
            # what an interval is taken over: "fold" (each fold of each repeat: they test on
            # disjoint items) or "repeat" (draws that may share test items)
            "interval_unit": units.unit,
        },
        "backbone": encoder.spec.name if encoder is not None else None,
        "baseline": reference,
        "methods": [
            {
                "name": n,
                "description": _describe(n, specs[n], cfgs[n], pool, encoder),
                "transfer": specs[n].uses_encoder,
                "config": cfgs[n].to_dict(),
                "changed": _changed(specs[n], cfgs[n]),
            }
            for n in names
        ],
        "metrics": metric_names,
        "runs": [{k: v for k, v in r.items() if not k.startswith("_")} for r in runs],
        "summary": summary,
        "paired": paired,
        "negative_transfer": negative,
        "negative_transfer_untested": untested,
        "curves": curves,
        "details": details,
    }


def _changed(spec: Any, cfg: Any) -> dict[str, Any]:
    """The knobs set away from the method's defaults (walk 23: a report of
    self_training=on read as the default's)."""
    default = spec.config.from_dict(None, owner=spec.name).to_dict()
    return {k: v for k, v in cfg.to_dict().items() if default.get(k) != v}


def _negative_message(
    m: str,
    k: int | None,
    iv: Any,
    encoder: Encoder | None,
    reference: str = BASELINE,
    domain: bool = False,
    rescued: tuple[str, float, float] | None = None,
) -> str:
    """`iv`: m minus reference. `domain` with the baseline as reference: both learned the
    source, and k counts target labels; `rescued`: (an adapted method, its accuracy, the
    baseline's) where adaptation on this encoder beats the baseline all the same."""
    if reference != BASELINE:
        return (
            f"NEGATIVE TRANSFER: adapting with {m} made the target accuracy worse than "
            f"{reference} by {-iv.mean:.3f} (95% interval of the difference [{iv.low:+.3f}, "
            f"{iv.high:+.3f}]) with {k} target label(s) per class. Use {reference} for this "
            "pair, or another domain method."
        )
    if domain:
        at = f"with {k} target label(s) per class (both trained on the source)"
    else:
        at = f"at {k} shot(s) per class" if k is not None else "under cross-validation"
    name = encoder.spec.name if encoder is not None else "encoder"
    said = (
        f"NEGATIVE TRANSFER: {m} is worse than the from-scratch baseline {at} by "
        f"{-iv.mean:.3f} accuracy (95% interval of the difference [{iv.low:+.3f}, "
        f"{iv.high:+.3f}])."
    )
    if rescued is not None:
        best, acc, base = rescued
        return (
            f"{said} The pretrained {name}'s features do not carry over from the source as "
            f"they are, but adapting them does: {best} scores {acc:.3f} against the "
            f"baseline's {base:.3f} (compare the two in the table above before choosing)."
        )
    return (
        f"{said} The pretrained {name} does not suit this data: use the baseline, or try "
        "another --backbone."
    )


def _untested_message(m: str, k: int | None, mean: float, n: int, reference: str) -> str:
    at = f"at {k} shot(s) per class" if k is not None else "under cross-validation"
    return (
        f"NOT TESTED: {m} is {-mean:.3f} accuracy below {reference} {at}, but {n} paired "
        f"{plural('repeat', n)} cannot tell whether that is negative transfer or chance "
        f"({repeats_needed(n)}+ needed): run again with --repeats {repeats_needed(n)} or more."
    )


def _describe(name: str, spec: Any, cfg: Any, pool: LabeledSet, encoder: Encoder | None) -> str:
    if hasattr(spec.method, "describe"):
        return spec.method.describe(pool.modality, cfg)
    on = f" ({encoder.spec.name})" if encoder is not None and spec.uses_encoder else ""
    return f"{name}{on}"
