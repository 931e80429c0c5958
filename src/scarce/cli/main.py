"""`scarce` command line. Exit codes: 0 ok, 2 bad usage or bad input, 130 interrupted (Ctrl-C),
1 anything else."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import sys
import textwrap
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from scarce.core.errors import (
    ConfigError,
    DataError,
    InputError,
    ScarceError,
    UnusableImages,
)
from scarce.core.logs import command_line, fixed, plural
from scarce.core.progress import set_quiet

app = typer.Typer(
    name="scarce",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # paragraphs of the docstrings reflow to the terminal (rich mode kept their line breaks)
    rich_markup_mode="markdown",
    help="Few labels, strong classifiers: transfer learning for images and text.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _plain_flags() -> None:
    """Typer 0.29 shows '<bool>' beside on/off switches (--proba, --quiet, --help), which
    reads as if they took a value (audit 26: `--proba true` was tried), and '<list[Path]>'
    beside arguments named by their metavar: those show none."""
    core = getattr(typer, "core", None)
    for name, plain in (
        ("TyperOption", lambda p: p.is_flag and p.metavar is None),
        ("TyperArgument", lambda p: p.metavar is not None),
    ):
        cls = getattr(core, name, None)
        shown = getattr(cls, "display_type_rich", None)
        if shown is None or getattr(shown, "_scarce", False):
            continue

        def display_type_rich(self: Any, ctx: Any, shown: Any = shown, plain: Any = plain) -> Any:
            return "" if plain(self) else shown(self, ctx)

        display_type_rich._scarce = True  # type: ignore[attr-defined]
        cls.display_type_rich = display_type_rich


_plain_flags()


def _version(value: bool) -> None:
    if value:
        from scarce import __version__
        from scarce.core.environment import library_versions

        v = library_versions()
        _echo(f"scarce {__version__} (python {v.get('python')}, torch {v.get('torch', 'absent')})")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Few labels, strong classifiers: transfer learning for images and text."""
    ctx.call_on_close(command_line())  # messages name the flags as typed: no Python notes


# how predict's own output begins (its header, or its first JSON row), after any BOM a
# spreadsheet added: what --out may replace
PREDICTIONS = re.compile(rb'(\xef\xbb\xbf)?(input,prediction|\{"input": )')

# the selection estimates in words: none but the last two measure the target's accuracy
ESTIMATES = {
    "source_val_accuracy": "held-out source accuracy",
    "source_val_loss": "source log-loss",
    # walk 35: read as the target's loss where the source does not cover the target
    "dev_risk": "importance-weighted source loss (DEV, the target's loss as far as the source "
    "covers the target)",
    "target_information": "target confidence score (information)",
    "target_labeled_accuracy": "held-out target accuracy",
    "target_labeled_loss": "held-out target log-loss",
}

AUTO_SUMMARY = (
    "picks one of the methods above, on each installed encoder, by cross-validation inside "
    "the training data; the manifest records what it tried and why"
)

Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No progress bars, warnings or explanations: the results only."
    ),
]
Seed = Annotated[int, typer.Option(help="Seed for every random choice.")]
Modality = Annotated[str | None, typer.Option(help="Force 'image' or 'text' (default: detect).")]
TextCol = Annotated[str, typer.Option(help="Column holding the text.")]
LabelCol = Annotated[str, typer.Option(help="Column holding the label.")]


def _setup(quiet: bool, verbose: bool = False) -> None:
    set_quiet(quiet)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr, force=True
    )
    logging.getLogger("scarce").setLevel(logging.INFO if verbose else logging.WARNING)
    if quiet:  # made but not shown: an eval's kept fits keep them for a run that shows them
        for h in logging.getLogger().handlers:
            h.addFilter(lambda r: r.levelno >= logging.ERROR or not r.name.startswith("scarce"))


def _echo(msg: str = "") -> None:
    typer.echo(msg)


def _detail(msg: str) -> None:
    """An explanation beside a result: left out with --quiet, which keeps the results."""
    from scarce.core.progress import is_quiet

    if not is_quiet():
        typer.echo(msg)


def _note(msg: str) -> None:
    typer.echo(msg, err=True)


def _modality(value: str | None) -> Any:
    if value not in (None, "image", "text"):
        raise ConfigError(f"--modality must be 'image' or 'text', got {value!r}.")
    return value


