"""`scarce export`: one ONNX graph per bundle that a plain onnxruntime + PIL/tokenizers user
runs to the bundle's own probabilities; each head's torch form matches its numpy form; what
cannot be exported says so."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image

import scarce
from scarce import bundle as bundle_io
from scarce.cli.main import main
from scarce.core.errors import ConfigError
from scarce.encoders import create_encoder
from scarce.export import export_onnx
from scarce.methods._domain import DomainFitted
from scarce.methods.distill import DistillFitted
from scarce.methods.linear_probe import LogisticHead
from scarce.methods.multitask import MultitaskFitted
from tests.conftest import fortunes_subset, write_image_folder, write_text_csv

CLASSES = ("food", "science", "sports")


def _pixels(path, size: int) -> np.ndarray:
    """The recipe the graph's metadata gives, in plain PIL + numpy."""
    with Image.open(path) as f:
        if f.format == "JPEG":  # walk 14: decoded at a reduced scale, as scarce does
            f.draft("RGB", (size, size))
        im = f.copy()
    if im.mode.startswith("I"):  # 16/32-bit: min-max to 0..255, truncated, first
        a = np.asarray(im, np.float32)
        a = (a - a.min()) / (a.max() - a.min() or 1.0) * 255.0
        im = Image.fromarray(a.astype(np.uint8))
    im = im.convert("RGB")
    w, h = im.size
    k = size / min(w, h)
    im = im.resize((max(size, round(w * k)), max(size, round(h * k))), Image.Resampling.BICUBIC)
    left, top = (im.size[0] - size) // 2, (im.size[1] - size) // 2
    x = np.asarray(im.crop((left, top, left + size, top + size)), np.float32) / 255
    return ((x - 0.5) / 0.5).transpose(2, 0, 1)


def _tokens(tokenizer_path, texts: list[str]) -> dict[str, np.ndarray]:
    from tokenizers import Tokenizer

    enc = Tokenizer.from_file(str(tokenizer_path)).encode_batch(texts)
    width = max(len(e.ids) for e in enc)
    ids = np.zeros((len(texts), width), np.int64)
    mask = np.zeros((len(texts), width), np.int64)
    for i, e in enumerate(enc):
        ids[i, : len(e.ids)], mask[i, : len(e.ids)] = e.ids, 1
    return {"input_ids": ids, "attention_mask": mask}


def test_image_bundle_exports_to_a_graph_a_plain_user_can_run(tmp_path, fashion):
    x, y, xt, _ = fashion
    names = {0: "tshirt", 1: "trouser", 7: "sneaker"}
    idx = np.concatenate([np.flatnonzero(y == c)[:6] for c in names])
    data = write_image_folder(tmp_path / "imgs", x[idx], [names[int(c)] for c in y[idx]])
    bundle = scarce.fit(data, seed=0).save(tmp_path / "m.scarce")
    out = tmp_path / "m.onnx"
    # nothing to write: refused before any work
    assert main(["export", str(bundle), "--no-embed"]) == 2
    assert main(["export", str(bundle), "--onnx", str(out)]) == 0
    # its own graph is replaced; an .onnx file scarce did not write is not (audit 26)
    assert main(["export", str(bundle), "--onnx", str(out), "--no-embed", "-q"]) == 0
    other = tmp_path / "theirs.onnx"
    other.write_bytes(b"\x08\x07\x12\x07pytorch")
    assert main(["export", str(bundle), "--onnx", str(other), "--no-embed", "-q"]) == 2
    assert other.read_bytes() == b"\x08\x07\x12\x07pytorch"
    proto = onnx.load(str(out))
    assert proto.doc_string.startswith("Exported by scarce ")
    assert proto.doc_string.endswith("Output probabilities: (batch, classes).")
    meta = {p.key: p.value for p in proto.metadata_props}
    # DESIGN: the bundle holds the graph too, listed and hashed in its manifest
    manifest, _ = bundle_io.read(bundle)
    assert manifest["onnx"]["file"] == "model.onnx"
    assert "model.onnx" in manifest["files"]
    assert meta["scarce.weights_sha256"] == manifest["files"]["weights.safetensors"]
    with zipfile.ZipFile(bundle) as z:
        inside = onnx.load_from_string(z.read("model.onnx"))
    assert inside.graph == proto.graph
    assert json.loads(meta["scarce.classes"]) == ["sneaker", "trouser", "tshirt"]
    assert meta["scarce.method"] == "linear-probe"
    test = write_image_folder(tmp_path / "test", xt[:5], ["q"] * 5) / "q"
    # walk 5: a 16-bit PNG followed the recipe to white (0.90 off) until it said how
    Image.fromarray(xt[5].astype(np.uint16) * 200 + 7).save(test / "deep.png")
    with Image.open(test / "deep.png") as im:
        assert im.mode.startswith("I")
    # a photo-sized JPEG: 0.0017 to 0.031 apart unless the recipe decodes it as scarce does
    big = np.random.default_rng(0).integers(0, 256, (800, 1000, 3), dtype=np.uint8)
    big[200:600, 300:700] = np.asarray(Image.fromarray(xt[6]).convert("RGB").resize((400, 400)))
    Image.fromarray(big).save(test / "photo.jpg", quality=90)
    assert json.loads(meta["scarce.preprocessing"])["jpeg_draft"].startswith("Image.draft")
    paths = sorted(test.iterdir())
    sess = ort.InferenceSession(str(out))
    got = sess.run(["probabilities"], {"pixels": np.stack([_pixels(p, 224) for p in paths])})[0]
    np.testing.assert_allclose(got, scarce.load(bundle).predict_proba(paths), atol=1e-5)


