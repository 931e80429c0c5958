"""Multi-task learning: one shared layer, a head per task; a scarce task (3 MNIST digits per
class) borrows from a related larger one (UCI digits); the API, the bundle and the CLI."""

from __future__ import annotations

import csv
import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest

import scarce
from scarce.cli.main import main
from scarce.core.errors import ConfigError, DataError
from scarce.data.types import Inputs, LabeledSet
from scarce.encoders import create_encoder
from scarce.methods import methods
from tests.conftest import write_image_folder

DIGITS = tuple(str(c) for c in range(10))


@pytest.fixture(scope="module")
def digit_tasks() -> tuple[LabeledSet, LabeledSet]:
    from scarce.data.public import digits_8x8, mnist_5k

    xm, ym = mnist_5k()
    xd, yd = digits_8x8()
    g = np.random.default_rng(0)
    i = np.concatenate([g.permutation(np.flatnonzero(ym == c))[:60] for c in range(10)])
    j = np.concatenate([g.permutation(np.flatnonzero(yd == c))[:100] for c in range(10)])
    mnist = LabeledSet(Inputs.from_images(list(xm[i])), ym[i], DIGITS, "mnist")
    uci = LabeledSet(Inputs.from_images(list(xd[j])), yd[j], DIGITS, "uci-digits")
    return mnist, uci


@pytest.fixture(scope="module")
def encoder():
    return create_encoder("efficientnet-lite0")


def _learner(encoder, **cfg):
    spec = methods.get("multitask")
    return spec.method(spec.config.from_dict(cfg or None), encoder)


@pytest.mark.slow
def test_a_small_task_improves_with_a_related_larger_task(digit_tasks, encoder):
    mnist, uci = digit_tasks
    feats = encoder.encode(mnist.inputs)
    single, multi = [], []
    for seed in range(3):
        g = np.random.default_rng(seed)
        tr = np.concatenate([g.permutation(np.flatnonzero(mnist.y == c))[:3] for c in range(10)])
        te = np.setdiff1d(np.arange(len(mnist)), tr)
        for out, tasks in ((single, {}), (multi, {"uci": uci})):
            learner = _learner(encoder)
            fitted = learner.fit_tasks({"mnist": mnist.subset(tr), **tasks}, seed=seed)
            p = fitted.proba_tasks_from_features(feats[te])["mnist"]
            out.append(float((p.argmax(1) == mnist.y[te]).mean()))
    # measured on 2,000 MNIST test digits, 5 seeds: 0.664 alone, 0.678 with UCI digits
    # (better on every seed)
    assert np.mean(multi) > np.mean(single) + 0.005, (single, multi)


def test_heads_share_one_trunk_and_each_task_has_its_own_head(digit_tasks, encoder):
    mnist, uci = digit_tasks
    fitted = _learner(encoder, steps=50).fit_tasks({"mnist": mnist, "uci": uci}, seed=0)
    t = fitted.tensors
    assert sum(k.startswith("shared.") for k in t) == 2  # one shared parameter set
    assert {k for k in t if k.startswith("head.")} == {
        "head.0.w",
        "head.0.b",
        "head.1.w",
        "head.1.b",
    }
    feats = encoder.encode(mnist.inputs)[:20]
    before = fitted.proba_tasks_from_features(feats)
    t["head.1.w"] = np.zeros_like(t["head.1.w"])
    t["head.1.b"] = np.zeros_like(t["head.1.b"])
    after = fitted.proba_tasks_from_features(feats)
    np.testing.assert_array_equal(after["mnist"], before["mnist"])  # its own head
    np.testing.assert_allclose(after["uci"], 0.1, atol=1e-6)  # the zeroed head: uniform
    t["shared.w"] = t["shared.w"] * 0.5  # the shared layer moves every task
    moved = fitted.proba_tasks_from_features(feats)
    assert not np.allclose(moved["mnist"], after["mnist"])