def _parse_sets(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise ConfigError(f"--set expects key=value, got {p!r} (e.g. --set C=0.5).")
        k, v = p.split("=", 1)
        k = k.strip()
        if k in out and out[k] != v.strip():  # walk 15: the last one silently won
            raise ConfigError(
                f"--set {k} is given twice ({out[k]!r} and {v.strip()!r}); keep one. To compare "
                "values, use scarce eval, or fit each into its own bundle."
            )
        out[k] = v.strip()
    return out


@app.command()
def fit(
    data: Annotated[
        Path,
        typer.Argument(
            help="Image folder (one sub-folder per class), "
            "path,label CSV, or text CSV/TSV/JSONL/Parquet. With --source: the unlabeled "
            "target domain (a folder of images or a text file; labels in it are not read)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the bundle.")],
    method: Annotated[
        str | None,
        typer.Option(help="See `scarce methods` (default linear-probe; with --source, required)."),
    ] = None,
    backbone: Annotated[str | None, typer.Option(help="See `scarce backbones`.")] = None,
    test: Annotated[Path | None, typer.Option(help="Labeled test data to score the model.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Method knob key=value (repeatable)."),
    ] = None,
    seed: Seed = 0,
    budget: Annotated[
        float | None, typer.Option(help="Seconds --method auto may spend choosing (default 300).")
    ] = None,
    base: Annotated[
        Path | None,
        typer.Option(
            help="Labeled data of other classes to meta-train on first (protonet, simpleshot, "
            "maml, reptile)."
        ),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            help="Labeled data of the source domain: adapt from it to the unlabeled DATA "
            "(source-only, dann, mmd, coral, cdan, mcc)."
        ),
    ] = None,
    labeled_target: Annotated[
        Path | None,
        typer.Option(help="A few labeled examples of the target domain (with --source)."),
    ] = None,
    unlabeled: Annotated[
        Path | None,
        typer.Option(
            help="Unlabeled inputs (a folder of images or a text file) of the same kind: "
            "linear-probe self-trains on them where cross-validation finds that it helps; "
            "distill adds them to its transfer set."
        ),
    ] = None,
    teacher: Annotated[
        Path | None,
        typer.Option(help="A .scarce bundle that --method distill learns from."),
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=DATA",
            help="Another task for --method multitask: name=DATA (repeatable); DATA itself is "
            "the primary task. Or --label-column a,b for several columns of one table.",
        ),
    ] = None,
    modality: Modality = None,
    text_column: TextCol = "text",
    label_column: LabelCol = "label",
    standalone: Annotated[
        bool,
        typer.Option(
            help="Copy the frozen backbone's weights into the bundle, so that it loads where "
            "their pip package is missing or holds other weights (the code packages are "
            "still needed)."
        ),
    ] = False,
    quiet: Quiet = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Also say what happens inside (ONNX exports, caches, ...)."
        ),
    ] = False,
) -> None:
    """Fit a classifier on DATA and write a model bundle.

    --method auto chooses the method by cross-validation inside DATA; with --source, DATA is
    the unlabeled target that the model adapts to.

    Example: scarce fit data/defects --out defects.scarce --test data/defects-test

    Example: scarce fit data/defects --unlabeled more_photos/ --out defects.scarce

    Example: scarce fit new_line_photos/ --source old_line/ --method mcc --out m.scarce

    Example: scarce fit data/ --method distill --teacher big.scarce --unlabeled more/ --out s.scarce
    """
    _setup(quiet, verbose)
    from scarce import api, bundle

    if standalone and backbone is not None:
        from scarce.encoders.base import can_bundle, encoders

        if backbone in encoders.names() and not can_bundle(backbone):
            raise ConfigError(
                f"{backbone}'s weights cannot be copied into a bundle (it runs in its own "
                "engine): drop --standalone, or choose another --backbone."
            )
    tasks = _parse_tasks(task)
    given = (data, test, base, source, labeled_target, unlabeled, teacher, *(tasks or {}).values())
    bundle.check_target(out, inputs=given, flag="--out")
    t0 = time.perf_counter()
    model = api.fit(
        data,
        method=method,
        backbone=backbone,
        config=_parse_sets(set_),
        seed=seed,
        test=test,
        modality=_modality(modality),
        text_column=text_column,
        label_column=label_column,
        budget=budget,
        base=base,
        source=source,
        labeled_target=labeled_target,
        unlabeled=unlabeled,
        teacher=teacher,
        tasks=tasks,
    )
    model.save(out, standalone=standalone)
    _finished()
    m = model.manifest
    if "auto" in m:
        _echo(f"auto: {m['auto']['why']}")
    if "domain" in m:
        sel = m["domain"]["selection"]
        est = ", ".join(
            f"{ESTIMATES.get(k, k)} {v:.3g}"
            for k, v in sel["estimates"].items()
            if k in ESTIMATES or not k.endswith("_se")
        )
        then = ""
        if refit := sel.get("refit"):
            n_t = refit["labeled_target"]
            both = f" and {n_t} target" if n_t else ""
            then = f"; then refit on all {refit['source']} source{both} labels"
        n_t = m["domain"]["target"]["n"]
        rounds = m["config"].get("self_training")
        selftrained = (
            f"{rounds} round(s) of self-training on the {n_t} unlabeled target examples (their "
            "pseudo-labels trained it"
        )
        if m["method"] != "source-only":
            verb = f"adapted to {n_t} unlabeled target {plural('example', n_t)}"
            if rounds:  # walk 41: said only in the manifest
                verb += f", then {selftrained})"
        elif rounds:  # walk 28: said "no adaptation" here too
            verb = f"no transfer loss, but {selftrained}: this adapts)"
        else:  # no transfer loss: the target only standardises (and maybe scores)
            scored = " and scored the checkpoints" if sel["criterion"] in ("entropy", "dev") else ""
            verb = (
                f"no adaptation (the reference): the {n_t} unlabeled target examples only "
                f"standardised the features{scored}"
            )
        _detail(
            f"{verb}; chosen by "
            f"{sel['criterion']} ({sel['why']}): step {sel['step']}"
            + (f", trade-off {sel['trade_off']}" if sel["trade_off"] is not None else "")
            + f"; {est}{then}."
            + ("" if "test_accuracy" in m["metrics"] else f" Note: {sel['note']}.")
        )
    counts = _counts_text(m["data"]["counts"], m["data"].get("distinct"))
    on = f" with {m['backbone']['id']}" if m["backbone"] else " (no pretrained encoder)"
    what = f"examples ({counts})"
    if "domain" in m:  # the counts are the source's (walk 17: they read as the sum's)
        lt = m["domain"].get("labeled_target")
        what = f"source examples ({counts})" + (f" + {lt['n']} labeled target" if lt else "")
    took = f"{time.perf_counter() - t0:.1f}s"
    if "seconds" in m.get("auto", {}):  # walk 13: the search's seconds read as the method's
        took += f" (the choice {m['auto']['seconds']:.1f}s of it)"
    _echo(f"fitted {m['method']} on {m['data']['n']} {what}{on} in {took}")
    if "test_accuracy" in m["metrics"]:
        mt = m["metrics"]
        _echo(
            f"test accuracy: {mt['test_accuracy']:.3f}"
            f"{_balanced(mt['test_accuracy'], mt.get('test_balanced_accuracy'))} "
            f"on {mt['test_size']} examples{_majority(mt.get('test_counts') or {})}"
        )
        for name, t in mt.get("tasks", {}).items():
            _echo(
                f"  task {name!r}: test accuracy {t['test_accuracy']:.3f}"
                f"{_balanced(t['test_accuracy'], t.get('test_balanced_accuracy'))} "
                f"on {t['test_size']} examples"
            )
    if vs := m["metrics"].get("versus_source_only"):
        d = vs["difference"]
        hurt = (
            ": adapting hurt on this test (negative transfer); use source-only, or label a few "
            "target examples (--labeled-target)"
            if vs["verdict"] == "worse"
            else ""
        )
        said = vs["verdict"].replace("repeats", "test examples")  # paired per example here
        # walk 39: a plain line, where eval's verdict starts with these words
        flag = "NEGATIVE TRANSFER: " if vs["verdict"] == "worse" else ""
        name = m["method"]
        if name == "source-only":  # adapted by self-training alone (walk 41)
            name = "self-trained source-only"
        _echo(
            f"{flag}source-only on the same test: {vs['accuracy']:.3f}; {name} minus "
            f"source-only {fixed(d['mean'], sign=True)} [{fixed(d['low'], sign=True)}, "
            f"{fixed(d['high'], sign=True)}], {said}{hurt}"
        )
        # walk 35: "better" by +0.115 here read -0.023 over 3 seeds in eval
        _detail(
            "that interval covers which test examples were drawn, not the seed: adaptation "
            "varies from seed to seed, which scarce eval --protocol domain measures."
        )
    if v := m["metrics"].get("validation"):
        # unequal classes: balanced accuracy first, as finetune reports only that (walk 26:
        # the probe's 0.750 beside 'would score 0.667' and finetune's 0.700 beside 0.167)
        unequal = len(set(m["data"]["counts"].values())) > 1
        first = ("balanced_accuracy", "accuracy") if unequal else ("accuracy", "balanced_accuracy")
        what = next(k for k in (*first, "source_accuracy") if k in v)
        score = v[what]
        beside = (
            _balanced(score, v.get("balanced_accuracy"))
            if what == "accuracy"
            else _balanced(score, v.get("accuracy"), "accuracy")
        )
        what = what.replace("_", " ")
        # the floor of the examples validated on: a domain fit's are target labels or held-out
        # source, not DATA (walk 29: the source's share beside a target-label validation)
        floor = _majority(v.get("counts") or m["data"]["counts"], what == "balanced accuracy")
        _detail(f"validation {what}: {score:.3f}{beside} ({v['how']}){floor}")
    if (note := m["metrics"].get("note")) and "domain" not in m:
        _detail(f"{note}.")
    if "distill" in m["metrics"]:
        _detail(_distill_text(m["metrics"]["distill"]))
    if m["method"] == "finetune":
        _detail(_finetune_text(model.fitted.meta))
    if m["method"] == "setfit" and "passes_per_example" in model.fitted.meta:
        sm = model.fitted.meta
        _detail(
            f"contrastive training: {sm['steps']} steps of {sm['mean_batch']:g} examples "
            f"(every pair among them), each example seen {sm['passes_per_example']:g} times "
            f"on average; {sm['blocks']} {plural('unit', sm['blocks'])} trained"
            + (f"; head C {sm['head_C']:g}." if isinstance(sm.get("head_C"), int | float) else ".")
        )
    if st := (getattr(model.fitted, "meta", None) or {}).get("self_training"):
        _detail(_self_training_text(st))
    if verdict := m.get("base", {}).get("meta_training", {}).get("verdict"):
        ep = m["base"]["meta_training"]["train_episode"]
        again = (
            " (reused: an earlier fit had the same base data, encoder, meta-training settings "
            "and seed)"
            if m["base"]["meta_training"].get("reused")
            else ""
        )
        _detail(
            f"meta-training on {len(m['base']['classes'])} base classes ({ep}): {verdict}.{again}"
        )
    if "tasks" in m:
        w = model.fitted.meta.get("task_weights", {})
        first = next(iter(m["tasks"]))
        # weights relative to the primary task's, which reads better than raw 1/sigma^2
        # (walk 32: 'weight 11.2964' beside 'weight 6.3397', unexplained)
        rel = {n: (w.get(n) or 0) / w[first] if w.get(first) else None for n in m["tasks"]}
        _detail(
            "tasks: "
            + "; ".join(
                f"{n} ({t['n']} examples"
                + ("" if n == first or rel[n] is None else f", its loss weighed {rel[n]:.2f}x")
                + ")"
                for n, t in m["tasks"].items()
            )
            + (
                f" (the learned weights, relative to {first}'s)"
                if len({round(x or 0, 4) for x in w.values()}) > 1
                else ""
            )
        )
    _echo(f"wrote {out}")


