"""Encoders: offline loading, ONNX Runtime checked against torch, the embedding cache."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from scarce.core.errors import EncoderUnavailable, UnknownName
from scarce.data.types import Inputs
from scarce.encoders import create_encoder, encoders
from scarce.encoders.base import EncoderSpec
from scarce.encoders.cache import EmbeddingCache
from scarce.encoders.onnx import TOLERANCE, make_backend, onnx_path, torch_backend
from scarce.encoders.text import CHARS_PER_TOKEN

INSTALLED = [s.name for s in encoders if s.installed()]


def sample(name: str, fashion, fortunes_data) -> Inputs:
    if encoders.get(name).modality == "image":
        return Inputs.from_images([*list(fashion[0][:5]), np.zeros((40, 70, 3), np.uint8)])
    return Inputs.from_texts([*fortunes_data[0][:5], "Un café, s'il vous plaît."])


@pytest.mark.parametrize("name", INSTALLED)
def test_onnx_matches_torch(name, fashion, fortunes_data):
    enc = create_encoder(name)
    if not enc.trainable:
        pytest.skip(f"{name} runs in its own engine: no torch module to export")
    backend = enc.backend()
    assert enc.backend_name == "onnxruntime"
    meta = json.loads(onnx_path(enc).with_suffix(".json").read_text())
    assert meta["ok"]
    assert meta["max_abs_diff"] <= TOLERANCE
    batch = enc.prepare(sample(name, fashion, fortunes_data).items)
    got, want = backend(batch), torch_backend(enc)(batch)
    assert got.shape == (6, enc.spec.dim)
    np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", [n for n in INSTALLED if create_encoder(n).trainable])
def test_staged_net_matches_the_encoder(name, fashion, fortunes_data):
    """The unit-by-unit net that fine-tuning trains gives the encoder's own embeddings, on a
    padded batch of unequal lengths, whether it runs whole or from a cached prefix."""
    import torch

    from scarce.encoders.staged import to_tensors
    from scarce.methods._tuning import embed_states, prefix_states

    enc = create_encoder(name)
    inputs = sample(name, fashion, fortunes_data)
    want = enc.encode(inputs, use_cache=False)
    net = enc.staged().eval()
    with torch.no_grad():
        whole = net(to_tensors(enc.prepare(inputs.items))).numpy()
        first = len(net.units) - 1
        states = prefix_states(net, enc, inputs.items, None, first)
        cached = embed_states(net, states, first).numpy()
    np.testing.assert_allclose(whole, want, atol=1e-4, rtol=0)
    np.testing.assert_allclose(cached, want, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["minilm-l6", "mpnet-base"])
def test_sentence_embeddings_are_semantic(name):
    if name not in INSTALLED:
        pytest.skip(f"{name} is not installed: {encoders.get(name).pip}")
    enc = create_encoder(name)
    e = enc.encode(
        Inputs.from_texts(
            [
                "The cat sleeps on the sofa.",
                "A kitten naps on the couch.",
                "Interest rates rose by half a percent.",
            ]
        )
    )
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-4)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.3


def test_lite0_recognises_imagenet_photo():
    import torch
    from efficientnet_lite_pytorch import EfficientNet
    from skimage.data import chelsea

    enc = create_encoder("efficientnet-lite0")
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=enc.weights_path())

    x = torch.from_numpy(enc.prepare((chelsea(),))["pixels"])
    assert int(net.eval()(x).argmax()) in (281, 282, 285)  # tabby / tiger cat / Egyptian cat


def test_second_encode_runs_no_network(fortunes_data):
    enc = create_encoder("minilm-l6")
    nonce = uuid.uuid4().hex  # new content, whatever an earlier run left in the cache
    x = Inputs.from_texts([f"{t} ({nonce})" for t in fortunes_data[0][:40]])
    before = enc.forward_calls
    a = enc.encode(x)
    assert enc.forward_calls > before
    calls = enc.forward_calls
    b = enc.encode(x)
    assert enc.forward_calls == calls
    np.testing.assert_array_equal(a, b)


def test_long_texts_tokenize_as_a_whole(fortunes_data, monkeypatch):
    """A long text is tokenized from a prefix (a 50 MB text to `scarce serve` took 87 s),
    with the same ids as the whole text, also where the prefix cannot stand for it."""
    enc = create_encoder("minilm-l6")
    words = " ".join(fortunes_data[0]).split()
    g = np.random.default_rng(0)
    texts = [
        " ".join(g.choice(words, 40_000)),  # prose far past the cut
        "start" + " " * 50_000 + " then words" * 100,  # nothing but spaces in the prefix
        "x" * 20_000 + " tail",  # one long word
        # a word over WordPiece's 100 characters ([UNK]) that the cut shortens to pieces,
        # which would fill the last kept places (walk 12)
        ("x" * 101 + " ") * 158 + "a " * 95 + "b" * 150 + " tail",
        "漢字のテキスト" * 3_000,
        "short",
    ]
    got = enc._encode(texts)
    for text, e in zip(texts, got, strict=True):
        assert e.ids == enc.tokenizer.encode(text).ids
    seen = []

    class Spy:  # the longest text the tokenizer is given
        def __getattr__(self, name):
            real = getattr(tok, name)
            return lambda x, *a, **k: (
                seen.append(max(map(len, x if isinstance(x, list) else [x]))) or real(x, *a, **k)
            )

    tok = enc.tokenizer
    monkeypatch.setattr(enc, "_tokenizer", Spy())
    enc._encode([texts[0]])
    assert seen == [enc.max_length * CHARS_PER_TOKEN]


def test_cache_key_includes_weights_and_preprocessing():
    enc = create_encoder("efficientnet-lite0")
    name, weights, pre = enc.key.split(":")
    assert name == "efficientnet-lite0"
    assert weights == enc.weights_sha256()[:16]
    assert len(pre) == 12


def test_fallback_to_torch_is_said(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("SCARCE_CACHE_DIR", str(tmp_path))
    enc = create_encoder("efficientnet-lite0")

    def broken(*a, **k):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr("scarce.encoders.onnx.to_onnx", broken)
    with caplog.at_level(logging.WARNING, logger="scarce"):
        run, name = make_backend(enc)
    assert name == "torch"
    assert "falling back to torch" in caplog.text
    assert "exporter exploded" in caplog.text
    out = run(enc.prepare((np.zeros((30, 30), np.uint8),)))
    assert out.shape == (1, 1280)


def test_tuned_network_export_failure_is_said_once(monkeypatch, caplog, tmp_path):
    from scarce.encoders.onnx import checked_backend

    enc = create_encoder("efficientnet-lite0")
    calls = []

    def broken(*a, **k):
        calls.append(1)
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr("scarce.encoders.onnx.to_onnx", broken)
    path = tmp_path / "tuned.onnx"
    with caplog.at_level(logging.WARNING, logger="scarce"):
        run, name = checked_backend(enc.torch_module, enc, path, "tuned lite0")
    assert name == "torch"
    assert "exporter exploded" in caplog.text
    assert run(enc.prepare((np.zeros((30, 30), np.uint8),))).shape == (1, 1280)
    assert checked_backend(enc.torch_module, enc, path, "tuned lite0")[1] == "torch"
    assert len(calls) == 1  # the failure is recorded, not retried on every load


@pytest.mark.parametrize("then", ["raises", "returns"])
def test_ctrl_c_inside_the_export_stops_it_and_caches_no_failure(monkeypatch, tmp_path, then):
    """Walk 38: a Ctrl-C inside torch.export came out as its own error, the fit went on and
    the export was cached as failed (torch for good); a callee that swallows it and returns
    must not go on either."""
    import torch

    from scarce.encoders.onnx import checked_backend

    enc = create_encoder("minilm-l3")

    def swallowing(*a, **k):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises in this thread before the sleep ends
        except KeyboardInterrupt:
            pass
        if then == "raises":
            raise RuntimeError("Failed to export the model with torch.export")

    monkeypatch.setattr(torch.onnx, "export", swallowing)
    path = tmp_path / "graph.onnx"
    # Python's own handler, as an interactive run has it: a background job of a
    # non-interactive shell starts with SIGINT ignored, and then Ctrl-C rightly does nothing
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            checked_backend(enc.torch_module, enc, path, "l3")
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert not path.exists()
    assert not path.with_suffix(".json").exists()  # no failure recorded


def test_a_cached_graph_changed_since_export_is_exported_again(caplog, tmp_path):
    """Walk 31: a parseable edit of the cached graph moved every prediction without a word;
    its sha256, recorded at export, is checked before it runs."""
    import hashlib

    from scarce.encoders.onnx import checked_backend

    enc = create_encoder("minilm-l3")
    path = tmp_path / "graph.onnx"
    batch = enc.prepare(("a short sentence",))
    _, name = checked_backend(enc.torch_module, enc, path, "l3")
    assert name == "onnxruntime"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(path.read_bytes() + b"\x00")  # any change at all
    with caplog.at_level(logging.WARNING, logger="scarce"):
        run, name = checked_backend(enc.torch_module, enc, path, "l3")
    assert name == "onnxruntime"
    assert "cannot be used (changed since it was exported); exporting it again" in caplog.text
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == meta["sha256"]
    np.testing.assert_allclose(run(batch), torch_backend(enc)(batch), atol=TOLERANCE, rtol=0)


def test_unknown_and_uninstalled_encoders():
    with pytest.raises(UnknownName, match="Did you mean 'minilm-l6'"):
        create_encoder("minilm-l7")
    spec = EncoderSpec(
        name="ghost",
        modality="text",
        dim=3,
        params=1,
        licence="x",
        requires=("no_such_package_xyz",),
        pip="pip install ghost",
        factory="x:y",
    )
    encoders.register("ghost", spec)
    try:
        with pytest.raises(EncoderUnavailable, match="pip install ghost"):
            create_encoder("ghost")
    finally:
        encoders._items.pop("ghost")
    data_only = dataclasses.replace(spec, requires=(), distributions=("no-such-dist-xyz",))
    assert not data_only.installed()


def test_split_wheel_model_is_rebuilt_once_and_atomically(tmp_path, monkeypatch):
    if "mpnet-base" not in INSTALLED:
        pytest.skip("mpnet-base is not installed")
    from scarce.encoders.text import SPLIT_WHEELS, _rebuilt

    monkeypatch.setenv("SCARCE_CACHE_DIR", str(tmp_path))
    folder, dists = SPLIT_WHEELS["mpnet-base"]
    path = _rebuilt(folder, dists)
    assert (path / "model.safetensors").stat().st_size > 400e6
    assert json.loads((path / "config.json").read_text())["model_type"] == "mpnet"
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert _rebuilt(folder, dists) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp  # not extracted again
    # no half-written folder is left beside the model
    assert [p.name for p in (tmp_path / "models").iterdir()] == [path.parent.name]


_WRITER = """
import numpy as np, sys
from pathlib import Path
from scarce.encoders.cache import EmbeddingCache
c = EmbeddingCache(Path(sys.argv[1]))
i = 0
while True:
    c.put_many("enc", {f"k{i}-{j}": np.full(64, i, np.float32) for j in range(50)})
    i += 1
    if i == 5:
        print("ready", flush=True)
