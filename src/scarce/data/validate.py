"""Checks that need more than one file: enough classes to learn, a test set that fits the
training set. Run once at the boundary, before training."""

from __future__ import annotations

import contextlib
import logging
import unicodedata

import numpy as np

from scarce.core.errors import DataError
from scarce.data.types import LabeledSet, UnlabeledSet

log = logging.getLogger(__name__)


def check_trainable(ds: LabeledSet, warn_repeats: bool = True) -> None:
    counts = ds.counts()
    empty = [c for c, n in counts.items() if n == 0]
    if empty:
        raise DataError(
            f"{ds.source}: class{'es' if len(empty) > 1 else ''} {', '.join(map(repr, empty))} "
            "have no examples. Add examples or drop the class."
        )
    if len(counts) < 2:
        only = next(iter(counts), "?")
        raise DataError(
            f"{ds.source}: only one class ({only!r}, {len(ds)} examples). A classifier needs at "
            "least two classes: add examples of another class."
        )
    _warn_lookalike_labels(ds)
    if warn_repeats:
        _warn_repeats(ds)


def _warn_lookalike_labels(ds: LabeledSet) -> None:
    """'1' and '1.0', or 'Cat' and 'cat': two classes to scarce, one to the person who
    labeled them, most likely (a spreadsheet wrote some numbers as floats)."""
    groups: dict[str, list[str]] = {}
    for c in ds.classes:
        groups.setdefault(_lookalike_key(c), []).append(c)
    same = [g for g in groups.values() if len(g) > 1]
    if same:
        log.warning(
            "%s: labels %s are different classes; if they mean the same, write them the same way.",
            ds.source,
            "; ".join(
                " and ".join(map(_shown_apart, g)) + f" (they differ {_how_they_differ(*g[:2])})"
                for g in same[:5]
            ),
        )


def _shown_apart(label: str) -> str:
    """repr, with escapes where two labels print alike ('café' composed or not: walk 21)."""
    return (
        repr(label)
        if label.isascii()
        or (
            unicodedata.is_normalized("NFC", label)
            and all(unicodedata.category(ch) != "Cf" for ch in label)
        )
        else ascii(label)
    )


def _lookalike_key(label: str) -> str:
    """Equal for labels a person reads as one: case, spaces, compatibility forms (full-width
    letters), invisible format characters (zero-width space), '1' and '1.0'."""
    key = unicodedata.normalize("NFKC", label)
    key = "".join(ch for ch in key if unicodedata.category(ch) != "Cf").strip().casefold()
    with contextlib.suppress(ValueError, OverflowError):
        key = repr(float(key))
    return key


def _how_they_differ(a: str, b: str) -> str:
    """In words, for two labels with the same `_lookalike_key`."""
    if a.casefold() == b.casefold():
        return "in letter case"
    with contextlib.suppress(ValueError, OverflowError):
        if float(a) == float(b):
            return "in number form"
    if " ".join(a.split()) == " ".join(b.split()):
        return "in spacing"
    hidden = sorted({ch for ch in a + b if unicodedata.category(ch) == "Cf"})
    if hidden:
        names = ", ".join(f"U+{ord(ch):04X} {unicodedata.name(ch, '?')}" for ch in hidden)
        return f"by invisible characters ({names})"
    if unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b):
        return "in Unicode form (an accent composed, or written as a separate mark)"
    if unicodedata.normalize("NFKC", a) == unicodedata.normalize("NFKC", b):
        return "in character forms (e.g. full-width letters)"
    return "only in how they are written (case, spacing, number form)"


def _warn_repeats(ds: LabeledSet) -> None:
    """The same input twice: with two labels the data contradicts itself; with one it
    counts double (the splits keep the copies on one side: data.splits)."""
    first: dict[str, int] = {}
    clashes: list[tuple[int, int]] = []
    copies: list[tuple[int, int]] = []
    for i, h in enumerate(ds.inputs.hashes):
        j = first.setdefault(h, i)
        if j == i:
            continue
        if ds.y[i] != ds.y[j]:
            clashes.append((j, i))
        else:
            copies.append((j, i))
    what = "row" if ds.modality == "text" else "image"
    if clashes:
        shown = "; ".join(
            f"{what} {ds.inputs.names[j]} is {ds.classes[ds.y[j]]!r} but {what} "
            f"{ds.inputs.names[i]} is {ds.classes[ds.y[i]]!r}"
            for j, i in clashes[:3]
        )
        log.warning(
            "%s: %d input(s) appear again with another label (%s%s). Fix the labels; "
            "no model can get both right.",
            ds.source,
            len(clashes),
            shown,
            " ..." if len(clashes) > 3 else "",
        )
    if copies:  # walk 29: named no rows, where the clashes' warning names them
        log.warning(
            "%s: %d example(s) are exact copies of another with the same label (%s%s); they "
            "weigh double in training. Every split keeps copies on one side (cross-validation "
            "folds, held-out examples, eval's test draws), so none is scored on its own copy. "
            "Remove the copies unless that is intended.",
            ds.source,
            len(copies),
            "; ".join(
                f"{what} {ds.inputs.names[i]} repeats {what} {ds.inputs.names[j]}"
                if ds.inputs.names[i] != ds.inputs.names[j]
                else f"{what} {ds.inputs.names[i]} is listed twice"  # walk 30: "X repeats X"
                for j, i in copies[:3]
            ),
            " ..." if len(copies) > 3 else "",
        )