def _shown(name: str) -> str:
    """A class name as typed, unless it holds characters a terminal does not show (a
    zero-width space printed 'te​a' as 'tea'): then escaped, as warnings show it."""
    return name if name.isprintable() else ascii(name)


def _counts_text(counts: dict[str, int], distinct: dict[str, int] | None = None) -> str:
    """Examples per class; many classes in a summary rather than one long line. Where some
    are exact copies, how many distinct (walk 30: 'admin: 10' was one text and its copies)."""
    if distinct and len(counts) <= 10:
        return ", ".join(
            f"{_shown(k)}: {v}" + (f" ({distinct[k]} distinct)" if distinct.get(k, v) < v else "")
            for k, v in counts.items()
        )
    if distinct:
        n, d = sum(counts.values()), sum(distinct.values())
        return f"{_counts_text(counts)}; {d} distinct of {n}"
    counts = {_shown(k): v for k, v in counts.items()}
    if len(counts) <= 10:
        return ", ".join(f"{k}: {v}" for k, v in counts.items())
    lo, hi = min(counts.values()), max(counts.values())
    if lo == hi:
        return f"{len(counts)} classes, {lo} each"
    big = max(counts, key=lambda k: counts[k])
    small = min(counts, key=lambda k: counts[k])
    return f"{len(counts)} classes, {lo} ({small}) to {hi} ({big}) each"


def _balanced(accuracy: float, balanced: float | None, name: str = "balanced accuracy") -> str:
    """Balanced accuracy beside accuracy (or `name`d the other way round), where the two
    differ (unequal classes)."""
    if balanced is None or abs(balanced - accuracy) < 5e-4:
        return ""
    return f", {name} {balanced:.3f}"


def _majority(counts: dict[str, int], balanced: bool = False) -> str:
    """With unequal classes an accuracy needs its floor beside it: always answering the
    largest class scores its share (in balanced accuracy, one over the classes: walk 17 set
    the share beside a balanced score). Classes apart by one example (an even split of
    equal classes) have no floor but chance's (walk 44: "always answering 'animals' would
    score 0.170" on 47 held-out source images of 6 classes read as the target's)."""
    if not counts:
        return ""
    big = max(counts, key=lambda k: counts[k])
    share = 1 / len(counts) if balanced else counts[big] / sum(counts.values())
    if counts[big] - min(counts.values()) <= 1 and share - 1 / len(counts) < 0.02:
        return ""  # 8 of 47 (0.170) against chance's 0.167; 2 of 3 is a floor (0.667)
    return f"; always answering {big!r} would score {share:.3f}"


def _parse_tasks(pairs: list[str] | None) -> dict[str, Path] | None:
    if not pairs:
        return None
    out: dict[str, Path] = {}
    for p in pairs:
        name, eq, path = p.partition("=")
        if not eq or not name.strip() or not path.strip():
            raise ConfigError(f"--task expects name=DATA, got {p!r} (e.g. --task topic=t.csv).")
        if name.strip() in out:
            raise ConfigError(f"--task {name.strip()!r} is given twice.")
        out[name.strip()] = Path(path.strip())
    return out


def _finetune_text(meta: dict[str, Any]) -> str:
    """What early stopping chose, so that "kept the linear probe" is never silent."""
    best, planned = meta.get("best_epoch"), meta.get("epochs_planned")
    how = meta.get("early_stopping", "off")
    if best == 0:
        chose = "kept epoch 0: the linear probe's head on the pretrained encoder was best"
    else:
        chose = f"kept epoch {best} of {planned}"
    rule = {
        "end": "the end of the schedule unless clearly below the probe",
        "best": "the best epoch",
    }.get(meta.get("keep", ""), "")
    blocks = meta.get("blocks")
    what = "the head only" if blocks == 0 else f"the top {blocks} {plural('unit', blocks or 0)}"
    lam = meta.get("l2sp")
    if lam is not None and blocks != 0:  # walk 17: the lambda chosen was never printed
        what += f", L2-SP lambda {lam:g}" + (" (searched)" if meta.get("l2sp_searched") else "")
    if meta.get("lr") and blocks != 0:
        what += f" at lr {meta['lr']:g}"
    text = f"trained {what} ({meta.get('mode')}); early stopping: {how}"
    if band := meta.get("defaults_for"):
        text = f"defaults for {band}: " + text
    if how != "off" and not str(how).startswith("none"):
        text += f"; {chose}" + (f" (keep={meta.get('keep')}: {rule})" if rule else "")
        # walk 26: a fine-tuned model validated below the probe's own cross-validation, and
        # nothing said what the same held-out examples gave the probe
        curve = meta.get("val_error_by_epoch") or meta.get("fold_error_by_epoch") or []
        if best and best < len(curve):
            which = (
                "balanced accuracy"
                if "balanced_accuracy" in meta.get("validation", {})
                else "accuracy"
            )
            text += (
                f"; there, {which} {1 - curve[best]:.3f} against the linear probe's "
                f"{1 - curve[0]:.3f} (epoch 0) on the same held-out examples"
            )
            n = (meta.get("validation") or {}).get("n")
            gain, p = curve[0] - curve[best], 1 - curve[0]
            noise = 2 * math.sqrt(max(p * (1 - p), 1e-12) / n) if n else 0.0
            if 1e-9 < gain < noise:  # walk 36: +0.10 on 4 small-class images per fold
                text += f", within the noise of {n} examples (about ±{noise:.2f})"
            if all(abs(e - curve[0]) < 1e-9 for e in curve):
                # walk 34: at 4 per class every epoch scored as the probe, and the fit cost
                # 2-5x the probe's time for the same test accuracy
                text += (
                    f", as every one of the {len(curve) - 1} epochs scored: fine-tuning "
                    "showed no gain these labels can see, so linear-probe would likely do as "
                    "well, in a fraction of the time"
                )
            losses = meta.get("val_loss_by_epoch") or []
            if meta.get("keep") == "best" and curve[best] > curve[0]:
                # walk 28: "the best epoch" beside a lower accuracy read as a contradiction
                text += ", within one standard error: a tie, which the lower log-loss decided" + (
                    f" ({losses[best]:.3f} against {losses[0]:.3f})" if best < len(losses) else ""
                )
    if meta.get("refit"):
        text += f"; refit {meta['refit']}"
    if best == 0 and how != "off":
        # walk 25: "trained the top 2 units" read as if the encoder had been tuned
        text = (
            "the result is the linear probe (the pretrained encoder and a head fitted on its "
            f"features): no encoder unit changed. Tried: {text}"
        )
    return text + "."