def test_text_bundles_export_with_their_tokenizer(tmp_path, fortunes_data):
    texts, labels = fortunes_subset(fortunes_data, 8, seed=4)
    data = write_text_csv(tmp_path / "t.csv", texts, labels)
    query = ["The court ruled on the appeal.", "Eggs, flour and butter; bake it. " * 40]
    # a tuned encoder cut at 16 tokens: the graph must cut long inputs the same way
    methods = (
        ("linear-probe", []),
        ("finetune", ["epochs=1", "blocks=1"]),
        # walk 12 left these out: prototypes and stored examples are constants in the graph
        ("knn", []),
        ("simpleshot", []),
        ("protonet", []),
    )
    for method, sets in methods:
        bundle = tmp_path / f"{method}.scarce"
        extra = [a for s in sets for a in ("--set", s)]
        if method == "finetune":
            extra += ["--set", "max_length=16"]
        assert main(["fit", str(data), "--method", method, *extra, "--out", str(bundle)]) == 0
        out = tmp_path / f"{method}.onnx"
        before = bundle.read_bytes()
        got = export_onnx(scarce.load(bundle), out)
        assert got["max_abs_diff"] <= 1e-4
        assert bundle.read_bytes() == before  # only `into=` (the CLI's default) changes it
        tok = tmp_path / f"{method}.tokenizer.json"
        assert got["tokenizer"] == str(tok)
        p = ort.InferenceSession(str(out)).run(None, _tokens(tok, query))[0]
        np.testing.assert_allclose(p, scarce.load(bundle).predict_proba(query), atol=1e-5)


def _features(n: int = 7, d: int = 16) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, d)).astype(np.float32) * 3


def _check_head(fitted, t: dict[str, np.ndarray]) -> None:
    from scarce.methods.base import torch_head

    feats = _features(d=t["shift"].shape[0])
    head = torch_head(t, fitted.torch_proba)
    with torch.inference_mode():
        got = head(torch.from_numpy(feats)).numpy()
    np.testing.assert_allclose(got, fitted.proba_from_features(feats), atol=1e-5)


@pytest.mark.parametrize("normalize", ["l2", "standard", "none"])
def test_logistic_head_torch_form_matches_numpy(normalize):
    g = np.random.default_rng(1)
    t = {
        "coef": g.normal(size=(3, 16)).astype(np.float32),
        "intercept": g.normal(size=3).astype(np.float32),
        "shift": g.normal(size=16).astype(np.float32) * 0.1,
        "scale": g.uniform(0.5, 2, size=16).astype(np.float32),
    }
    head = LogisticHead(t["coef"], t["intercept"], t["shift"], t["scale"], {"normalize": normalize})
    from scarce.methods.base import torch_head

    feats = _features()
    with torch.inference_mode():
        got = torch_head(head.tensors(), head.torch_proba)(torch.from_numpy(feats)).numpy()
    np.testing.assert_allclose(got, head.predict_proba(feats), atol=1e-5)


def test_array_heads_torch_forms_match_numpy():
    g = np.random.default_rng(2)
    enc = create_encoder("minilm-l6")

    def r(*shape):
        return g.normal(size=shape).astype(np.float32)

    common = {"shift": r(16) * 0.1, "scale": np.abs(r(16)) + 0.5}
    domain = {
        **common,
        "w1": r(8, 16),
        "b1": r(8),
        "bn_mean": r(8),
        "bn_var": np.abs(r(8)) + 0.1,
        "bn_w": r(8),
        "bn_b": r(8),
        "w2": r(3, 8),
        "b2": r(3),
    }
    _check_head(DomainFitted(enc, CLASSES, domain, {}), domain)
    distill = {**common, "coef": r(3, 16), "intercept": r(3)}
    _check_head(DistillFitted(enc, CLASSES, distill, {}), distill)
    multi = {**common, "shared.w": r(8, 16), "shared.b": r(8)}
    multi.update({"head.0.w": r(3, 8), "head.0.b": r(3), "head.1.w": r(2, 8), "head.1.b": r(2)})
    meta = {"tasks": {"topic": list(CLASSES), "odd": ["no", "yes"]}, "task_order": ["topic", "odd"]}
    _check_head(MultitaskFitted(enc, CLASSES, multi, meta), multi)