COPIES_SHARE = 0.2  # unlabeled inputs that are copies of others, beyond which that is said


def warn_copies(unlabeled: UnlabeledSet, what: str) -> int:
    """Unlabeled inputs that are largely copies of each other say little about their domain
    and weigh the repeated ones up (walk 26: a target of 360 lines held 6 distinct texts, a
    column of class names read as the texts, and every fit ran without a word). Returns the
    number of copies."""
    n = len(unlabeled)
    copies = n - len(set(unlabeled.inputs.hashes))
    if copies and copies >= COPIES_SHARE * n:
        log.warning(
            "%s (%s): %d of its %d inputs are copies of another (%d distinct); each copy "
            "weighs its input up. If that is a mistake (the wrong column or file), fix it.",
            what,
            unlabeled.source,
            copies,
            n,
            n - copies,
        )
    return copies


def align_to(test: LabeledSet, classes: tuple[str, ...]) -> LabeledSet:
    """Re-index a test set's labels into the training classes; unknown labels are an error."""
    unknown = sorted(set(test.classes) - set(classes))
    if unknown:
        where = []
        for c in unknown[:5]:
            rows = np.flatnonzero(test.y == test.classes.index(c))
            first = test.inputs.names[int(rows[0])]
            where.append(f"{c!r} ({len(rows)}, first at {_row_or_path(first)})")
        shown = ", ".join(map(repr, classes[:20])) + (", ..." if len(classes) > 20 else "")
        raise DataError(
            f"{test.source}: labels {', '.join(where)}{' ...' if len(unknown) > 5 else ''} are "
            f"not in the training data (which has {shown}).{_lookalikes(unknown, classes)} Add "
            "training examples of them or remove them from the test set."
        )
    return _reindex(test, classes)


def _reindex(labeled: LabeledSet, classes: tuple[str, ...]) -> LabeledSet:
    """`labeled` with its labels as indices into `classes`. A class in its list that labels
    nothing may be missing from `classes` (it maps to -1, which no label points at)."""
    index = {c: i for i, c in enumerate(classes)}
    remap = np.array([index.get(c, -1) for c in labeled.classes], dtype=np.int64)
    return LabeledSet(labeled.inputs, remap[labeled.y], classes, labeled.source)


def _lookalikes(unknown: list[str], classes: tuple[str, ...]) -> str:
    """' 'Games' is not 'games': they differ in letter case; ...' for unknown labels that
    read as known ones ('' when none does)."""
    known = {_lookalike_key(c): c for c in classes}
    alike = [(c, known[_lookalike_key(c)]) for c in unknown if _lookalike_key(c) in known]
    return "".join(
        f" {c!r} is not {k!r}: they differ {_how_they_differ(c, k)}; write them the same way."
        for c, k in alike[:3]
    )


def _row_or_path(name: str) -> str:
    return f"row {name}" if name.isdigit() else name


def warn_duplicates(
    train: LabeledSet | UnlabeledSet,
    test: LabeledSet | UnlabeledSet,
    seen_as: str = "the training data",
    because: str = "scores on them are optimistic. Remove them from one side.",
    side: str = "training",
    other: str = "test",
) -> int:
    """Identical examples in train and test inflate every score: say so, with examples.
    (`side` and `other` name the two sets in the message.)"""
    seen = dict(zip(train.inputs.hashes, train.inputs.names, strict=True))
    dups = [
        (seen[h], n)
        for h, n in zip(test.inputs.hashes, test.inputs.names, strict=True)
        if h in seen
    ]
    if dups:
        row = "row " if train.inputs.modality == "text" else ""
        shown = "; ".join(f"{side} {row}{a} = {other} {row}{b}" for a, b in dups[:3])
        log.warning(
            "%d %s examples (%s) also appear in %s (%s): %s%s; %s",
            len(dups),
            other,
            test.source,
            seen_as,
            train.source,
            shown,
            " ..." if len(dups) > 3 else "",
            because,
        )
    return len(dups)


def align_domains(target: LabeledSet, source: LabeledSet) -> LabeledSet:
    """Labeled target-domain data re-indexed into the source's classes (what a model trained
    on the source predicts). A label the source lacks, or another kind of input, is an error;
    source classes the target lacks are only a warning."""
    if source.modality != target.modality:
        raise DataError(
            f"the source ({source.source}) is {source.modality} data but the target "
            f"({target.source}) is {target.modality}: both domains must hold the same kind of "
            "inputs."
        )
    present = {target.classes[i] for i in np.unique(target.y)}
    unknown = sorted(present - set(source.classes))
    if unknown:
        hint = _lookalikes(unknown, source.classes)
        raise DataError(
            f"{target.source}: target labels {', '.join(map(repr, unknown[:10]))} are not source "
            f"classes ({', '.join(map(repr, source.classes[:10]))}).{hint} Source and target "
            "must share classes: rename the labels to match, or drop those examples."
        )
    missing = [c for c in source.classes if c not in present]
    if missing:  # walk 25: accepted without a word when the class list still named them
        log.warning(
            "%s: source class(es) %s have no labeled target example. If the target domain "
            "lacks them (partial domain adaptation), drop them from the source, or the model "
            "may predict them there; else label a few of each.",
            target.source,
            ", ".join(map(repr, missing[:10])) + (" ..." if len(missing) > 10 else ""),
        )
    return _reindex(target, source.classes)