def _self_training_text(st: dict[str, Any]) -> str:
    """What became of --unlabeled in a linear probe: used or not, and on what evidence."""
    n = st["unlabeled"]
    text = f"--unlabeled: {n} {plural('input', n)}"
    if st["also_labeled"]:
        text += f" ({st['also_labeled']} also labeled, left out)"
    if st["used"]:
        text += f"; self-trained, {st['pseudo_labeled']} pseudo-labeled; {st['why']}"
    else:
        text += f"; not used: {st['why']}"
    return text + "."


def _speed(teacher_s: float, student_s: float, units: int, bigger: bool = False) -> str:
    ratio = teacher_s / max(student_s, 1e-9)
    if ratio >= 1:
        return f"{ratio:.1f}x faster"
    # walk 37: a student 6x the teacher's size was told to freeze its encoder
    smaller = "pick a smaller --backbone"
    fix = smaller if bigger or not units else "keep its encoder frozen (--set blocks=0)"
    return f"{1 / ratio:.1f}x SLOWER than the teacher: {fix}"


def _distill_text(d: dict[str, Any]) -> str:
    t, s = d["teacher"], d["student"]
    ts, ss = d["teacher_seconds_per_example"], d["student_seconds_per_example"]

    def acc(key: str) -> str:
        return f", test accuracy {d[key]:.3f}" if key in d else ""

    tp = f"{t['params'] / 1e6:.1f}M params" if t.get("params") else "params unknown"
    units = s.get("trained_units", 0)
    what = (
        f"{s['encoder']} ({units} top units trained) + head" if units else f"{s['encoder']} + head"
    )
    bigger = s["params"] > (t.get("params") or s["params"])
    # what the teacher made of --unlabeled, said as a linear probe's own fit says it
    st = t.get("self_training")
    taught = f" ({_self_training_text(st).rstrip('.')})" if st else ""
    text = (
        f"teacher {t['description']}{taught}: {tp}, {ts * 1000:.1f} ms per example"
        f"{acc('teacher_test_accuracy')}\n"
        f"student {what}: {s['params'] / 1e6:.1f}M params, {ss * 1000:.1f} ms "
        f"per example ({_speed(ts, ss, units, bigger)}); agrees with the teacher on "
        f"{d['agreement_with_teacher']:.0%} of the transfer set (what it trained on)"
        + (f", {d['agreement_on_test']:.0%} of the test" if "agreement_on_test" in d else "")
    )
    if p := d.get("student_linear_probe"):
        # walk 45: stored, never printed, and 0.721 beside the teacher's 0.729 read as a win
        # over a probe that the student did not clearly beat
        diff = p["difference"]
        same = (
            " self-trained on the same --unlabeled"
            if p.get("self_trained")
            else f" given the same --unlabeled (not self-trained: {p['self_training_why']})"
            if p.get("self_training_why")
            else ""
        )
        text += (
            f"\na linear probe on the student's encoder{same} scored {p['test_accuracy']:.3f} "
            f"on the test; distilled minus probe {fixed(diff['mean'], sign=True)} "
            f"[{fixed(diff['low'], sign=True)}, {fixed(diff['high'], sign=True)}], "
            f"{p['verdict']}"
        )
    return text


