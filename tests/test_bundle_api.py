"""Fit -> save -> load -> predict, the bundle's defences, the sklearn estimator, the CLI."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import pickle
import unicodedata
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest

import scarce
from scarce import bundle
from scarce.cli.main import main
from scarce.core.errors import BundleError, ConfigError, DataError, NotFittedError
from scarce.encoders import create_encoder
from tests.conftest import fortunes_subset, write_image_folder, write_text_csv


@pytest.fixture(scope="module")
def text_model(tmp_path_factory, fortunes_data):
    texts, labels = fortunes_subset(fortunes_data, 8, seed=1, classes=("science", "food", "sports"))
    path = write_text_csv(tmp_path_factory.mktemp("t") / "train.csv", texts, labels)
    return scarce.fit(path, seed=0), path


def test_roundtrip_same_probabilities(tmp_path, text_model, fortunes_data):
    model, _ = text_model
    x = fortunes_data[0][-20:]
    out = model.save(tmp_path / "m.scarce")
    loaded = scarce.load(out)
    np.testing.assert_array_equal(model.predict_proba(x), loaded.predict_proba(x))
    assert loaded.classes_ == ("food", "science", "sports")
    assert repr(loaded) == (
        f"Model(method='linear-probe', backbone={loaded.manifest['backbone']['id']!r}, "
        "modality='text', classes=['food', 'science', 'sports'])"
    )
    assert np.allclose(loaded.predict_proba(x).sum(1), 1)


def test_manifest_records_run(text_model, tmp_path):
    model, _path = text_model
    m, _ = bundle.read(model.save(tmp_path / "m.scarce"))
    assert m["format_version"] == bundle.FORMAT_VERSION
    assert m["method"] == "linear-probe"
    assert m["config"]["class_weight"] == "balanced"
    assert m["backbone"]["id"] == "minilm-l6"
    assert m["backbone"]["weights_sha256"] == create_encoder("minilm-l6").weights_sha256()
    assert m["labels"] == ["food", "science", "sports"]
    assert m["seed"] == 0
    assert len(m["data"]["sha256"]) == 64
    assert m["data"]["counts"] == {"food": 8, "science": 8, "sports": 8}
    assert {"torch", "numpy", "scikit-learn", "scarce", "python"} <= set(m["versions"])
    assert set(m["files"]) == {"weights.safetensors"}
    with zipfile.ZipFile(tmp_path / "m.scarce") as z:  # walk 15: unzipped, they were 0600
        assert {i.external_attr >> 16 for i in z.infolist()} == {0o644}
    assert "C" in m["method_state"]
    # DESIGN's validation metrics: the cross-validation that chose C, every example once
    v = m["metrics"]["validation"]
    assert v["n"] == 24
    assert "cross-validation" in v["how"]
    assert 1 / 3 < v["accuracy"] <= 1  # better than chance on 3 classes
    knn = scarce.fit(_path, method="knn", seed=0).manifest["metrics"]
    assert "leave-one-out" in knn["validation"]["how"]  # audit 26: it had none
    setfit = scarce.fit(_path, method="setfit", config={"steps": 2}, seed=0).manifest["metrics"]
    assert "validation" not in setfit
    assert "scarce eval" in setfit["note"]


def test_same_seed_same_model(text_model):
    model, path = text_model
    again = scarce.fit(path, seed=0)
    x = ["A recipe for bread.", "The team won the cup."]
    np.testing.assert_array_equal(model.predict_proba(x), again.predict_proba(x))
    assert model.manifest["data"]["sha256"] == again.manifest["data"]["sha256"]
    assert model.manifest["data"]["order_sha256"] == again.manifest["data"]["order_sha256"]


def test_data_records_hash_the_order_beside_the_content():
    """Walk 41: the same target in another order chose another step under the same record;
    with the seed, the order decides the draws, so the record holds both."""
    from scarce.data.types import Inputs, LabeledSet, UnlabeledSet

    texts = ["a b", "c d", "e f", "g h"]
    y = np.array([0, 1, 0, 1])
    one = LabeledSet(Inputs.from_texts(texts), y, ("p", "q"))
    other = LabeledSet(Inputs.from_texts(texts[::-1]), y[::-1], ("p", "q"))
    a, b = one.hash_record(), other.hash_record()
    assert a["sha256"] == b["sha256"]
    assert a["order_sha256"] != b["order_sha256"]
    relabeled = LabeledSet(Inputs.from_texts(texts), 1 - y, ("p", "q")).hash_record()
    assert relabeled["order_sha256"] != a["order_sha256"]
    u, v = (UnlabeledSet(Inputs.from_texts(t)).record() for t in (texts, texts[::-1]))
    assert u["sha256"] == v["sha256"]
    assert u["order_sha256"] != v["order_sha256"]


def _rewrite(src: Path, dst: Path, change) -> None:
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    change(files)
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in files.items():
            z.writestr(n, b)


def _reseal(bundle_files, **updates):
    files = bundle_files
    m = json.loads(files["manifest.json"])
    m.update(updates)
    m["checksum"] = bundle._checksum(m)
    files["manifest.json"] = json.dumps(m).encode()


def _relabel(change):
    def go(files):
        m = json.loads(files["manifest.json"])
        _reseal(files, labels=change(m["labels"]))

    return go


def _reweigh(change):
    """The weights changed by `change(name, array)` and the manifest sealed again: a bundle
    whose hashes all hold (walk 31 forged such bundles)."""
    from safetensors.numpy import load, save

    def go(files):
        t = {k: change(k, v) for k, v in load(files["weights.safetensors"]).items()}
        files["weights.safetensors"] = save(t)
        listed = json.loads(files["manifest.json"])["files"]
        listed["weights.safetensors"] = hashlib.sha256(files["weights.safetensors"]).hexdigest()
        _reseal(files, files=listed)

    return go


def _flip_weights(files):
    w = bytearray(files["weights.safetensors"])
    w[-5] ^= 0xFF
    files["weights.safetensors"] = bytes(w)


CASES = {
    "tampered weights": (_flip_weights, "does not match its sha256"),
    "edited manifest": (
        lambda f: f.__setitem__("manifest.json", f["manifest.json"].replace(b'"food"', b'"drink"')),
        "modified after the bundle was written",
    ),
    "future format": (
        lambda f: _reseal(f, format_version=99),
        "format version 99 is not supported",
    ),
    "path outside root": (
        lambda f: f.__setitem__("../evil.txt", b"x"),
        "points outside the bundle",
    ),
    "extra file": (lambda f: f.__setitem__("payload.pkl", b"x"), "not listed in the manifest"),
    "missing weights": (lambda f: f.pop("weights.safetensors"), "weights.safetensors is missing"),
    # sealed again after the edit: the contents are checked too (walk 31)
    "a label short": (_relabel(lambda c: c[:-1]), "do not fit together or the 2 labels"),
    "a label repeated": (_relabel(lambda c: [c[0], *c[:-1]]), "2 or more distinct names"),
    "labels not a list": (_relabel(lambda c: "abc"), "2 or more distinct names"),
    "NaN weights": (_reweigh(lambda k, v: np.full_like(v, np.nan)), "hold NaN or infinite"),
    "rows cut": (_reweigh(lambda k, v: v[:2]), "do not fit together or the 3 labels"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_bundles_refused(case, tmp_path, text_model, capsys):
    model, _ = text_model
    good = model.save(tmp_path / "good.scarce")
    bad = tmp_path / "bad.scarce"
    change, message = CASES[case]
    _rewrite(good, bad, change)
    with pytest.raises(BundleError, match=message):
        scarce.load(bad)
    inp = write_text_csv(tmp_path / "in.csv", ["hello"], None)
    code = main(["predict", str(bad), str(inp), "--out", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("form", ["zip", "folder"])
def test_files_added_to_a_bundle_are_listed_checked_and_not_loaded(
    form, tmp_path, text_model, monkeypatch
):
    """DESIGN: `scarce export` puts model.onnx into the bundle. Added files are hashed in the
    manifest like the rest; the graph is checked on every load but never held in memory."""
    model, _ = text_model
    path = model.save(tmp_path / "m.scarce")
    if form == "folder":
        folder = tmp_path / "m_dir"
        with zipfile.ZipFile(path) as z:
            z.extractall(folder)
        path = folder
    before, _ = bundle.read(path)
    graph = b"\x08\x07" + uuid.uuid4().bytes * 1000
    bundle.add_files(
        path,
        {bundle.ONNX: graph, bundle.ONNX_TOKENIZER: b"{}"},
        {"onnx": {"file": bundle.ONNX}, "created": "forged"},
        expect_weights=before["files"][bundle.WEIGHTS],
    )
    after, _ = bundle.read(path)
    assert after["onnx"] == {"file": bundle.ONNX}
    assert after["created"] == before["created"]  # the writer's own keys are not taken
    assert "modified" in after
    assert set(after["files"]) == {bundle.WEIGHTS, bundle.ONNX, bundle.ONNX_TOKENIZER}
    x = ["A recipe for bread."]
    np.testing.assert_array_equal(scarce.load(path).predict_proba(x), model.predict_proba(x))
    _, raw = bundle._read_files(Path(path))
    assert bundle.ONNX not in raw  # checked by hash, not kept
    # saved anew, the model does not claim a graph it no longer holds
    again, _ = bundle.read(scarce.load(path).save(tmp_path / "again.scarce"))
    assert "onnx" not in again
    assert set(again["files"]) == {bundle.WEIGHTS}
    # a bundle that changed since it was loaded is not written into
    with pytest.raises(BundleError, match="changed while it was being read"):
        bundle.add_files(path, {bundle.ONNX: b"x"}, {}, expect_weights="0" * 64)
    # a damaged graph fails the load like any other member
    if form == "folder":
        (path / bundle.ONNX).write_bytes(graph[:-1] + b"!")
    else:
        _rewrite(path, path, lambda f: f.__setitem__(bundle.ONNX, graph[:-1] + b"!"))
    with pytest.raises(BundleError, match=r"model\.onnx does not match its sha256"):
        scarce.load(path)


def test_a_folder_bundle_cut_short_while_adding_stays_as_it_was(tmp_path, text_model, monkeypatch):
    model, _ = text_model
    folder = tmp_path / "m_dir"
    with zipfile.ZipFile(model.save(tmp_path / "m.scarce")) as z:
        z.extractall(folder)
    real = bundle.os.replace
    calls = []

    def second_fails(a, b):
        calls.append(b)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(a, b)

    monkeypatch.setattr(bundle.os, "replace", second_fails)
    with pytest.raises(KeyboardInterrupt):
        bundle.add_files(folder, {bundle.ONNX: b"graph"}, {"onnx": {}})
    monkeypatch.undo()
    x = ["A recipe for bread."]
    np.testing.assert_array_equal(scarce.load(folder).predict_proba(x), model.predict_proba(x))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.scarce", "m_dir"]  # no leftovers


def test_export_refuses_a_read_only_bundle_before_any_work(tmp_path, text_model, capsys):
    model, _ = text_model
    path = model.save(tmp_path / "m.scarce")
    path.chmod(0o444)
    assert main(["export", str(path)]) == 2
    assert "read-only). Add --no-embed" in capsys.readouterr().err
    assert main(["export", str(path), "--no-embed"]) == 2  # and nothing to write
    assert "nothing to write" in capsys.readouterr().err


def test_walk16_adding_keeps_mode_follows_links_and_repairs_the_graph(
    tmp_path, text_model, capsys, caplog
):
    model, _ = text_model
    real = model.save(tmp_path / "real.scarce")
    real.chmod(0o600)
    link = tmp_path / "link.scarce"
    link.symlink_to(real.name)
    graph = uuid.uuid4().bytes * 100
    bundle.add_files(link, {bundle.ONNX: graph}, {"onnx": {"file": bundle.ONNX}})
    assert link.is_symlink()  # the bundle it names was updated, not the link replaced
    assert bundle.ONNX in bundle.member_names(real)
    assert real.stat().st_mode & 0o777 == 0o600  # a private bundle stays private
    # a damaged graph: load refuses and says how to mend it; the export path mends it
    _rewrite(real, real, lambda f: f.__setitem__(bundle.ONNX, graph[::-1]))
    with pytest.raises(BundleError, match=r"intact: `scarce export` on this bundle puts a new"):
        scarce.load(real)
    x = ["A recipe for bread."]
    np.testing.assert_array_equal(
        scarce.load(real, spare_graph=True).predict_proba(x), model.predict_proba(x)
    )
    bundle.add_files(real, {bundle.ONNX: graph}, {"onnx": {"file": bundle.ONNX}})
    scarce.load(real)
    # saving over it says what the old file held that the new one will not
    with caplog.at_level("WARNING", logger="scarce"):
        scarce.load(real).save(real)
    assert "replaced without its exported ONNX graph" in caplog.text
    # a folder bundle: desktop files are no members; --onnx inside it and read-only refused
    folder = tmp_path / "f.scarce"
    with zipfile.ZipFile(real) as z:
        z.extractall(folder)
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    scarce.load(folder)
    inside = folder / "model.onnx"
    assert main(["export", str(folder), "--onnx", str(inside), "--no-embed"]) == 2
    assert "is inside the folder bundle" in capsys.readouterr().err
    folder.chmod(0o555)
    try:
        assert main(["export", str(folder)]) == 2
        assert "is read-only). Add --no-embed" in capsys.readouterr().err
    finally:
        folder.chmod(0o755)
    assert not inside.exists()


def test_truncated_bundle_refused(tmp_path, text_model, capsys):
    model, _ = text_model
    good = model.save(tmp_path / "good.scarce")
    bad = tmp_path / "trunc.scarce"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    inp = write_text_csv(tmp_path / "in.csv", ["hello"], None)
    assert main(["predict", str(bad), str(inp)]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err
    with pytest.raises(BundleError, match=r"not a scarce bundle \(not a zip file\)"):
        scarce.load(inp)  # a CSV was never a bundle: not 'truncated'
    with pytest.raises(ConfigError, match=r"^\S+ is a folder; give a file name"):
        model.save(tmp_path)  # the Python API names no CLI flag


def test_every_flipped_byte_is_refused_cleanly(tmp_path, text_model):
    """A flipped byte inside compressed data raised a raw zlib.error; any damage must come
    back as a BundleError (or, in a zip header field nothing reads, load as before)."""
    model, _ = text_model
    data = model.save(tmp_path / "good.scarce").read_bytes()
    bad = tmp_path / "flip.scarce"
    for i in range(0, len(data), max(1, len(data) // 150)):
        b = bytearray(data)
        b[i] ^= 0xFF
        bad.write_bytes(bytes(b))
        with contextlib.suppress(BundleError):
            scarce.load(bad)


def test_cli_refuses_an_out_that_would_lose_data(tmp_path, text_csv, text_model, capsys):
    """--out naming the input, a folder, a non-bundle file or an unwritable place is refused
    up front (exit 2), with the user's files untouched."""
    before = text_csv.read_bytes()
    other = tmp_path / "notes.txt"
    other.write_text("keep me")
    (tmp_path / "folder").mkdir()
    for out, says in [
        (text_csv, "is also an input"),
        (tmp_path / "folder", "is a folder; give a file name such as"),
        (other, "is not a scarce bundle"),
        (other / "m.scarce", "is a file, not a folder"),
    ]:
        assert main(["fit", str(text_csv), "--out", str(out), "-q"]) == 2
        assert says in capsys.readouterr().err
    model, _ = text_model
    good = model.save(tmp_path / "good.scarce")
    assert main(["predict", str(good), str(text_csv), "--out", str(text_csv)]) == 2
    assert "is also an input" in capsys.readouterr().err
    (tmp_path / "m.onnx").mkdir()
    assert main(["export", str(good), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert "--onnx" in capsys.readouterr().err
    # another data file under an output's name is not replaced; an earlier output is
    victim = tmp_path / "victim.csv"
    victim.write_bytes(before)
    assert main(["predict", str(good), str(text_csv), "--out", str(victim)]) == 2
    assert "is not a file that scarce wrote" in capsys.readouterr().err
    # walk 27: a data set was replaced because the word "input" was somewhere in it
    for name in ("words.csv", "words.jsonl"):
        worded = tmp_path / name
        worded.write_text('text,label\n"encodes an input, prediction",a\n{"input": 1}\n')
        assert main(["predict", str(good), str(text_csv), "--out", str(worded)]) == 2
        assert "is not a file that scarce wrote" in capsys.readouterr().err
        assert worded.read_text().startswith("text,label")
    for name in ("preds.csv", "preds.jsonl"):  # its own output is replaced, run after run
        preds = tmp_path / name
        for _ in range(2):
            assert main(["predict", str(good), str(text_csv), "--out", str(preds), "-q"]) == 0
    precious = tmp_path / "precious.json"
    results = tmp_path / "results.json"  # its own results are replaced, run after run
    for _ in range(2):
        args = ["eval", str(text_csv), "--methods", "knn", "--shots", "2", "--repeats", "1"]
        assert main([*args, "--out", str(results), "-q"]) == 0
    for kept in ('{"keep": 1}', '{"notes": "copied from \\"scarce-results\\""}'):
        precious.write_text(kept)  # walk 27: the second was replaced
        assert main(["eval", str(text_csv), "--methods", "knn", "--out", str(precious)]) == 2
        assert "is not a file that scarce wrote" in capsys.readouterr().err
    precious.write_text('{"keep": 1}')
    assert main(["report", str(precious), "--out", str(victim)]) == 2
    assert "must be an .html file" in capsys.readouterr().err
    assert victim.read_bytes() == before
    assert precious.read_text() == '{"keep": 1}'
    assert text_csv.read_bytes() == before
    assert other.read_text() == "keep me"
    with pytest.raises(ConfigError, match="not a scarce bundle"):
        model.save(other)


def test_cli_text_fit_predict(tmp_path, text_csv, capsys):
    out = tmp_path / "m.scarce"
    assert main(["fit", str(text_csv), "--out", str(out), "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out
    inp = write_text_csv(
        tmp_path / "new.csv", ["The soup needs salt.", "Quarks and leptons."], None
    )
    assert main(["predict", str(out), str(inp), "--proba"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "input,prediction,proba_food,proba_science,proba_sports"
    assert lines[1].startswith("1,food,")  # data rows numbered from 1, as in error messages
    assert lines[2].startswith("2,science,")
    assert main(["predict", str(out), str(inp), "--out", str(tmp_path / "p.jsonl")]) == 0
    rows = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in rows] == ["food", "science"]
    assert set(rows[0]) == {"input", "prediction"}
    assert [r["input"] for r in rows] == [1, 2]  # row numbers as JSON numbers


def test_cli_image_fit_predict(tmp_path, image_folder, capsys):
    out = tmp_path / "m.scarce"
    assert main(["fit", str(image_folder), "--out", str(out), "--quiet", "--seed", "3"]) == 0
    capsys.readouterr()
    files = [
        str(image_folder / "trouser" / f)
        for f in sorted(p.name for p in (image_folder / "trouser").iterdir())[:2]
    ]
    assert (
        main(
            [
                "predict",
                str(out),
                *files,
                str(image_folder / "sneaker"),
                "--proba",
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 0
    )
    import csv

    with (tmp_path / "p.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 + 6
    assert rows[0]["input"] == files[0]
    assert {r["prediction"] for r in rows[:2]} == {"trouser"}
    assert {r["prediction"] for r in rows[2:]} == {"sneaker"}
    assert (
        abs(sum(float(rows[0][f"proba_{c}"]) for c in ("sneaker", "trouser", "tshirt")) - 1) < 1e-4
    )


def test_second_fit_encodes_nothing(tmp_path, fashion):
    x, y, _, _ = fashion
    g = np.random.default_rng(uuid.uuid4().int % 2**32)
    imgs = x[:24].copy()
    imgs[:, 0, 0] = g.integers(0, 255, 24)  # fresh content for the cache
    folder = write_image_folder(tmp_path / "d", imgs, [str(int(c)) for c in y[:24]])
    enc = create_encoder("efficientnet-lite0")
    c0 = enc.forward_calls
    scarce.fit(folder)
    assert enc.forward_calls > c0
    c1 = enc.forward_calls
    scarce.fit(folder, seed=1)
    assert enc.forward_calls == c1


def test_sklearn_estimator(fortunes_data, tmp_path):
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    texts, labels = fortunes_data
    g = np.random.default_rng(0)
    idx = np.concatenate(
        [
            g.choice([i for i, lab in enumerate(labels) if lab == c], 12, replace=False)
            for c in ("science", "food", "sports")
        ]
    )
    X = [texts[i] for i in idx]
    y = np.array([labels[i] for i in idx])
    clf = scarce.TransferClassifier(backbone="minilm-l6", config={"C": 1.0})
    c2 = clone(clf)
    assert c2.get_params() == clf.get_params()
    assert repr(c2) == "TransferClassifier(backbone='minilm-l6', config={'C': 1.0})"
    with pytest.raises(NotFittedError):
        c2.predict(X[:2])
    # one string is refused, as scikit-learn's text estimators refuse one (walk 31: listed,
    # it was its characters, and predict('my card was stolen') gave 18 answers)
    with pytest.raises(DataError, match=r"X is one str .*takes a list of inputs \(\[x\]"):
        clf.fit(X[0], y[:1])
    scores = cross_val_score(clf, X, y, cv=3)
    assert scores.mean() > 0.6  # 3 classes: chance is 0.33
    pipe = Pipeline(
        [
            ("lower", FunctionTransformer(lambda t: [s.lower() for s in t])),
            ("clf", scarce.TransferClassifier()),
        ]
    )
    pipe.fit(X, y)
    assert set(pipe.predict(X[:5])) <= set(y)
    assert pipe.predict_proba(X[:5]).shape == (5, 3)
    ints = scarce.TransferClassifier().fit(X, (y == "food").astype(int))
    with pytest.raises(DataError, match="X is one str"):
        ints.predict(X[0])
    assert ints.classes_.tolist() == [0, 1]
    assert ints.predict(X[:3]).dtype.kind == "i"
    # fitted estimators pickle (joblib.dump is how scikit-learn users store them), as bundles
    again = pickle.loads(pickle.dumps(ints))  # noqa: S301 - our own bytes
    np.testing.assert_array_equal(again.predict_proba(X[:5]), ints.predict_proba(X[:5]))
    assert again.predict(X[:3]).dtype.kind == "i"
    # integer classes sort as numbers, as np.unique(y) does: scikit-learn's scorers pick the
    # probability columns by that order (as strings, 10 sorted before 2 and ROC-AUC was 0.06)
    two_ten = np.where(y == "food", 10, 2)
    assert scarce.TransferClassifier().fit(X, two_ten).classes_.tolist() == [2, 10]
    auc = cross_val_score(clf, X, two_ten, cv=3, scoring="roc_auc")
    assert auc.mean() > 0.8
    frame = __import__("pandas").DataFrame({"text": X, "label": two_ten})
    assert scarce.fit(frame).classes_ == (2, 10)
    # a numeric column that once held a NaN reads as floats 0.0 / 1.0: they come back as given
    floats = scarce.TransferClassifier().fit(X, (y == "food").astype(float))
    assert floats.classes_.tolist() == [0.0, 1.0]
    assert floats.predict(X[:3]).dtype.kind == "f"
    # scarce.fit agrees (walk 12): floats and bools come back as given, also from a bundle,
    # and numbers sort as numbers, as np.unique(y) sorts them
    halves = np.where(y == "food", 10.5, 2.5)
    model = scarce.fit(X, halves)
    assert model.classes_ == (2.5, 10.5)
    assert scarce.TransferClassifier().fit(X, halves).classes_.tolist() == [2.5, 10.5]
    loaded = scarce.load(model.save(tmp_path / "floats.scarce"))
    assert loaded.classes_ == (2.5, 10.5)
    assert isinstance(loaded.predict(X[:1])[0], float)
    assert scarce.fit(X, y == "food").classes_ == (False, True)
    # a NaN among string labels is a missing label, not a class called "nan"
    with pytest.raises(DataError, match="label 0 is missing"):
        scarce.TransferClassifier().fit(X, [np.nan, *y[1:]])
    # strings given in memory are the caller's classes as they are (walk 19: ' food ' came
    # back as 'food', a decomposed 'café' composed, and every score against y read 0.5)
    odd = np.where(y == "food", " food ", unicodedata.normalize("NFD", "café"))
    fitted = scarce.TransferClassifier().fit(X, odd)
    assert sorted(fitted.classes_.tolist()) == sorted(set(odd.tolist()))
    assert fitted.score(X, odd) > 0.9
    w = np.where(odd == " food ", 1.0, 0.0)  # scikit-learn's scorers pass sample_weight
    assert fitted.score(X, odd, sample_weight=w) == float(
        np.mean(fitted.predict(X)[w > 0] == " food ")
    )
    frame = __import__("pandas").DataFrame({"text": X, "label": odd})
    assert set(scarce.fit(frame).predict(X[:10])) <= set(odd.tolist())


def test_fit_from_arrays_of_images(fashion, tmp_path):
    x, y, xt, yt = fashion
    idx = np.concatenate([np.flatnonzero(y == c)[:5] for c in (1, 8)])
    model = scarce.fit(list(x[idx]), [int(c) for c in y[idx]])
    tidx = np.concatenate([np.flatnonzero(yt == c)[:10] for c in (1, 8)])
    pred = model.predict(list(xt[tidx]))
    assert (pred == yt[tidx]).mean() > 0.9  # integer labels come back as integers
    assert model.classes_ == (1, 8)
    assert model.score(list(xt[tidx]), yt[tidx]) > 0.9
    # float images in [0, 1] are the same pictures: they were read as near-black 0..1 bytes
    as_float = model.predict_proba([xt[tidx[0]] / 255.0])
    np.testing.assert_allclose(as_float, model.predict_proba([xt[tidx[0]]]), atol=1e-4)
    reloaded = scarce.load(model.save(tmp_path / "m.scarce"))
    assert reloaded.predict(list(xt[tidx[:2]])).tolist() == [int(c) for c in yt[tidx[:2]]]


@pytest.mark.parametrize(
    ("x", "y", "says"),
    [
        ("flat", None, "got shape (784,). A flat row of numbers is a flattened image"),
        ("channels_first", None, "is channels-first"),
        ("strings_2d", None, "for text, pass a flat list of strings"),
        ("texts", "two_columns", "labels must be one per input (a 1-D sequence)"),
        ("texts", "nan", "label 2 is missing (nan)"),
        ("texts", "none", "label 2 is missing (None)"),
        ("path", "labels", "which holds its own labels"),
    ],
)
def test_in_memory_data_of_the_wrong_shape_is_named(fashion, tmp_path, x, y, says):
    """Each of these trained a useless model, made classes like "['a' 'a']", or raised a
    raw numpy/PIL error."""
    imgs = fashion[0][:4]
    texts = ["a cat", "a dog", "a car", "a bus"]
    xs = {
        "flat": list(imgs.reshape(4, -1)),
        "channels_first": list(np.repeat(imgs[:, None], 3, 1)),
        "strings_2d": np.array(texts * 2).reshape(-1, 2),  # (n, 1) is one column of texts
        "texts": texts,
        "path": str(write_text_csv(tmp_path / "t.csv", texts, ["x", "y", "x", "y"])),
    }
    ys = {
        None: ["x", "y", "x", "y"],
        "two_columns": np.array([["x", "x"], ["y", "y"], ["x", "x"], ["y", "y"]]),
        "nan": ["x", "y", float("nan"), "y"],
        "none": ["x", "y", None, "y"],
        "labels": ["x", "y", "x", "y"],
    }
    with pytest.raises(DataError) as e:
        scarce.fit(xs[x], ys[y])
    assert says in str(e.value)


def test_dataframes_and_in_memory_evaluation(fortunes_data, caplog):
    import pandas as pd

    texts, labels = fortunes_subset(fortunes_data, 6, 0, ("food", "sports"))
    df = pd.DataFrame({"text": texts, "label": labels})
    model = scarce.fit(df)
    assert model.score(df) == model.score(texts, labels) > 0.8
    # walk 27: a model fitted in memory scores and predicts a file with its own column names
    renamed = df.rename(columns={"text": "doc", "label": "topic"})
    assert model.score(renamed, text_column="doc", label_column="topic") == model.score(df)
    assert list(model.predict(renamed, text_column="doc")) == list(model.predict(texts))
    # walk 31: the table with its labels (or any other column) predicts as its file does
    assert list(model.predict(df.assign(id=1))) == list(model.predict(texts))
    with pytest.raises(DataError, match=r"this model reads 'text': .*\['doc', 'topic'\]"):
        model.predict(renamed)
    with pytest.raises(DataError, match="text_column='body'"):
        model.predict(df, text_column="body")
    assert scarce.fit(df[["text"]], df.label).classes_ == ("food", "sports")
    with caplog.at_level("WARNING", logger="scarce"):
        res = scarce.evaluate(texts, labels, shots=[2], repeats=2, methods=["linear-probe"])
    assert {s["method"] for s in res["summary"]} == {"baseline", "linear-probe"}
    # walk 26: said before the run, not only in every cell of the table after it
    assert "2 paired repeats cannot tell methods apart" in caplog.text
    with pytest.raises(DataError, match=r"pass a list: model\.predict"):
        model.predict("the match went to penalties")


def test_predict_images_listed_in_a_csv(tmp_path, image_folder, capsys):
    out = tmp_path / "m.scarce"
    assert main(["fit", str(image_folder), "--out", str(out), "--quiet"]) == 0
    table = image_folder.parent / "to_predict.csv"
    table.write_text("path\nimgs/trouser/6.png\nimgs/sneaker/12.png\n")
    capsys.readouterr()
    assert main(["predict", str(out), str(table)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1].endswith("trouser")
    assert lines[2].endswith("sneaker")


def test_in_memory_inputs_walk31(image_folder, text_model):
    """A folder in a list stands for its images, as on the command line; NaN pixels are an
    error, not black; one column of texts as a 2-D array (what ColumnTransformer passes on)
    is texts."""
    from scarce.api import as_inputs

    folder = image_folder / "trouser"
    one = next(folder.iterdir())
    got = as_inputs([str(folder), str(one)], "image")
    assert len(got) == len(list(folder.iterdir())) + 1
    pixels = np.random.default_rng(0).random((20, 20, 3))
    pixels[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="1 of 1200 values are NaN or infinite"):
        as_inputs([pixels], "image")
    # texts whose first names a file here are texts still: most of them are no image path
    assert as_inputs([str(one), "a text", "another text"]).modality == "text"
    model, _ = text_model
    column = np.array(["A recipe for bread.", "The team won."], dtype=object).reshape(-1, 1)
    np.testing.assert_array_equal(model.predict(column), model.predict(list(column[:, 0])))


def test_text_model_given_images_says_so(tmp_path, text_model, image_folder, capsys):
    model, _ = text_model
    bundle_path = model.save(tmp_path / "t.scarce")
    assert main(["predict", str(bundle_path), str(image_folder)]) == 2
    assert "this is a text model" in capsys.readouterr().err


def test_review_edge_cases_of_in_memory_data(tmp_path, fortunes_data, text_model):
    """Found reviewing the in-memory paths: each of these was silently wrong."""
    import pandas as pd

    from scarce.api import _unlabeled
    from scarce.data.images import to_uint8

    # a DataFrame as unlabeled data was read as its column names
    df = pd.DataFrame({"text": ["hello", "world", "again"], "label": ["a", "b", "a"]})
    assert _unlabeled(df, "text", "text", "--unlabeled", "DATA").inputs.items == tuple(df.text)
    # pandas' missing values are missing labels, not a class '<NA>'
    for y in (pd.Series(["x", None, "y"], dtype="string"), pd.array([1, None, 2], "Int64")):
        with pytest.raises(DataError, match="label 1 is missing"):
            scarce.fit(["a b", "c d", "e f"], y)
    # a [0, 1] image that a resize overshot a little is still a [0, 1] image
    img = np.full((4, 4), 1.0000001)
    assert to_uint8(img).max() == 255
    assert to_uint8(np.full((2, 2), 65535, np.uint16)).max() == 255
    # duplicate DataFrame columns are named, not a raw pandas error
    with pytest.raises(DataError, match="appear more than once"):
        scarce.fit(pd.DataFrame([["a", "b", "x"]], columns=["text", "text", "label"]))
    # float labels read as a table reads them: 2.0 is '2'
    model = scarce.fit(["a cat", "a dog", "a car", "a bus"], [1.0, 2.0, 1.0, 2.0])
    assert model.fitted.classes == ("1", "2")
    # an int-labelled model answers with ints everywhere
    ints = scarce.fit(["a cat", "a dog", "a car", "a bus"], [1, 2, 1, 2])
    assert ints.prediction_rows(["a cat"])[0]["prediction"] in (1, 2)
    assert ints.predict_tasks(["a cat"])["label"][0] in (1, 2)
    # a damaged .scarce file can be re-created under its name
    bad = tmp_path / "m.scarce"
    bad.write_bytes(b"PK\x03\x04 half a zip")
    text_model[0].save(bad)
    assert scarce.load(bad).classes_ == text_model[0].classes_


def test_a_named_text_column_is_not_replaced_by_text(tmp_path, text_model, capsys):
    model, _ = text_model
    good = model.save(tmp_path / "m.scarce")
    inp = tmp_path / "in.csv"
    inp.write_text("text,body\nhello,fresh bread\n")
    assert main(["predict", str(good), str(inp), "--text-column", "bdy"]) == 2
    assert "Did you mean 'body'" in capsys.readouterr().err
    assert main(["predict", str(good), str(inp)]) == 0  # the model's column, or else text


@pytest.mark.parametrize("kind", ["text", "image"])
def test_standalone_bundle_loads_without_the_weights_package(
    kind, tmp_path, text_model, image_folder, monkeypatch, fortunes_data, fashion
):
    """DESIGN's --standalone: the backbone's weights travel in the bundle (safetensors only,
    no pickle), and load when the package is missing or holds other weights."""
    from scarce.core.errors import EncoderUnavailable
    from scarce.encoders import base

    if kind == "text":
        model, _ = text_model
        x = list(fortunes_data[0][-6:])
    else:
        model = scarce.fit(image_folder, seed=0)
        x = list(fashion[2][:4])
    plain = model.save(tmp_path / "plain.scarce")
    out = tmp_path / "m.scarce"
    out = model.save(out, standalone=True)
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
    assert "backbone/model.safetensors" in names
    assert not any(n.endswith((".pth", ".pt", ".bin", ".pkl")) for n in names)
    expected = model.predict_proba(x)

    def missing(name: str):
        raise EncoderUnavailable(f"{name} is not installed")

    monkeypatch.setattr(scarce.api, "create_encoder", missing)
    monkeypatch.setattr(base, "_bundled", {})
    loaded = scarce.load(out)
    assert loaded.encoder is not model.encoder  # rebuilt from the bundle's copy
    np.testing.assert_allclose(loaded.predict_proba(x), expected, atol=1e-5)
    with pytest.raises(EncoderUnavailable):
        scarce.load(plain)  # without the copy the package is needed


def test_cli_fit_standalone(tmp_path, text_csv, capsys):
    out = tmp_path / "m.scarce"
    assert main(["fit", str(text_csv), "--out", str(out), "--standalone", "-q"]) == 0
    m, _ = bundle.read(out)
    assert m["backbone"]["bundled"] == sorted(
        ["config.json", "model.safetensors", "tokenizer.json", "sentence_bert_config.json"]
    )
    assert "backbone/model.safetensors" in m["files"]
    assert main(["predict", str(out), str(text_csv)]) == 0
    args = ["fit", str(text_csv), "--out", str(tmp_path / "e5.scarce"), "--standalone"]
    assert main([*args, "--backbone", "multilingual-e5-small"]) == 2  # before fitting
    assert "cannot be copied into a bundle" in capsys.readouterr().err


def test_written_probabilities_keep_small_ones_above_zero():
    """walk 11: six decimals wrote 57 of 180 probabilities as 0.0, and log-loss from the
    file was infinite on a miss; six significant digits keep them."""

    class Sharp:
        classes = ("a", "b", "c")

        def predict_proba(self, inputs):
            return np.tile([1 - 3e-9, 1e-9, 2e-9], (len(inputs), 1))

    model = scarce.api.Model(Sharp(), None, {"modality": "text"})
    row = model.prediction_rows(["x", "y"], proba=True)[0]
    assert row["prediction"] == "a"
    assert (row["proba_b"], row["proba_c"]) == (1e-9, 2e-9)


def test_a_hugging_face_dataset_is_read_as_its_table(tmp_path):
    """walk 19: SetFit users pass datasets.Dataset; it was refused as 'without labels'."""
    datasets = pytest.importorskip("datasets")
    pd = pytest.importorskip("pandas")
    from scarce.data.public import fortunes

    texts, labels = fortunes(("food", "law"))
    frame = pd.DataFrame({"text": texts[:12] + texts[-12:], "label": labels[:12] + labels[-12:]})
    ds = datasets.Dataset.from_pandas(frame)
    model = scarce.fit(ds, backbone="minilm-l3")
    assert model.classes_ == ("food", "law")
    assert model.score(ds) > 0.9
    with pytest.raises(DataError, match=r"DatasetDict of splits \['train', 'test'\]"):
        scarce.fit(datasets.DatasetDict({"train": ds, "test": ds}))
    # a ClassLabel column's names are its classes, as a table's names are (walk 21)
    coded = datasets.Dataset.from_dict({"text": list(frame.text), "label": [0] * 12 + [1] * 12})
    coded = coded.cast_column("label", datasets.ClassLabel(names=["food", "law"]))
    assert scarce.fit(coded, backbone="minilm-l3").classes_ == ("food", "law")


def test_the_estimator_speaks_scikit_learns_dialect():
    """walk 19: sklearn's NotFittedError did not catch ours; config__C was refused."""
    from sklearn.exceptions import NotFittedError as SklearnNotFitted

    from scarce.core.errors import NotFittedError

    for caught in (SklearnNotFitted, NotFittedError):
        with pytest.raises(caught, match="not fitted yet"):
            scarce.TransferClassifier().predict(["x"])
    clf = scarce.TransferClassifier(config={"C": 1.0}).set_params(config__C=0.1, seed=3)
    assert clf.get_params()["config"] == {"C": 0.1}
    assert clf.seed == 3
    with pytest.raises(ValueError, match="invalid parameter 'configs'"):
        clf.set_params(configs={})


def test_a_test_set_answered_with_one_class_is_pointed_out(caplog):
    """walk 19: 238 of 240 test images predicted 'defective' (test accuracy 0.500) went by
    without a word beside a validation accuracy of 0.87."""
    from scarce.api import _test_metrics
    from scarce.data.types import Inputs, LabeledSet

    test = LabeledSet(
        Inputs.from_texts([f"t{i}" for i in range(40)]), np.arange(40) % 2, ("a", "b")
    )

    class OneAnswer:
        classes = ("a", "b")

        def predict_proba(self, inputs):
            return np.tile([0.1, 0.9], (len(inputs), 1))

    with caplog.at_level(logging.WARNING, logger="scarce"):
        metrics = _test_metrics(OneAnswer(), test)
    assert metrics["test_accuracy"] == 0.5
    assert metrics["test_counts"] == {"a": 20, "b": 20}
    assert (
        "40 of the 40 test predictions are 'b', though 50% of the test examples are" in caplog.text
    )
    assert "--source DATA --method mcc" in caplog.text


def test_predict_reads_texts_from_stdin(tmp_path, text_model, monkeypatch, capsys):
    """walk 19: a sentence given as INPUT read "no such file"; `-` now reads stdin."""
    import io

    model, _ = text_model
    path = model.save(tmp_path / "m.scarce")
    texts = ["A recipe for bread and butter.", "", "The telescope saw a comet."]
    piped = io.TextIOWrapper(io.BytesIO(("\n".join(texts) + "\n").encode()), encoding="utf-8")
    monkeypatch.setattr("sys.stdin", piped)
    assert main(["predict", str(path), "-", "--proba"]) == 0
    out = capsys.readouterr()
    rows = out.out.strip().splitlines()
    assert rows[0].startswith("input,prediction,proba_")
    # read as a .txt file is: line numbers, and a blank line predicted with a warning
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    assert "<stdin>: 1 empty text(s) (row 2)" in out.err
    assert rows[1].split(",")[1] == model.predict(texts[:1])[0]
    latin1 = io.TextIOWrapper(io.BytesIO("caf\xe9 au lait\n".encode("latin-1")))
    monkeypatch.setattr("sys.stdin", latin1)
    assert main(["predict", str(path), "-"]) == 2
    assert "<stdin>, line 1: not valid UTF-8" in capsys.readouterr().err
    assert main(["predict", str(path), "my card was charged twice"]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err
    assert "pipe them in, one per line" in err


def test_pil_images_and_a_hugging_face_image_dataset(fashion):
    """walk 21: a list of PIL images was refused as 'expected text', and an image Dataset was
    told to pass text_column='image'."""
    from PIL import Image

    x, y, _, _ = fashion
    idx = np.concatenate([np.flatnonzero(y == c)[:6] for c in (1, 8)])
    pils = [Image.fromarray(x[i]) for i in idx]
    labels = [int(y[i]) for i in idx]
    model = scarce.fit(pils, labels)
    assert model.modality == "image"
    assert model.score(pils, labels) > 0.9
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"image": pils, "label": labels})
    ds = ds.cast_column("image", datasets.Image())
    with pytest.raises(DataError, match=r"images in column 'image'.*scarce.fit\(ds\['image'\]"):
        scarce.fit(ds)
    assert scarce.fit(ds["image"], ds["label"]).classes_ == (1, 8)


def test_python_errors_say_how_to_spell_the_flags_they_name(tmp_path, capsys):
    """walks 19, 21: messages from the API named CLI flags; a note now gives their Python
    spelling, and the command line prints the message alone."""
    with pytest.raises(ConfigError) as e:
        scarce.fit(["a b", "c d"], ["x", "y"], method="knn", unlabeled=["e f"])
    assert "knn does not use --unlabeled" in str(e.value)
    assert e.value.__notes__ == [
        "In Python: --unlabeled is unlabeled=; --method is method=; --source is source=."
    ]
    with pytest.raises(ConfigError) as e:
        scarce.TransferClassifier(method="knn").fit(["a b", "c d"], ["x", "y"], unlabeled=["e"])
    assert e.value.__notes__[0].startswith("In Python: --unlabeled is fit(X, y, unlabeled=U)")
    data = write_text_csv(tmp_path / "d.csv", ["a b", "c d", "e f", "g h"], ["x", "y"] * 2)
    code = main(
        ["fit", str(data), "--method", "knn", "--unlabeled", str(data), "--out", "m.scarce"]
    )
    assert code == 2
    assert "In Python" not in capsys.readouterr().err


def test_python_warnings_say_how_to_spell_the_flags_they_name(caplog):
    """walk 24: warnings from the API still named CLI flags alone; they now end with the
    Python spelling, the estimator's where it is the caller, and none at the command line."""
    from scarce.core import logs

    texts, labels = ["good day", "bad day", "good night", "bad night"] * 3, ["g", "b"] * 6
    with caplog.at_level(logging.WARNING, logger="scarce"):
        scarce.fit(texts, labels, backbone="minilm-l3", unlabeled=texts[:4])
    assert "(In Python: --unlabeled is unlabeled=.)" in caplog.text
    caplog.clear()
    clf = scarce.TransferClassifier(backbone="minilm-l3")
    with caplog.at_level(logging.WARNING, logger="scarce"):
        clf.fit(texts, labels, unlabeled=texts[:4])
    assert "(In Python: --unlabeled is fit(X, y, unlabeled=U).)" in caplog.text
    assert logs.SPELLING.get() is None  # the call's spelling ends with it
    undo = logs.command_line()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scarce"):
        scarce.fit(texts, labels, backbone="minilm-l3", unlabeled=texts[:4])
    undo()
    assert "--unlabeled" in caplog.text
    assert "In Python" not in caplog.text


def test_the_baseline_reports_the_cross_validation_that_chose_its_c(text_csv):
    """audit 26: the manifest said the baseline 'holds nothing out' while its C was chosen
    by cross-validation, which is now its validation, as the linear probe's is."""
    model = scarce.fit(text_csv, method="baseline")
    metrics = model.manifest["metrics"]
    assert "note" not in metrics
    assert "cross-validation" in metrics["validation"]["how"]
    assert "TF-IDF vocabulary" in metrics["validation"]["how"]
    assert 0 <= metrics["validation"]["accuracy"] <= 1


def test_fit_says_when_a_one_shot_model_has_nothing_to_check_it(tmp_path, fortunes_data, capsys):
    """Walk 27: at one example per class the probe answered with a mean top probability of
    0.63 at 0.29 accuracy, and fit printed no caution beside the model."""
    texts, labels = fortunes_subset(fortunes_data, 1, seed=3)
    data = write_text_csv(tmp_path / "one.csv", texts, labels)
    assert (
        main(["fit", str(data), "--backbone", "minilm-l3", "--out", str(tmp_path / "m.scarce")])
        == 0
    )
    out = capsys.readouterr().out
    assert "a class has one example, so nothing could be held out" in out
    manifest = scarce.load(tmp_path / "m.scarce").manifest
    assert "how far to trust the probabilities" in manifest["metrics"]["note"]


def test_fit_says_when_test_probabilities_are_worse_than_a_uniform_guess(fortunes_data, caplog):
    """Walk 27: at one shot on hard data every method's log-loss was worse than uniform, and
    fit printed the accuracy alone. Labels shuffled here: a confident model is then wrong
    with confidence."""
    texts, labels = fortunes_subset(fortunes_data, 1, seed=3)
    more, truth = fortunes_subset(fortunes_data, 10, seed=4)
    wrong = list(np.random.default_rng(0).permutation(truth))
    with caplog.at_level(logging.WARNING, logger="scarce"):
        model = scarce.fit(texts, labels, backbone="minilm-l3", test=(more, wrong))
    uniform = np.log(len(set(labels)))
    assert model.manifest["metrics"]["test_log_loss"] > uniform
    assert "is worse than a uniform guess's" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scarce"):
        model = scarce.fit(texts, labels, backbone="minilm-l3", test=(more, truth))
    assert model.manifest["metrics"]["test_log_loss"] < uniform
    assert "uniform guess" not in caplog.text


def test_overconfidence_advice_fits_the_kind_of_fit(caplog):
    """Walk 28: after a domain fit (30 source labels per class) the warning advised more
    labels per class for cross-validation, which sets nothing there."""
    from scarce.api import _test_metrics
    from scarce.data.types import Inputs, LabeledSet

    y = np.arange(12) % 3
    test = LabeledSet(Inputs.from_texts([f"t{i}" for i in range(12)]), y, ("a", "b", "c"), "t")
    wrong = np.full((12, 3), 0.005)
    wrong[np.arange(12), (y + 1) % 3] = 0.99  # confidently wrong
    for kw, says in [
        ({}, "More labeled examples per class"),
        ({"domain": True}, "a few labeled target examples (--labeled-target)"),
        ({"domain": True, "target_labels": True}, "more labeled target examples"),
    ]:
        caplog.clear()
        with caplog.at_level("WARNING", logger="scarce"):
            got = _test_metrics(None, test, wrong, **kw)  # type: ignore[arg-type]
        assert got["test_log_loss"] > np.log(3)
        assert says in caplog.text


def test_a_bundle_zipped_again_by_a_file_manager_loads(tmp_path, text_model):
    """Walk 31: unzipped to look at, then compressed again (macOS adds __MACOSX/._* members,
    and most tools one folder around it all), a bundle was refused with a misleading hint."""
    model, _ = text_model
    good = model.save(tmp_path / "good.scarce")
    with zipfile.ZipFile(good) as z:
        files = {n: z.read(n) for n in z.namelist()}
    again = tmp_path / "again.scarce"
    with zipfile.ZipFile(again, "w") as z:
        for n, b in files.items():
            z.writestr(f"good/{n}", b)
            z.writestr(f"__MACOSX/good/._{n}", b"\x00\x05\x16\x07")
        z.writestr("good/.DS_Store", b"junk")
    x = ["A recipe for bread.", "The team won the cup."]
    np.testing.assert_array_equal(scarce.load(again).predict_proba(x), model.predict_proba(x))
    # anything else unlisted is still refused
    with zipfile.ZipFile(again, "a") as z:
        z.writestr("good/payload.bin", b"x")
    with pytest.raises(BundleError, match="not listed in the manifest"):
        scarce.load(again)