"""


def test_cache_survives_crash_mid_write(tmp_path):
    db = tmp_path / "emb.sqlite"
    p = subprocess.Popen([sys.executable, "-c", _WRITER, str(db)], stdout=subprocess.PIPE)
    assert p.stdout is not None
    assert p.stdout.readline().strip() == b"ready"
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    p.stdout.close()
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    cache = EmbeddingCache(db)
    n = cache.count("enc")
    assert n >= 250
    assert n % 50 == 0  # whole batches only: no half-written batch
    got = cache.get_many("enc", ["k0-0", "k3-49"], 64)
    assert got["k3-49"][0] == 3


def test_corrupt_cache_file_is_set_aside(tmp_path, caplog):
    db = tmp_path / "emb.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="scarce"):
        cache = EmbeddingCache(db)
    assert "unreadable" in caplog.text
    cache.put_many("e", {"k": np.ones(4, np.float32)})
    assert cache.get_many("e", ["k"], 4)["k"].sum() == 4
    assert list(tmp_path.glob("emb.corrupt-*"))


def test_lite0_160_is_lite0_fed_smaller_images():
    import torch
    from efficientnet_lite_pytorch import EfficientNet
    from skimage.data import chelsea

    small, full = create_encoder("efficientnet-lite0-160"), create_encoder("efficientnet-lite0")
    assert small.weights_path() == full.weights_path()
    assert small.key != full.key  # its embeddings are cached apart from Lite0's
    x = small.prepare((chelsea(),))["pixels"]
    assert x.shape == (1, 3, 160, 160)
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=small.weights_path())
    assert int(net.eval()(torch.from_numpy(x)).argmax()) in (281, 282, 285)  # still a cat


def test_listings_show_size_languages_auto_and_version(capsys):
    from scarce.cli.main import main

    assert main(["backbones", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["minilm-l6"]["size_mb"] > 50
    assert rows["efficientnet-lite0"]["size_mb"] < 30
    assert "100" in rows["multilingual-e5-small"]["languages_note"]
    # walk 15: 250 columns wide; the long cells now go below a table that fits 80
    assert main(["backbones"]) == 0
    text = capsys.readouterr().out
    assert max(map(len, text.splitlines())) <= 80
    assert "minilm-l3, minilm-l6: Apache-2.0" in text
    assert main(["methods", "--json"]) == 0
    names = [m["name"] for m in json.loads(capsys.readouterr().out)]
    assert "auto" in names
    assert "linear-probe" in names
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("scarce ")


def test_parallel_fits_can_load_the_text_model_at_once():
    """eval --jobs 2 with setfit or finetune crashed every time: two threads importing
    transformers lazily ("module 'transformers' has no attribute 'AutoModel'"). A fresh
    process, since the import is the race."""
    script = """
import threading
from scarce.encoders import create_encoder
enc = create_encoder("minilm-l6")
errs, nets = [], []
def go():
    try:
        nets.append(enc.staged())
    except Exception as e:
        errs.append(repr(e))
ts = [threading.Thread(target=go) for _ in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
assert not errs and len(nets) == 4, errs
assert len({id(n) for n in nets}) == 4  # each fit trains its own copy
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