@app.command()
def predict(
    bundle: Annotated[Path, typer.Argument(help="A .scarce bundle from `scarce fit`.")],
    inputs: Annotated[
        list[Path],
        typer.Argument(
            metavar="inputs",
            help="Image files or folders, or a table with a path column (an image model); one "
            "text file (a text model); - reads texts from stdin, one per line.",
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help=".csv or .jsonl; stdout (CSV) when absent.")
    ] = None,
    proba: Annotated[
        bool, typer.Option("--proba", help="Add a proba_<class> column per class.")
    ] = False,
    text_column: Annotated[
        str | None,
        typer.Option(help="Column holding the text (default: the one the model was fitted on)."),
    ] = None,
    skip_bad: Annotated[
        bool,
        typer.Option(
            "--skip-bad",
            help="Predict the readable images and give each unreadable one a row with no "
            "prediction and an `error` (default: refuse the batch, naming them all).",
        ),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Predict with a bundle; one row per input.

    Example: scarce predict defects.scarce new_photos/ --proba --out preds.csv

    Example: echo "my card was charged twice" | scarce predict tickets.scarce -
    """
    _setup(quiet)
    from scarce import api
    from scarce.core.atomic import atomic_write, check_writable
    from scarce.data.sources import load_inputs

    if out is not None:
        if out.suffix.lower() not in (".csv", ".jsonl"):
            raise ConfigError(f"--out must end in .csv or .jsonl, got {out.name!r}.")
        check_writable(
            out, inputs=(bundle, *inputs), example=f"predictions{out.suffix}", ours=PREDICTIONS
        )
    model = api.load(bundle)
    skipped: list[tuple[int, str, str]] | None = [] if skip_bad else None
    if skip_bad and model.modality != "image":
        raise ConfigError("--skip-bad is for image models (empty texts are always predicted).")
    try:
        x = load_inputs(  # `-`: texts from standard input, read as a .txt file is
            inputs,
            modality=model.modality,
            text_column=text_column or model.text_column,
            fallback_to_text=text_column is None,  # a column the user names must be there
            allow_empty=True,
            skipped=skipped,
        )
    except UnusableImages as e:
        if skip_bad:  # every one was unusable
            raise
        raise UnusableImages(
            f"{e}\nNothing was written. To predict the others, add --skip-bad: each unusable "
            "image then gets a row with its error."
        ) from None
    except DataError as e:
        missing = [p for p in inputs if not p.exists() and str(p) != "-"]
        if model.modality != "text" or not missing:
            raise
        # walk 19: a sentence typed as INPUT read "no such file. Check the path."
        raise DataError(
            f"{e} To predict texts typed here, pipe them in, one per line: echo "
            f'"{str(missing[0])[:40]}" | scarce predict {bundle} -'
        ) from None
    if skipped:
        logging.getLogger("scarce.cli").warning(
            "%d unreadable image(s) skipped, each with an empty prediction and its error: %s%s",
            len(skipped),
            "; ".join(why.rstrip(".") for _, _, why in skipped[:3]),
            " ..." if len(skipped) > 3 else "",
        )
    rows = model.prediction_rows(x, proba=proba, skipped=skipped)
    if out is not None and out.suffix.lower() == ".jsonl":
        if model.modality == "text":  # a row number is a number in JSON
            rows = [{**r, "input": int(r["input"])} for r in rows]
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    else:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        text = buf.getvalue()
    if out is None:
        sys.stdout.write(text)
    else:
        with atomic_write(out, "w") as f:
            f.write(text)
        _finished()
        if not quiet:
            _note(f"wrote {len(rows)} predictions to {out}")


@app.command()
def export(
    bundle: Annotated[Path, typer.Argument(help="A .scarce bundle from `scarce fit`.")],
    onnx: Annotated[
        Path | None, typer.Option("--onnx", help="Also write the graph to this .onnx file.")
    ] = None,
    embed: Annotated[
        bool,
        typer.Option(
            "--embed/--no-embed",
            help="Put the graph into the bundle as model.onnx (listed and hashed in its "
            "manifest); --no-embed leaves the bundle as it is.",
        ),
    ] = True,
    quiet: Quiet = False,
) -> None:
    """Export a bundle as one ONNX graph: prepared input -> class probabilities.

    The graph goes into the bundle (model.onnx, and model.tokenizer.json for text models)
    and, with --onnx, to a file of its own.

    Example: scarce export defects.scarce --onnx defects.onnx
    (text models also get defects.tokenizer.json; the graph's metadata names the classes
    and the preprocessing)
    """
    _setup(quiet)
    from scarce import api
    from scarce import bundle as bundle_io
    from scarce.core.atomic import check_writable
    from scarce.export import ONNX_MARK, export_onnx

    if onnx is None and not embed:
        raise ConfigError(
            "nothing to write: --no-embed leaves the bundle as it is, so give --onnx FILE "
            "(e.g. scarce export model.scarce --onnx model.onnx --no-embed)."
        )
    if onnx is not None:
        if onnx.suffix.lower() != ".onnx":
            raise ConfigError(f"--onnx must end in .onnx, got {onnx.name!r}.")
        check_writable(onnx, inputs=(bundle,), flag="--onnx", example="model.onnx", ours=ONNX_MARK)
        if bundle.is_dir() and onnx.resolve().is_relative_to(bundle.resolve()):
            raise ConfigError(  # walk 16: an unlisted file there makes the bundle unloadable
                f"--onnx {onnx} is inside the folder bundle {bundle}; write it elsewhere (the "
                "bundle takes its own copy as model.onnx unless --no-embed)."
            )
    model = api.load(bundle, spare_graph=True)  # a damaged graph is what export replaces
    if embed:  # before the export's work, which add_files would refuse only at its end
        try:
            bundle_io.check_can_add(bundle, "put the graph into")
        except ConfigError as e:
            raise ConfigError(
                f"{e} Add --no-embed to leave the bundle as it is (with --onnx FILE to write "
                "the graph elsewhere)."
            ) from None
    got = export_onnx(model, onnx, into=bundle if embed else None)
    _finished()
    if got["onnx"]:
        _echo(f"wrote {got['onnx']} ({got['bytes'] / 1e6:.1f} MB)")
    if got["tokenizer"]:
        _echo(f"wrote {got['tokenizer']} (open it with tokenizers.Tokenizer.from_file)")
    if got["bundle"]:
        inside = "model.onnx" + (" and model.tokenizer.json" if model.modality == "text" else "")
        _echo(
            f"put {inside} into {got['bundle']} ({got['bundle_onnx_bytes'] / 1e6:.1f} MB; "
            "listed in its manifest under onnx)"
        )
    _detail(f"input: {got['inputs']}")
    _detail(
        f"checked against the bundle's own predictions on {got['checked_on']} inputs: "
        f"largest difference {got['max_abs_diff']:.1e}"
    )


@app.command()
def serve(
    bundle: Annotated[Path, typer.Argument(help="A .scarce bundle from `scarce fit`.")],
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every one).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    max_batch: Annotated[int, typer.Option(help="Most inputs one request may send.")] = 256,
    max_file_mb: Annotated[
        int,
        typer.Option(help="Largest image file (or, for a text model, request) accepted, in MB."),
    ] = 20,
    max_request_mb: Annotated[
        int, typer.Option(help="Largest request accepted, all inputs together, in MB.")
    ] = 256,
    quiet: Quiet = False,
) -> None:
    """Serve a bundle over HTTP: POST /predict, POST /predict/files, GET /info, GET /health.

    Example: scarce serve defects.scarce --port 8000, then
    curl -F files=@photo.jpg localhost:8000/predict/files, or
    curl -H 'content-type: application/json' -d '{"texts": ["late again"]}' localhost:8000/predict
    """
    _setup(quiet)
    from scarce.serve import serve as run

    if min(max_batch, max_file_mb, max_request_mb) < 1:
        raise ConfigError("--max-batch, --max-file-mb and --max-request-mb must be at least 1.")
    run(
        bundle,
        host=host,
        port=port,
        max_batch=max_batch,
        max_file_mb=max_file_mb,
        max_request_mb=max_request_mb,
        log_level="warning" if quiet else "info",
        on_ready=lambda url: _note(
            f"serving {bundle} at {url} (GET /info says what to send; Ctrl-C stops)"
        ),
    )


@app.command()
def backbones(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List every registered encoder, whether it is installed, and how to add it.

    Example: scarce backbones
    """
    from scarce.encoders import encoders

    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "modality": s.modality,
            "params": s.params,
            "dim": s.dim,
            "licence": s.licence,
            "languages": list(s.languages) or None,
            "languages_note": s.language_note or None,
            "size_mb": round(s.disk_mb, 1),
            "default": s.default,
            "installed": s.installed(),
            "install": None if s.installed() else s.pip,
            "description": s.description,
        }
        for s in encoders
    ]
    if as_json:
        _echo(json.dumps(rows, indent=2))
        return
    # long cells (pip lines, licences, language lists) go below the table, which then fits
    # an 80-column terminal (walk 15: it was 250 wide)
    notes: list[str] = []
    table = []
    for r in rows:
        langs = r["languages"] or []
        if r["languages_note"]:
            notes.append(f"{r['name']} languages: {r['languages_note']} {','.join(langs)}")
            short = r["languages_note"].split(" ")[0]
        else:
            short = ",".join(langs) or "-"
        if not r["installed"]:
            # the pip line on a line of its own, whole, to copy
            notes.append(f"{r['name']} is not installed; add it with:\n  {r['install']}")
        table.append(
            [
                r["name"] + (" *" if r["default"] else ""),
                r["modality"],
                f"{r['params'] / 1e6:.1f}M",
                f"{r['size_mb']:.0f} MB",
                str(r["dim"]),
                short,
                "yes" if r["installed"] else "no (below)",
            ]
        )
    _echo(_table(["encoder", "modality", "params", "size", "dim", "languages", "installed"], table))
    _echo("* default for its modality")
    by_licence: dict[str, list[str]] = {}
    for r in rows:
        by_licence.setdefault(r["licence"], []).append(r["name"])
    _echo("")
    for note in notes:
        for line in note.split("\n"):
            _echo(
                line
                if line.startswith("  pip ")
                else textwrap.fill(line, 80, subsequent_indent="    ", break_on_hyphens=False)
            )
    _echo("licences:")
    for licence, names in by_licence.items():
        _echo(
            textwrap.fill(
                f"{', '.join(names)}: {licence}",
                80,
                initial_indent="  ",
                subsequent_indent="    ",
                break_on_hyphens=False,
            )
        )


