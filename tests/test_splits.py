"""Exact copies stay on one side of every split (walk 29: texts repeated 4 times read
validation 1.000 against 0.789 on new data, and eval ranked a memorising baseline first)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold

import scarce
from scarce.cli.main import _counts_text
from scarce.core.errors import DataError
from scarce.data.splits import copies_to_train, copy_groups, drop_copies, stratified_folds
from scarce.data.types import Inputs, LabeledSet
from scarce.evaluation.protocols import (
    domain_splits,
    episode_splits,
    holdout_split,
    kfold_splits,
    kshot_splits,
)


def _pool(distinct: int, copies: int, classes: int = 3) -> LabeledSet:
    texts = [f"text {c} {i}" for c in range(classes) for i in range(distinct)] * copies
    y = np.array([c for c in range(classes) for _ in range(distinct)] * copies)
    return LabeledSet(Inputs.from_texts(texts), y, tuple(f"c{c}" for c in range(classes)))


def _straddle(a: np.ndarray, b: np.ndarray, groups: np.ndarray) -> bool:
    return bool(np.isin(groups[a], groups[b]).any())


def test_without_copies_the_splits_are_the_plain_ones():
    y = np.repeat(np.arange(3), 7)
    assert copy_groups([str(i) for i in range(21)]) is None
    plain = list(StratifiedKFold(5, shuffle=True, random_state=3).split(np.zeros(21), y))
    for (a, b), (c, d) in zip(stratified_folds(y, 5, 3), plain, strict=True):
        assert (a == c).all()
        assert (b == d).all()
    test = np.arange(10)
    assert drop_copies(test, np.arange(10, 21), None) is test


def test_copies_stay_in_one_fold_and_every_class_trains_in_every_fold():
    pool = _pool(distinct=4, copies=3)
    groups = copy_groups(pool.inputs.hashes)
    assert groups is not None
    folds = stratified_folds(pool.y, 5, 0, groups)
    assert len(folds) == 4  # 4 distinct examples per class allow 4 folds, not 5
    for tr, te in folds:
        assert not _straddle(te, tr, groups)
        assert set(pool.y[tr]) == {0, 1, 2}
    feats = np.repeat(np.eye(4), 2, axis=0)  # frozen features: equal inputs, equal rows
    pairs = copy_groups(feats)
    assert pairs is not None
    assert len(set(pairs.tolist())) == 4
    assert (pairs[::2] == pairs[1::2]).all()
    tr, held = copies_to_train(np.array([0, 2]), np.array([1, 3, 4]), copy_groups(feats))
    assert tr.tolist() == [0, 1, 2, 3]
    assert held.tolist() == [4]


def test_eval_draws_test_on_no_copy_of_what_trained():
    pool = _pool(distinct=6, copies=3)
    groups = copy_groups(pool.inputs.hashes)
    for sp in kshot_splits(pool, [2, 4], 5, 0, test_given=False):
        assert len(np.unique(groups[sp.train])) == len(sp.train)  # K distinct per class
        assert not _straddle(sp.test, sp.train, groups)
        assert len(sp.test) == 3 * (6 - sp.shots) * 3
    for sp in kfold_splits(pool, 3, 2, 0):
        assert not _straddle(sp.test, sp.train, groups)
    for sp in episode_splits(pool, [1], 3, 2, 20, 0):
        both = np.concatenate([sp.train, sp.test])
        assert len(np.unique(groups[both])) == len(both)  # no two copies in an episode
    for sp in domain_splits(pool, [0, 2], 3, 0, test_given=False):
        assert not _straddle(sp.test, sp.train, groups)  # no copy of a labeled one
        assert len(sp.test)
    tr, te = holdout_split(pool, 0.25, 0)
    assert not _straddle(te, tr, groups)
    with pytest.raises(DataError, match="has 6 distinct examples"):
        kshot_splits(pool, [6], 2, 0, test_given=False)
    with pytest.raises(DataError, match=r"6 distinct examples .* exact copies"):
        kfold_splits(pool, 8, 1, 0)


def test_fit_validation_is_not_scored_on_copies(tmp_path, text_csv):
    df = pd.read_csv(text_csv)
    once = scarce.fit(text_csv, seed=0).manifest["metrics"]["validation"]["accuracy"]
    thrice = tmp_path / "thrice.csv"
    pd.concat([df, df, df]).to_csv(thrice, index=False)
    model = scarce.fit(thrice, seed=0)
    # before: each held-out text had two copies in training, and validation read 1.000
    assert model.manifest["metrics"]["validation"]["accuracy"] < 0.9
    assert model.manifest["metrics"]["validation"]["accuracy"] == pytest.approx(once, abs=0.25)


def test_a_class_of_one_example_copied_says_so(tmp_path, text_csv):
    """Walk 30: a class of one text repeated 10 times left nothing to validate on, and fit
    said the method 'holds nothing out'."""
    df = pd.read_csv(text_csv)
    first = df.index[df.label == df.label[0]]
    df.loc[first, "text"] = df.text[first[0]]
    path = tmp_path / "copies.csv"
    df.to_csv(path, index=False)
    manifest = scarce.fit(path, seed=0).manifest
    note = manifest["metrics"]["note"]
    assert f"class {df.label[0]!r} has one distinct example ({len(first)} exact copies" in note
    # the summary's class counts say how few the model learned from
    distinct = manifest["data"]["distinct"]
    assert distinct[df.label[0]] == 1
    assert all(distinct[c] == n for c, n in manifest["data"]["counts"].items() if c != df.label[0])
    assert f"{df.label[0]}: {len(first)} (1 distinct)" in _counts_text(
        manifest["data"]["counts"], distinct
    )
    assert "distinct" not in scarce.fit(text_csv, seed=0).manifest["data"]


def test_a_given_test_set_is_scored_without_copies_of_the_draws_training(
    tmp_path, text_csv, fortunes_data
):
    """Walk 30: --test rows that copied training rows were scored in every draw, and a
    memorising baseline ranked first on them."""
    df = pd.read_csv(text_csv)
    texts, labels = fortunes_data
    other = [i for i, t in enumerate(texts) if labels[i] in set(df.label) and t not in set(df.text)]
    fresh = pd.DataFrame(
        {"text": [texts[i] for i in other[:30]], "label": [labels[i] for i in other[:30]]}
    )
    test = pd.concat([fresh, df.iloc[:5]])
    path = tmp_path / "leaky_test.csv"
    test.to_csv(path, index=False)
    res = scarce.evaluate(text_csv, test=path, methods=["linear-probe"], shots=[7], repeats=3)
    # 7 of 8 per class train: each draw holds most of the 5 copied rows, which leave its test
    assert all(30 <= r["n_test"] < 35 for r in res["runs"])


def test_auto_counts_copies_once_in_its_standard_error():
    """Walk 30: 'paired over the 180 examples' of which 60 distinct: a tie band too narrow."""
    from scarce.evaluation.selection import _paired_se

    g = np.random.default_rng(0)
    a, b = ((g.random(60) < p).astype(float) for p in (0.8, 0.7))
    plain = _paired_se(a, b)
    assert plain == pytest.approx(np.std(a - b, ddof=1) / np.sqrt(60))
    thrice = _paired_se(np.tile(a, 3), np.tile(b, 3), np.tile(np.arange(60), 3))
    assert thrice == pytest.approx(plain)  # the distinct examples' error, not 1/sqrt(3) of it
    assert _paired_se(np.tile(a, 3), np.tile(b, 3)) < 0.6 * plain