def test_maml_and_reptile_heads_torch_form_matches_numpy():
    """walk 12: maml and reptile predict with one small network on the encoder, and export."""
    from scarce.methods._episodic import HeadFitted
    from scarce.methods.base import torch_head

    g = np.random.default_rng(3)

    def r(*shape):
        return g.normal(size=shape).astype(np.float32)

    w = {"w1": r(8, 16), "b1": r(8), "w2": r(16, 8) * 0.1, "b2": r(16), "w": r(3, 16), "b": r(3)}
    t = {"mean": r(16), **w}
    fitted = HeadFitted(create_encoder("minilm-l6"), CLASSES, t, {})
    feats = _features(d=16)
    with torch.inference_mode():
        got = torch_head(t, fitted.torch_proba)(torch.from_numpy(feats))
    np.testing.assert_allclose(got.numpy(), fitted.proba_from_features(feats), atol=1e-5)
    assert fitted.export_module() is not None


def test_metric_heads_torch_forms_match_numpy():
    """simpleshot, protonet (with and without its meta-trained block) and knn, on unequal
    classes so that the count corrections are in the graph too."""
    from scarce.methods import _episodic as E
    from scarce.methods.base import torch_head, unit_rows
    from scarce.methods.knn import KnnFitted
    from scarce.methods.protonet import ProtoNetFitted
    from scarce.methods.simpleshot import SimpleShotFitted

    g = np.random.default_rng(4)
    enc = create_encoder("minilm-l6")
    feats = _features(d=16)
    shift = g.normal(size=16).astype(np.float32)
    centroids = g.normal(size=(3, 16)).astype(np.float32) * 0.3
    bias = np.array([0.1, 0.02, 0.3], np.float32)
    block = {k: v.detach().numpy() for k, v in E.adapter_init(16, 0).items()}
    block["w2"] = g.normal(size=block["w2"].shape).astype(np.float32) * 0.2
    cases = [
        SimpleShotFitted(enc, CLASSES, centroids, shift, 7.0),
        ProtoNetFitted(enc, CLASSES, centroids * 10, np.zeros(16, np.float32), 0.05),
        ProtoNetFitted(enc, CLASSES, centroids, shift, 5.0, block, {"kept_step": 3}),
    ]
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 1, 0])
    memory = unit_rows(g.normal(size=(len(labels), 16)).astype(np.float32))
    meta = {"k": 5, "temperature": 0.1, "smoothing": 0.05, "class_weight": "balanced"}
    knn = KnnFitted(enc, CLASSES, memory, labels, shift, meta)
    for fitted in cases:
        fitted.bias = bias
    for fitted, t in [(c, c.state()[0]) for c in cases] + [(knn, knn.graph_tensors())]:
        with torch.inference_mode():
            got = torch_head(t, fitted.torch_proba)(torch.from_numpy(feats)).numpy()
        np.testing.assert_allclose(got, fitted.proba_from_features(feats), atol=1e-5)
        assert fitted.export_module() is not None


def test_what_cannot_be_exported_says_so(tmp_path, fortunes_data, capsys):
    texts, labels = fortunes_subset(fortunes_data, 6, seed=4)
    data = write_text_csv(tmp_path / "t.csv", texts, labels)
    model = scarce.fit(data, method="baseline", seed=0)
    with pytest.raises(ConfigError, match="baseline models cannot be exported to ONNX") as e:
        export_onnx(model, tmp_path / "baseline.onnx")
    assert "uses no pretrained encoder" in str(e.value)
    assert not (tmp_path / "baseline.onnx").exists()
    bundle = scarce.fit(data, seed=0).save(tmp_path / "lp.scarce")
    assert main(["export", str(bundle), "--onnx", str(tmp_path / "x.txt")]) == 2
    assert "--onnx must end in .onnx" in capsys.readouterr().err


def test_knn_graph_breaks_ties_between_stored_copies_as_predict_does(tmp_path, fortunes_data):
    """walk 14: one text stored under two labels tied at the k-th neighbour; the graph and
    `predict` must pick the same copy, alone or in a batch."""
    texts, labels = fortunes_subset(fortunes_data, 8, seed=4)
    other = {"food": "sports", "science": "food", "sports": "science"}
    data = write_text_csv(
        tmp_path / "t.csv",
        [*texts, texts[0], texts[9]],
        [*labels, other[labels[0]], other[labels[9]]],
    )
    model = scarce.fit(data, method="knn", seed=0, config={"k": 1})
    export_onnx(model, tmp_path / "k.onnx")
    query = [texts[0], texts[9], "The court ruled on the appeal."]
    got = ort.InferenceSession(str(tmp_path / "k.onnx")).run(
        None, _tokens(tmp_path / "k.tokenizer.json", query)
    )[0]
    want = model.predict_proba(query)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_array_equal(np.concatenate([model.predict_proba([q]) for q in query]), want)
    assert want[0].argmax() == list(model.fitted.classes).index(labels[0])  # the first copy wins