@app.command("methods")
def methods_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the transfer methods, their modalities and their knobs (set with --set k=v).

    Example: scarce methods
    """
    from scarce.methods import methods

    specs = list(methods)
    if as_json:
        _echo(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "modalities": list(s.modalities),
                        "summary": s.summary,
                        "paper": s.paper,
                        "knobs": [
                            {"name": n, "type": t, "default": d, "help": h}
                            for n, t, d, h in s.config.describe()
                        ],
                    }
                    for s in specs
                ]
                + [
                    {
                        "name": "auto",
                        "modalities": ["image", "text"],
                        "summary": AUTO_SUMMARY,
                        "paper": None,
                        "knobs": [],
                        "usage": "scarce fit DATA --method auto [--budget SECONDS]",
                    }
                ],
                indent=2,
                default=str,
            )
        )
        return
    for s in specs:
        _echo(f"{s.name}  [{', '.join(s.modalities)}]  {s.summary}")
        if s.paper:
            _echo(f"    paper: {s.paper}")
        for n, t, d, h in s.config.describe():
            _echo(f"    --set {n}=…  ({t}, default {d!r})  {h}")
    _echo(f"auto  [image, text]  `scarce fit --method auto [--budget SECONDS]`: {AUTO_SUMMARY}")


@app.command("eval")
def eval_cmd(
    data: Annotated[Path, typer.Argument(help="Labeled data: the pool to draw from.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="results.json to write.")],
    methods: Annotated[
        str, typer.Option(help="Comma-separated; the from-scratch baseline is always added.")
    ] = "linear-probe",
    versus: Annotated[
        str | None,
        typer.Option(
            help="Also compare every method with this one, paired over the same draws (run if "
            "not in --methods), e.g. --methods finetune,setfit --versus linear-probe."
        ),
    ] = None,
    shots: Annotated[
        str | None,
        typer.Option(help="Labels per class, comma-separated (kshot, episodes; default 1,5,20)."),
    ] = None,
    repeats: Annotated[
        int | None,
        typer.Option(help="Random draws (kshot, domain) or repeats (kfold); default 10."),
    ] = None,
    test: Annotated[
        Path | None, typer.Option(help="Test set; default: the rest of the pool.")
    ] = None,
    protocol: Annotated[
        str,
        typer.Option(
            help="kshot (repeated K-shot draws), kfold (repeated stratified k-fold), episodes "
            "(N-way K-shot tasks scored on query examples, as few-shot papers report) or "
            "domain (DATA is the labeled target domain, --source the labeled source: each "
            "repeat adapts to half of the target, unlabeled, and tests on the other half)."
        ),
    ] = "kshot",
    folds: Annotated[int | None, typer.Option(help="k for --protocol kfold (default 5).")] = None,
    ways: Annotated[
        int | None, typer.Option(help="Classes per episode (--protocol episodes; default 5).")
    ] = None,
    queries: Annotated[
        int | None,
        typer.Option(
            help="Query examples per class and episode (--protocol episodes; default 15)."
        ),
    ] = None,
    episodes: Annotated[
        int | None, typer.Option(help="Episodes per shot count (--protocol episodes; default 600).")
    ] = None,
    base: Annotated[
        Path | None,
        typer.Option(help="Labeled data of other classes for the methods that meta-train."),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(help="Labeled source domain (--protocol domain)."),
    ] = None,
    unlabeled: Annotated[
        Path | None,
        typer.Option(
            help="Unlabeled inputs for the methods that read them (linear-probe, distill), in "
            "every fit; each such method also runs without them (M:labels-only), paired."
        ),
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=DATA",
            help="Another task for --methods multitask: name=DATA (repeatable); multitask "
            "is then compared with itself trained on DATA alone.",
        ),
    ] = None,
    target_labels: Annotated[
        str | None,
        typer.Option(
            help="Target labels per class that training may use, comma-separated "
            "(--protocol domain; 0 = unsupervised adaptation, the default)."
        ),
    ] = None,
    backbone: Annotated[str | None, typer.Option(help="See `scarce backbones`.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="[METHOD.]KEY=VALUE",
            help="A method's knob: method.key=value (repeatable), e.g. mcc.steps=500; key=value "
            "sets it for every method that has it (a method.key of the same knob wins).",
        ),
    ] = None,
    interval: Annotated[
        str,
        typer.Option(
            help="t (over repeats) or bootstrap (expanded percentile; t below 6 repeats)."
        ),
    ] = "t",
    jobs: Annotated[
        int,
        typer.Option(
            help="Parallel fits (threads; the fits of methods that seed torch run one at a time)."
        ),
    ] = 1,
    resume: Annotated[
        bool,
        typer.Option(
            help="Reuse the fits that a stopped run of this same evaluation finished (kept "
            "in the cache until it completes); --no-resume fits everything again."
        ),
    ] = True,
    seed: Seed = 0,
    modality: Modality = None,
    text_column: TextCol = "text",
    label_column: LabelCol = "label",
    quiet: Quiet = False,
) -> None:
    """Compare methods beside the from-scratch baseline on the same draws, with intervals.

    Example: scarce eval data --methods linear-probe --shots 1,5,20 --repeats 10 --out r.json

    Example: scarce eval target/ --source source/ --protocol domain --methods dann,mcc
    --target-labels 0,5 --repeats 5 --out r.json

    Example: scarce eval data --shots 2,8 --unlabeled more/ --out r.json
    """
    _setup(quiet)
    from scarce import api
    from scarce.core.atomic import atomic_write, check_writable
    from scarce.evaluation.schema import RESULTS_START

    if protocol not in ("kshot", "kfold", "episodes", "domain"):
        raise ConfigError(f"--protocol must be kshot, kfold, episodes or domain, got {protocol!r}.")
    given = {
        "--shots": (shots, ("kshot", "episodes")),
        "--folds": (folds, ("kfold",)),
        "--ways": (ways, ("episodes",)),
        "--queries": (queries, ("episodes",)),
        "--episodes": (episodes, ("episodes",)),
        "--target-labels": (target_labels, ("domain",)),
        "--repeats": (repeats, ("kshot", "kfold", "domain")),
    }
    for flag, (value, protocols) in given.items():
        if value is not None and protocol not in protocols:
            instead = " (episodes are counted by --episodes)" if flag == "--repeats" else ""
            raise ConfigError(
                f"{flag} is for --protocol {', '.join(protocols)}, not {protocol}{instead}: drop "
                "it, or choose that protocol."
            )
    shots = "1,5,20" if shots is None else shots
    repeats = 10 if repeats is None else repeats
    target_labels = "0" if target_labels is None else target_labels
    try:  # an empty piece (1,,5) is a lost number, not nothing (walk 32)
        shot_list = [int(x) for x in shots.strip().strip(",").split(",")]
    except ValueError:
        raise ConfigError(f"--shots expects integers like 1,5,20, got {shots!r}.") from None
    try:
        labeled_list = [int(x) for x in target_labels.strip().strip(",").split(",")]
    except ValueError:
        raise ConfigError(
            f"--target-labels expects integers like 0,5, got {target_labels!r}."
        ) from None
    if out.suffix.lower() != ".json":
        raise ConfigError(f"--out must be a .json file, got {out.name!r}.")
    tasks = _parse_tasks(task)
    check_writable(
        out,
        inputs=(data, test, base, source, unlabeled, *(tasks or {}).values()),
        example="results.json",
        ours=RESULTS_START,
    )
    configs: dict[str, dict[str, Any]] = {}
    for key, value in _parse_sets(set_).items():
        name, dot, knob = key.partition(".") if "." in key else ("*", ".", key)
        if not dot or not name or not knob:
            raise ConfigError(
                f"eval's --set expects method.key=value (e.g. mcc.steps=500), got {key}={value!r}."
            )
        configs.setdefault(name, {})[knob] = value
    res = api.evaluate(
        data,
        methods=[m.strip() for m in methods.split(",") if m.strip()],
        shots=shot_list,
        repeats=repeats,
        test=test,
        protocol=protocol,
        folds=5 if folds is None else folds,
        backbone=backbone,
        seed=seed,
        interval=interval,
        jobs=jobs,
        modality=_modality(modality),
        text_column=text_column,
        label_column=label_column,
        base=base,
        ways=5 if ways is None else ways,
        queries=15 if queries is None else queries,
        episodes=600 if episodes is None else episodes,
        source=source,
        target_labels=labeled_list,
        configs=configs,
        tasks=tasks,
        versus=versus.strip() if versus else None,
        unlabeled=unlabeled,
        resume=resume,
    )
    with atomic_write(out, "w") as f:
        json.dump(res, f, indent=1)
    _finished()
    _echo(_results_text(res))
    _echo(f"wrote {out}; render it with: scarce report {out} --out report.html")


@app.command()
def report(
    results: Annotated[Path, typer.Argument(help="results.json from `scarce eval`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    quiet: Quiet = False,
) -> None:
    """Render results.json as one self-contained HTML report (plots, tables, examples).

    Example: scarce report r.json --out r.html
    """
    _setup(quiet)
    from scarce.core.atomic import check_writable
    from scarce.report import REPORT_MARK, load_results, write_report

    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out must be an .html file, got {out.name!r}.")
    check_writable(out, inputs=(results,), example="report.html", ours=REPORT_MARK)
    path = write_report(load_results(results), out)
    _finished()
    _echo(f"wrote {path}")


def _task_rows(mt: dict[str, Any]) -> list[list[str]]:
    """One row per task and shot count; the other tasks are not drawn K-shot (they train on
    what their held-out part leaves), so their rows list the evaluated data's K."""
    primary = mt.get("primary", "label")
    per_task = [(f"{primary} (this data)", mt["paired"])]
    per_task += [(n, t.get("paired", [])) for n, t in mt["tasks"].items()]
    return _paired_rows([(name, row) for name, rows in per_task for row in rows])


