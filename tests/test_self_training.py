"""Unlabeled inputs in a linear probe: self-training on real images, the cross-validated check
that decides in auto, what is recorded, and the CLI around it."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scarce
from scarce.cli.main import main
from scarce.core.errors import ConfigError, DataError
from scarce.data.types import Inputs, LabeledSet, UnlabeledSet
from scarce.encoders import create_encoder
from scarce.methods import _self_training as ST
from scarce.methods.linear_probe import LinearProbe, LinearProbeConfig
from tests.conftest import fortunes_subset, write_text_csv


@pytest.fixture(scope="module")
def shirts(fashion):
    """Fashion-MNIST, 10 classes: 3 labeled images each, 400 unlabeled, 500 to test."""
    x, y, xt, yt = fashion
    g = np.random.default_rng(3)
    lab = np.concatenate([g.choice(np.flatnonzero(y == c), 3, replace=False) for c in range(10)])
    unl = g.choice(np.setdiff1d(np.arange(len(y)), lab), 400, replace=False)
    test = g.choice(len(yt), 500, replace=False)
    classes = tuple(str(c) for c in range(10))
    return (
        LabeledSet(Inputs.from_images(list(x[lab])), y[lab], classes),
        UnlabeledSet(Inputs.from_images(list(x[unl]))),
        LabeledSet(Inputs.from_images(list(xt[test])), yt[test], classes),
    )


@pytest.fixture(scope="module")
def lite0():
    return create_encoder("efficientnet-lite0")


def accuracy(fitted, test: LabeledSet) -> float:
    return float((fitted.predict_proba(test.inputs).argmax(axis=1) == test.y).mean())


def test_pseudo_labels_of_unlabeled_images_beat_the_labels_alone(shirts, lite0):
    train, unlabeled, test = shirts
    plain = LinearProbe(LinearProbeConfig(), lite0).fit(train, seed=0)
    on = LinearProbe(LinearProbeConfig(self_training="on"), lite0)
    tuned = on.fit(train, unlabeled=unlabeled, seed=0)
    st = tuned.meta["self_training"]
    assert st["used"]
    assert st["pseudo_labeled"] == 200
    assert accuracy(tuned, test) > accuracy(plain, test) + 0.02  # 0.698 vs 0.668
    auto = LinearProbe(LinearProbeConfig(), lite0).fit(train, unlabeled=unlabeled, seed=0)
    found = auto.meta["self_training"]["check"]
    # auto follows its paired check, and says what the check measured
    assert auto.meta["self_training"]["used"] == (found["gain"] > found["gain_se"])
    assert found["better_in"] + found["worse_in"] <= 6  # 3 folds, 2 shuffles
    if found["gain"] > found["gain_se"]:
        assert auto.meta["validation"]["accuracy"] == found["with"]
        assert accuracy(auto, test) == accuracy(tuned, test)


def test_auto_keeps_the_plain_head_when_the_check_finds_no_gain(shirts, lite0, monkeypatch):
    train, unlabeled, _ = shirts
    plain = LinearProbe(LinearProbeConfig(), lite0).fit(train, seed=0)

    def verdict(gain: float, se: float = 0.005):
        def fake(*args, **kwargs):
            return {"folds": "f", "without": 0.5, "with": 0.5 + gain, "gain": gain, "gain_se": se}

        return fake

    monkeypatch.setattr(ST, "check", verdict(-0.01))
    kept = LinearProbe(LinearProbeConfig(), lite0).fit(train, unlabeled=unlabeled, seed=0)
    assert not kept.meta["self_training"]["used"]
    assert "0.490 with pseudo-labels, 0.500 without" in kept.meta["self_training"]["why"]
    np.testing.assert_array_equal(kept.head.coef, plain.head.coef)
    assert kept.meta["validation"] == plain.meta["validation"]  # the probe's own estimate
    # walk 32: a gain within its standard error is a tie, and keeps the plain head
    monkeypatch.setattr(ST, "check", verdict(0.01, se=0.02))
    tie = LinearProbe(LinearProbeConfig(), lite0).fit(train, unlabeled=unlabeled, seed=0)
    assert not tie.meta["self_training"]["used"]
    assert "a gain within its standard error, 0.020: a tie" in tie.meta["self_training"]["why"]
    monkeypatch.setattr(ST, "check", verdict(0.01))
    used = LinearProbe(LinearProbeConfig(), lite0).fit(train, unlabeled=unlabeled, seed=0)
    assert used.meta["self_training"]["used"]
    assert used.meta["validation"]["accuracy"] == 0.51
    assert not np.array_equal(used.head.coef, plain.head.coef)


def test_one_label_per_class_is_too_few_to_check(shirts, lite0, caplog):
    train, unlabeled, _ = shirts
    one = train.subset(np.flatnonzero(np.r_[True, train.y[1:] != train.y[:-1]]))
    assert len(one) == 10
    with caplog.at_level(logging.WARNING, logger="scarce"):
        fitted = LinearProbe(LinearProbeConfig(), lite0).fit(one, unlabeled=unlabeled, seed=0)
    assert not fitted.meta["self_training"]["used"]
    assert "too few to check" in caplog.text
    assert "self_training=on" in caplog.text
    on = LinearProbe(LinearProbeConfig(self_training="on"), lite0)
    assert on.fit(one, unlabeled=unlabeled, seed=0).meta["self_training"]["used"]
    off = LinearProbe(LinearProbeConfig(self_training="off"), lite0)
    assert not off.fit(train, unlabeled=unlabeled, seed=0).meta["self_training"]["used"]
    three = train.subset(np.flatnonzero(train.y < 3))
    three = LabeledSet(three.inputs, three.y, train.classes[:3])  # 3 classes x 3: 9 labels
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scarce"):
        fitted = LinearProbe(LinearProbeConfig(), lite0).fit(three, unlabeled=unlabeled, seed=0)
    assert not fitted.meta["self_training"]["used"]
    assert "9 labeled examples (20+ needed): too few" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scarce"):  # walk 18: set, but no inputs
        scarce.fit(one, config={"self_training": "on"})
        # audit 26: a bare {knob: value} goes to every method that has it, as --set knob=v
        res = scarce.evaluate(train, shots=[1], repeats=1, configs={"pseudo_fraction": 0.3})
    assert "self_training acts on --unlabeled inputs (Python: unlabeled=...)" in caplog.text
    assert "pseudo_fraction acts on --unlabeled inputs" in caplog.text
    probe = next(m for m in res["methods"] if m["name"] == "linear-probe")
    assert probe["changed"] == {"pseudo_fraction": 0.3}


def test_unlabeled_inputs_that_are_also_labeled_are_left_out(shirts, lite0):
    train, unlabeled, _ = shirts
    both = Inputs(
        "image",
        train.inputs.items + unlabeled.inputs.items[:50],
        train.inputs.hashes + unlabeled.inputs.hashes[:50],
        train.inputs.names + unlabeled.inputs.names[:50],
    )
    cfg = LinearProbeConfig(self_training="on")
    st = LinearProbe(cfg, lite0).fit(train, unlabeled=UnlabeledSet(both), seed=0)
    record = st.meta["self_training"]
    assert record["unlabeled"] == 80
    assert record["also_labeled"] == 30
    assert record["pseudo_labeled"] == 25


def test_pseudo_label_rounds_take_the_surest_first():
    class Head:  # the first feature is the probability of class 0
        def predict_proba(self, x: np.ndarray) -> np.ndarray:
            return np.c_[x[:, 0], 1 - x[:, 0]]

    sizes = []

    def fit(x: np.ndarray, y: np.ndarray) -> Head:
        sizes.append(len(y))
        return Head()

    xu = np.array([[0.5], [0.95], [0.1], [0.6], [0.8]])
    _, pick = ST.pseudo_label(fit, np.zeros((2, 1)), np.array([0, 1]), xu, (0.2, 0.4, 0.6))
    assert sizes == [2, 3, 4, 5]  # each round adds more of the unlabeled inputs
    assert list(pick) == [1, 2, 4]  # 0.95 and 0.1 are the surest answers, then 0.8


def test_cli_and_api_take_unlabeled_text(tmp_path: Path, fortunes_data, capsys):
    texts, labels = fortunes_subset(fortunes_data, 4, seed=1)
    more, _ = fortunes_subset(fortunes_data, 60, seed=2)
    data = write_text_csv(tmp_path / "few.csv", texts, labels)
    unl = write_text_csv(tmp_path / "more.csv", more, None)
    out = tmp_path / "m.scarce"
    code = main(["fit", str(data), "--unlabeled", str(unl), "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert f"--unlabeled: {len(more)} inputs" in text
    assert "not used: 12 labeled examples (20+ needed)" in text
    args = ["fit", str(data), "--unlabeled", str(unl), "--set", "self_training=on"]
    assert main([*args, "--out", str(out)]) == 0
    assert "pseudo-labeled; self_training=on, unchecked." in capsys.readouterr().out
    with zipfile.ZipFile(out) as z:
        manifest = json.loads(z.read("manifest.json"))
    assert manifest["unlabeled"]["n"] == len(more)
    assert manifest["unlabeled"]["source"] == str(unl)
    model = scarce.load(out)  # the self-trained head loads and predicts as it was fitted
    assert model.fitted.meta["self_training"]["used"]
    assert set(model.predict(more[:5])) <= set(labels)
    code = main(["fit", str(data), "--unlabeled", str(unl), "--method", "knn", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "knn does not use --unlabeled" in err
    assert "--method distill or linear-probe" in err


def test_labels_in_the_unlabeled_file_are_said_to_be_unread(tmp_path, fortunes_data, caplog):
    texts, labels = fortunes_subset(fortunes_data, 4, seed=1)
    more, more_labels = fortunes_subset(fortunes_data, 6, seed=2)
    unl = write_text_csv(tmp_path / "more.csv", more, more_labels)
    with caplog.at_level(logging.WARNING, logger="scarce"):
        scarce.fit(texts, labels, unlabeled=unl, backbone="minilm-l3")
    assert "looks labeled (a 'label' column); --unlabeled does not read labels" in caplog.text
    caplog.clear()  # walk 26: a column with no value in it is not labels
    blank = tmp_path / "blank.csv"
    pd.DataFrame({"text": more, "label": [""] * len(more)}).to_csv(blank, index=False)
    with caplog.at_level(logging.WARNING, logger="scarce"):
        scarce.fit(texts, labels, unlabeled=blank, backbone="minilm-l3")
    assert "looks labeled" not in caplog.text
    caplog.clear()  # walk 27: --unlabeled inputs that are the --test inputs; eval said so
    with caplog.at_level(logging.WARNING, logger="scarce"):
        scarce.fit(texts, labels, unlabeled=unl, test=unl, backbone="minilm-l3")
    assert f"{len(more)} test examples ({unl}) also appear in the --unlabeled inputs" in caplog.text
    assert "transductive" in caplog.text


def test_auto_that_chooses_a_method_without_unlabeled_says_so(
    tmp_path: Path, fortunes_data, caplog, monkeypatch
):
    import scarce.evaluation.selection as selection

    texts, labels = fortunes_subset(fortunes_data, 4, seed=1)
    more, _ = fortunes_subset(fortunes_data, 10, seed=2)

    def chose_knn(train, *, backbone=None, budget=0.0, seed=0):
        return "knn", "minilm-l3", {"why": "stub", "candidates": [], "chosen": None}

    monkeypatch.setattr(selection, "choose", chose_knn)
    with pytest.raises(ConfigError, match="knn does not use"):
        scarce.fit(texts, labels, method="knn", unlabeled=more)
    with pytest.raises(DataError) as e:
        scarce.fit(texts, labels, unlabeled=[])
    assert str(e.value) == "--unlabeled: no inputs given."
    with caplog.at_level(logging.WARNING, logger="scarce"):
        model = scarce.fit(texts, labels, method="auto", unlabeled=more)
    assert model.manifest["method"] == "knn"
    assert "unlabeled" not in model.manifest
    assert "chose knn, which does not use --unlabeled" in caplog.text


def test_an_unlabeled_file_with_its_own_text_column_name_is_told_to_rename_it(tmp_path):
    from scarce.api import _unlabeled

    path = tmp_path / "more.csv"
    path.write_text("course\nIntro to chemistry\nOrganic chemistry\n", encoding="utf-8")
    # walk 18: "Pass --text-column course" alone broke DATA, whose column is 'text'
    with pytest.raises(DataError, match=r"alike: when they differ, rename the column in .*'text'"):
        _unlabeled(path, "text", "text", "--unlabeled", "DATA")
    # walk 25: a domain target is DATA itself, and --source falls back to 'text'
    with pytest.raises(DataError, match="may name the target DATA's column alone: --source"):
        _unlabeled(path, "text", "text", "the target DATA", "--source")
    # walk 27: a .txt file has no header to rename; --text-column names DATA's column
    lines = tmp_path / "more.txt"
    lines.write_text("Intro to chemistry\nOrganic chemistry\n", encoding="utf-8")
    got = _unlabeled(lines, "text", "course", "--unlabeled", "DATA")
    assert list(got.inputs.items) == ["Intro to chemistry", "Organic chemistry"]


def test_the_estimator_takes_unlabeled_inputs_as_a_fit_keyword(fortunes_data):
    from sklearn.pipeline import Pipeline

    texts, labels = fortunes_subset(fortunes_data, 4, seed=1)
    more, _ = fortunes_subset(fortunes_data, 20, seed=2)
    # y = -1 would be scikit-learn's "unlabeled"; here it stays an ordinary class
    clf = scarce.TransferClassifier(backbone="minilm-l3", config={"self_training": "on"})
    signs = [-1 if lab == "food" else 1 for lab in labels]
    assert clf.fit(texts, signs, unlabeled=more).classes_.tolist() == [-1, 1]
    st = clf.model_.fitted.meta["self_training"]
    assert st["used"]
    assert st["pseudo_labeled"] == round(0.5 * (len(more) - st["also_labeled"]))
    pipe = Pipeline([("clf", scarce.TransferClassifier(backbone="minilm-l3"))])
    pipe.set_params(clf__config={"self_training": "on"}).fit(texts, labels, clf__unlabeled=more)
    fitted = pipe.named_steps["clf"].model_
    assert fitted.manifest["unlabeled"]["n"] == len(more)
    assert fitted.fitted.meta["self_training"]["used"]


def test_eval_pairs_each_reader_of_unlabeled_inputs_with_itself_without_them(
    tmp_path: Path, fortunes_data, capsys, caplog
):
    texts, labels = fortunes_subset(fortunes_data, 12, seed=1)
    more, _ = fortunes_subset(fortunes_data, 40, seed=2)
    data = write_text_csv(tmp_path / "few.csv", texts, labels)
    unl = write_text_csv(tmp_path / "more.csv", more, None)
    with caplog.at_level(logging.WARNING, logger="scarce"):  # before any CLI call (see top)
        scarce.evaluate(
            data,
            methods=["linear-probe"],
            shots=[4],
            repeats=2,
            unlabeled=data,
            backbone="minilm-l3",
        )
    assert "36 of the --unlabeled inputs are also in DATA" in caplog.text
    out = tmp_path / "r.json"
    args = ["eval", str(data), "--shots", "4", "--repeats", "3", "--backbone", "minilm-l3"]
    args += ["--methods", "linear-probe,knn", "--unlabeled", str(unl), "--out", str(out)]
    assert main([*args, "--set", "self_training=on"]) == 0
    text = capsys.readouterr().out
    assert "with vs without the 120 --unlabeled inputs" in text
    assert "have no effect" not in text  # walk 23: the labels-only twins said it
    res = json.loads(out.read_text())
    names = [m["name"] for m in res["methods"]]
    assert names == ["baseline", "linear-probe", "linear-probe:labels-only", "knn"]
    assert res["methods"][1]["changed"] == {"self_training": "on"}  # walk 23
    assert res["unlabeled"]["n"] == len(more)
    assert res["unlabeled"]["methods"] == ["linear-probe"]
    (row,) = res["unlabeled"]["paired"]
    assert row["n"] == 3
    assert (row["used"], row["fits"]) == (3, 3)
    assert row["low"] < row["high"]  # pseudo-labels changed the heads: the draws differ
    html = tmp_path / "r.html"
    assert main(["report", str(out), "--out", str(html)]) == 0
    assert "With vs without 120 unlabeled inputs" in html.read_text()
    assert "<td>self_training=on</td>" in html.read_text()
    # off: the twin is the same fit on the same draw, so each paired difference is 0
    assert main([*args, "--set", "self_training=off"]) == 0
    (row,) = json.loads(out.read_text())["unlabeled"]["paired"]
    assert row["low"] == row["high"] == 0
    assert row["used"] == 0  # and the terminal says why a row reads +0.000
    assert row["verdict"] == "not used: the same fits"
    assert "0 of 3 fits" in capsys.readouterr().out
    capsys.readouterr()
    knn = ["eval", str(data), "--shots", "4", "--methods", "knn", "--unlabeled", str(unl)]
    assert main([*knn, "--out", str(out)]) == 2
    assert "none of the methods run (baseline, knn) reads --unlabeled" in capsys.readouterr().err
    assert main([*args, "--set", "linear-probe:labels-only.C=1"]) == 2
    assert "runs with linear-probe's settings" in capsys.readouterr().err
    episodes = ["--protocol", "episodes", "--episodes", "3", "--ways", "3"]
    assert main([*args[:2], *episodes, "--unlabeled", str(unl), "--out", str(out)]) == 2
    assert "--unlabeled is for --protocol kshot or kfold" in capsys.readouterr().err