@pytest.mark.slow
def test_api_cli_bundle_and_eval(digit_tasks, tmp_path: Path, capsys):
    mnist, uci = digit_tasks
    few = mnist.subset(np.concatenate([np.flatnonzero(mnist.y == c)[:5] for c in range(10)]))
    main_dir = write_image_folder(
        tmp_path / "mnist", np.stack(few.inputs.items), [DIGITS[c] for c in few.y]
    )
    k = np.concatenate([np.flatnonzero(uci.y == c)[:30] for c in range(10)])
    aux = uci.subset(k)
    aux_dir = write_image_folder(
        tmp_path / "uci", np.stack(aux.inputs.items), [f"d{c}" for c in aux.y]
    )
    out = tmp_path / "m.scarce"
    code = main(
        [
            str(a)
            for a in (
                "fit",
                main_dir,
                "--method",
                "multitask",
                "--task",
                f"uci={aux_dir}",
                "--out",
                out,
            )
        ]
    )
    text = capsys.readouterr()
    assert code == 0, text.err
    assert "tasks: label (50 examples" in text.out
    assert re.search(r"uci \(\d+ examples, its loss weighed \d+\.\d\dx\)", text.out), text.out
    model = scarce.load(out)
    assert list(model.tasks) == ["label", "uci"]
    assert model.tasks["uci"] == tuple(f"d{c}" for c in range(10))
    preds = model.predict_tasks(mnist.inputs.subset(np.arange(5)))
    assert set(preds) == {"label", "uci"}
    code = main(["predict", str(out), str(main_dir / "3"), "--proba", "--quiet"])
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert code == 0
    assert {"prediction", "prediction_uci", "proba_3", "proba_uci_d3"} <= set(rows[0])
    # several label columns of one table: the first is the primary task
    table = tmp_path / "t.csv"
    files = sorted((main_dir).rglob("*.png"))
    with open(table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "digit", "odd"])
        for p in files:
            w.writerow([p, p.parent.name, "odd" if int(p.parent.name) % 2 else "even"])
    m2 = scarce.fit(table, method="multitask", label_column="odd,digit", config={"steps": 50})
    assert list(m2.tasks) == ["odd", "digit"]
    # the manifest sorts its keys: the reloaded bundle must keep the primary task and each
    # head on its own task ("odd" sorts after "digit")
    m3 = scarce.load(m2.save(tmp_path / "t.scarce"))
    assert list(m3.tasks) == ["odd", "digit"]
    assert m3.classes_ == ("even", "odd")
    sample = files[:20]
    before, after = m2.predict_proba_tasks(sample), m3.predict_proba_tasks(sample)
    for name in ("odd", "digit"):
        np.testing.assert_allclose(after[name], before[name], atol=1e-6)
    # walk 27: a blank cell in another task's column leaves the row out of that task only
    blanks = tmp_path / "blanks.csv"
    with open(blanks, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "digit", "odd"])
        for i, p in enumerate(files):
            digit = "" if i % 5 == 0 else p.parent.name
            w.writerow([p, digit, "odd" if int(p.parent.name) % 2 else "even"])
    m4 = scarce.fit(blanks, method="multitask", label_column="odd,digit", config={"steps": 20})
    assert m4.manifest["tasks"]["odd"]["n"] == len(files)
    assert m4.manifest["tasks"]["digit"]["n"] == len(files) - len(files[::5])
    with pytest.raises(ConfigError, match="multitask"):
        scarce.fit(main_dir, method="linear-probe", tasks={"uci": aux_dir})
    res_path = tmp_path / "r.json"
    code = main(
        [
            str(a)
            for a in (
                "eval",
                main_dir,
                "--methods",
                "multitask",
                "--task",
                f"uci={aux_dir}",
                "--shots",
                "2",
                "--repeats",
                "2",
                "--set",
                "multitask.steps=100",
                "--out",
                res_path,
            )
        ]
    )
    text = capsys.readouterr()
    assert code == 0, text.err
    assert "multitask (all tasks together) vs multitask:single-task" in text.out
    res = json.loads(res_path.read_text())
    assert res["multitask"]["paired"][0]["n"] == 2
    # every task scored together and alone: the other task on its held-out quarter
    uci = res["multitask"]["tasks"]["uci"]["paired"][0]
    assert uci["n"] == 2
    assert 0.5 < uci["method_accuracy"] <= 1
    assert uci["versus_accuracy"] > 0.5
    assert "label (this data)" in text.out
    assert "uci " in text.out
    code = main(["report", str(res_path), "--out", str(tmp_path / "r.html")])
    assert code == 0
    assert "multitask:single-task" in (tmp_path / "r.html").read_text()