def _paired_rows(pairs: list[tuple[str, dict[str, Any]]]) -> list[list[str]]:
    """(name, paired row) -> name, shots, both accuracies, the difference and its verdict."""
    return [
        [
            name,
            "-" if row["shots"] is None else str(row["shots"]),
            f"{row['method_accuracy']:.3f}",
            f"{row['versus_accuracy']:.3f}",
            f"{_iv(row, sign=True)} {_verdict(row)}",
        ]
        for name, row in pairs
    ]


def _verdict(row: dict[str, Any]) -> str:
    """The verdict; 'too few repeats' beside an interval that excludes zero says why (walk 15)."""
    from scarce.evaluation.intervals import TOO_FEW, repeats_needed

    n = row.get("n", 2)
    if row["verdict"] != TOO_FEW or n < 2:
        return str(row["verdict"])
    return f"{TOO_FEW} ({repeats_needed(n)}+ needed)"


def _iv(row: dict[str, Any], sign: bool = False) -> str:
    """mean [low, high]; one repeat has no interval, and says so rather than [x, x]."""
    mean = fixed(row["mean"], 3, sign)
    if row.get("n", 2) < 2:
        return f"{mean} (1 repeat: no interval)"
    return f"{mean} [{fixed(row['low'], 3, sign)}, {fixed(row['high'], 3, sign)}]"


def _grouped(rows: list[dict[str, Any]], what: str) -> list[str]:
    """Each method's first message in full, its other shot counts on one line: a method
    flagged at 5 shot counts printed 5 paragraphs (walk 14)."""
    out: list[str] = []
    seen: dict[str, list[dict[str, Any]]] = {}
    for n in rows:
        seen.setdefault(n["method"], []).append(n)
    for method, ns in seen.items():
        out.append(ns[0]["message"])
        if len(ns) > 1:
            at = ", ".join(f"K={n['shots']} ({n['mean']:+.3f})" for n in ns[1:])
            out.append(f"  {method} is also {what} at {at}.")
    return out