def test_test_data_scores_every_task_it_has_a_column_for(digit_tasks, tmp_path: Path, caplog):
    """Walk 37: --test scored the primary task alone and never read the others' labels (an
    unknown one passed)."""
    mnist, _ = digit_tasks
    few = mnist.subset(np.concatenate([np.flatnonzero(mnist.y == c)[:4] for c in range(10)]))
    folder = write_image_folder(
        tmp_path / "mnist", np.stack(few.inputs.items), [DIGITS[c] for c in few.y]
    )
    files = sorted(folder.rglob("*.png"))
    odd = ["odd" if int(p.parent.name) % 2 else "even" for p in files]
    table, blanks = tmp_path / "t.csv", tmp_path / "blanks.csv"
    table.write_text(
        "path,digit,odd\n"
        + "".join(f"{p},{p.parent.name},{o}\n" for p, o in zip(files, odd, strict=True))
    )
    blanks.write_text(
        "path,digit,odd\n"
        + "".join(
            f"{p},{'' if i % 5 == 0 else p.parent.name},{o}\n"
            for i, (p, o) in enumerate(zip(files, odd, strict=True))
        )
    )
    fit = functools.partial(scarce.fit, table, method="multitask", label_column="odd,digit")
    m = fit(config={"steps": 20}, test=blanks)
    scored = m.manifest["metrics"]["tasks"]["digit"]
    assert scored["test_size"] == len(files) - len(files[::5])
    assert scored["test_accuracy"] > 0.5  # 10 classes; these test rows are trained on
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(blanks.read_text().replace(",3,", ",33,"))
    with pytest.raises(DataError, match=r"unknown.csv \(task 'digit'\): labels '33'"):
        fit(test=unknown)
    primary_only = tmp_path / "primary.csv"
    primary_only.write_text(
        "path,odd\n" + "".join(f"{p},{o}\n" for p, o in zip(files, odd, strict=True))
    )
    with caplog.at_level("WARNING", logger="scarce"):
        m = fit(config={"steps": 2}, test=primary_only)
    assert "--test has no column 'digit', so task 'digit' is not scored" in caplog.text
    assert "tasks" not in m.manifest["metrics"]
    caplog.clear()
    # walk 46: a folder of the primary task's classes was told to add a column
    halves = ["odd" if int(DIGITS[c]) % 2 else "even" for c in few.y]
    oe = write_image_folder(tmp_path / "oe", np.stack(few.inputs.items), halves)
    with caplog.at_level("WARNING", logger="scarce"):
        fit(config={"steps": 2}, test=oe)
    assert "--test is a folder, with no column 'digit', so task 'digit' is not scored: a " in (
        caplog.text
    )
    assert "give a table instead (path,label and a column per task" in caplog.text
    caplog.clear()
    empty = tmp_path / "empty.csv"  # walk 39: said to have no such column
    empty.write_text(
        "path,digit,odd\n" + "".join(f"{p},,{o}\n" for p, o in zip(files, odd, strict=True))
    )
    with caplog.at_level("WARNING", logger="scarce"):
        fit(config={"steps": 2}, test=empty)
    assert "--test has no labels in column 'digit', so task 'digit' is not scored" in caplog.text
    # the other column's own errors name it: the file's first column has two classes
    one = tmp_path / "one.csv"
    one.write_text(
        "path,digit,odd\n" + "".join(f"{p},3,{o}\n" for p, o in zip(files, odd, strict=True))
    )
    with pytest.raises(DataError, match=r"one.csv \(task 'digit'\): only one class"):
        scarce.fit(one, method="multitask", label_column="odd,digit")


def test_task_files_are_read_with_data_columns_or_the_defaults(tmp_path: Path):
    from scarce.api import _task_set
    from scarce.core.errors import DataError

    own = tmp_path / "own.csv"
    own.write_text("quote,topic\nfirst text,a\nsecond text,b\n", encoding="utf-8")
    plain = tmp_path / "plain.csv"
    plain.write_text("text,label\nthird text,x\nfourth text,y\n", encoding="utf-8")
    cols = {"text_column": "quote", "label_column": "topic"}
    assert _task_set("t", own, "text", cols).classes == ("a", "b")
    assert _task_set("t", plain, "text", cols).classes == ("x", "y")
    other = tmp_path / "other.csv"
    other.write_text("body,kind\nfifth,x\nsixth,y\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"task 't'.*'quote' and 'topic', or else 'text'"):
        _task_set("t", other, "text", cols)
    with pytest.raises(DataError, match="holds text data but DATA is image"):
        _task_set("t", plain, "image", {"text_column": "text", "label_column": "label"})