def _results_text(res: dict[str, Any]) -> str:
    """The evaluation as a table a person reads in a terminal."""
    from scarce.evaluation.intervals import TOO_FEW, repeats_needed

    acc = {(s["method"], s["shots"]): s for s in res["summary"] if s["metric"] == "accuracy"}
    bal = {
        (s["method"], s["shots"]): s for s in res["summary"] if s["metric"] == "balanced_accuracy"
    }
    # on test sets of unequal classes, accuracy rewards answering the largest: show both
    # (on equal classes the two are the same number)
    unequal = any(abs(bal[key]["mean"] - s["mean"]) > 1e-3 for key, s in acc.items() if key in bal)
    gain = {(p["method"], p["shots"]): p for p in res["paired"] if p["metric"] == "accuracy"}
    desc = {  # walk 28: the knobs that made a row what it is were not shown beside it
        m["name"]: m["description"]
        + (
            " [" + ", ".join(f"{k}={v}" for k, v in m["changed"].items()) + "]"
            if m.get("changed")
            else ""
        )
        for m in res["methods"]
    }
    rows = []
    for (m, k), s in acc.items():
        g = gain.get((m, k))
        rows.append(
            [
                "-" if k is None else str(k),
                m,  # the name: descriptions follow the table once (walk 23: 130+ columns)
                _iv(s),
                *([_iv(bal[(m, k)])] if unequal else []),
                ("(reference)" if res["protocol"]["name"] == "domain" else "(baseline)")
                if g is None
                else f"{_iv(g, sign=True)} {_verdict(g)}",
            ]
        )
    p = res["protocol"]
    if p["name"] == "domain":
        head = (
            f"domain: {p['repeats']} {plural('repeat', p['repeats'])}, source "
            f"{res['domain']['source']['source']} -> "
            f"target {res['data']['source']}, test: {p['test']}; 'shots' = target labels per "
            f"class; accuracy on the target, mean [{p['confidence']:.0%} interval], compared "
            f"with {res['baseline']}"
        )
    elif p["name"] == "episodes":
        head = (
            f"episodes: {p['episodes']} {p['ways']}-way tasks per shot count, {p['queries']} "
            f"queries per class; accuracy, mean [{p['confidence']:.0%} interval]"
        )
    else:
        head = (
            f"{p['name']}: {p['repeats']} {plural('repeat', p['repeats'])}"
            + (f", {p['folds']} folds" if p["folds"] else "")
            + f", test: {p['test']}; accuracy, mean [{p['confidence']:.0%} interval]"
        )
    for name, rec in res.get("base", {}).get("meta_training", {}).items():
        if "verdict" in rec:
            head += (
                f"\n{name} meta-trained on {len(res['base']['classes'])} base classes: "
                f"{rec['verdict']}"
            )
    versus = f"vs {res['baseline']} (paired)"
    cols = ["shots", "method", "accuracy", *(["balanced accuracy"] if unequal else []), versus]
    lines = [head, _table(cols, rows)]
    if floors := res.get("majority"):  # walk 23: a baseline under it read as a real score
        lines.append(
            # walk 29: "unequal classes" over 8 per class; the k-fold test folds were unequal
            "test sets of unequal classes: always answering each test set's largest class "
            "would score "
            + ", ".join(  # walk 26: "would score 10: 0.207" read as a score of 10
                f"{f['accuracy']:.3f} (balanced {f['balanced_accuracy']:.3f})"
                + ("" if f["shots"] is None else f" at {f['shots']} {plural('shot', f['shots'])}")
                for f in floors
            )
        )
    said = [f"  {m}: {d.removeprefix(m + ': ')}" for m, d in desc.items() if d != m]
    if said:
        lines.append("methods:\n" + "\n".join(said))
    mt = res.get("multitask")
    if mt:
        lines.append(
            f"\n{mt['method']} (all tasks together) vs {mt['versus']} (each task alone), "
            "accuracy on each task, paired over the same draws:"
        )
        lines.append(_table(["task", "shots", "together", "alone", "difference"], _task_rows(mt)))
        unscored = [n for n, t in mt["tasks"].items() if not t.get("paired")]
        if unscored:
            lines.append(
                f"not scored: {', '.join(unscored)} (no class with 2 examples to hold one out)"
            )
    un = res.get("unlabeled")
    if un and un["paired"]:
        lines.append(
            f"\nwith vs without the {un['n']} --unlabeled inputs, accuracy paired over the same "
            "draws:"
        )
        head = ["method", "shots", "with", "without", "difference", "used in"]
        rows = _paired_rows([(r["method"], r) for r in un["paired"]])
        for row, r in zip(rows, un["paired"], strict=True):
            row.append(f"{r.get('used', '?')} of {r.get('fits', '?')} fits")
        lines.append(_table(head, rows))
        if any(r.get("used") == 0 for r in un["paired"]):
            lines.append(
                "(used in 0 fits: the method kept its plain fit every time, e.g. linear-probe's "
                "self_training=auto below 20 labels or without a gain in its check, or off)"
            )
    vs = res.get("versus")
    if vs and vs["paired"]:
        lines.append(f"\neach method vs {vs['method']}, accuracy paired over the same draws:")
        head = ["method", "shots", "accuracy", vs["method"], "difference"]
        lines.append(_table(head, _paired_rows([(r["method"], r) for r in vs["paired"]])))
    untested = res.get("negative_transfer_untested") or []
    lines += _grouped(res["negative_transfer"], "worse") + _grouped(untested, "below, untested")
    if not res["negative_transfer"] and not untested and len(res["methods"]) > 1:
        acc = [p for p in res["paired"] if p["metric"] == "accuracy"]
        if acc and all(p["verdict"] == TOO_FEW for p in acc):
            # walk 14: with one repeat the all-clear claimed what nothing could show
            n = acc[0]["n"]
            lines.append(
                f"negative transfer not tested: every method scored at or above "
                f"{res['baseline']}, but {n} paired {plural('repeat', n)} cannot tell a "
                f"difference from chance ({repeats_needed(n)}+ needed)."
            )
        else:
            lines.append(f"no transfer method is significantly worse than {res['baseline']}.")
    for m, c in res.get("curves", {}).items():
        if c.get("fit"):
            lines.append(f"learning curve, {m}: {c['fit']['note']}")
    return "\n".join(lines)


@app.command()
def demo(
    workdir: Annotated[
        Path,
        typer.Option(
            help="Folder for the demo's data and bundle: new, empty, or an earlier demo's "
            "(its contents are replaced)."
        ),
    ] = Path("scarce-demo"),
    shots: Annotated[int, typer.Option(help="Labeled photos per class.")] = 32,
    repeats: Annotated[int, typer.Option(help="Repeated draws for the interval.")] = 10,
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """Run the bundled few-shot example: solar-cell defects from 32 photos per class.

    Example: scarce demo
    """
    _setup(quiet)
    from scarce import demo as demo_mod

    _note("scarce demo: defective vs intact solar cells (elpv-dataset photos, CC-BY-NC-SA-4.0)")
    r = demo_mod.run(workdir, shots=shots, repeats=repeats, seed=seed)
    _echo(
        f"\n{r.shots} labeled photos per class, {r.repeats} random draws, {r.n_test} test photos:"
    )
    _echo(_results_text(r.results))
    _echo(
        f"\nwrote {r.bundle} (test accuracy {r.bundle_test_accuracy:.3f}); "
        "predictions on photos it never saw:"
    )
    _echo(
        _table(
            ["photo", "predicted", "confidence", "truth"],
            [[f, p, f"{c:.2f}", t] for f, p, c, t in r.predictions],
        )
    )
    _echo(
        f"\ndone in {r.seconds:.0f}s. Next:\n"
        f"  {_me()} predict {r.bundle} {r.workdir / 'new'} --proba\n"
        f"  {_me()} report {r.results_path} --out {r.workdir / 'report.html'}"
    )


def _me() -> str:
    """How to run scarce again from anywhere: `scarce` when it is on PATH, else its path."""
    import shutil

    here = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    on_path = shutil.which("scarce")
    if here is None or here.name != "scarce" or not here.exists():
        return "scarce"
    if on_path and Path(on_path).resolve() == here:
        return "scarce"
    return str(here)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, ["-" * w for w in widths], *rows]
    ]
    return "\n".join(lines)


INTERRUPTED = 130  # the shell's code for Ctrl-C
TERMINATED = 143  # ... and for SIGTERM (timeout, docker stop, systemd, a cancelled CI job)


class _Signals:
    """SIGTERM unwinds like Ctrl-C (temporary files removed, the message, no traceback)."""

    term = False
    finished = False  # every output written: a signal now interrupts nothing

    @classmethod
    def on_term(cls, signum: int, frame: Any) -> None:
        cls.term = True
        raise KeyboardInterrupt


def _finished() -> None:
    """The command's outputs are all written (walk 39: a Ctrl-C just after `wrote m.scarce`
    exited 130, which says nothing was written, beside a complete bundle)."""
    _Signals.finished = True


def _stopped(argv: list[str] | None) -> int:
    args = sys.argv[1:] if argv is None else [str(a) for a in argv]
    if args[:1] == ["serve"]:
        _note("stopped")
    elif _Signals.finished:
        _note("interrupted after every output was written: they are complete")
        return 0
    else:
        why = "terminated (SIGTERM)" if _Signals.term else "interrupted"
        _note(f"{why}; nothing was written (outputs are written atomically)")
    return TERMINATED if _Signals.term else INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    _Signals.term = _Signals.finished = False
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _Signals.on_term)
    try:
        # standalone: click prints usage errors and exits 2 itself, and turns Ctrl-C into
        # a silent exit 130
        app(args=argv, prog_name="scarce", standalone_mode=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        return _stopped(argv) if code == INTERRUPTED else code
    except InputError as e:
        _note(f"error: {e}")
        return 2
    except ScarceError as e:
        _note(f"error: {type(e).__name__}: {e}")
        return 1
    except KeyboardInterrupt:
        return _stopped(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def run() -> None:
    """The `scarce` program. After an interrupt, parallel fits (eval --jobs) may still be
    inside torch on their worker threads, and tearing the interpreter down under them aborts
    it ("terminate called without an active exception", exit 134): leave at once instead,
    everything written having been flushed or removed already."""
    import os
    import threading

    code = main()
    if code in (INTERRUPTED, TERMINATED) and threading.active_count() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
