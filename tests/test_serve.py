"""`scarce serve`: the HTTP service answers as `scarce predict` does, refuses bad input with a
message, and writes nothing to the embedding cache; one test runs the real server."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import scarce
from scarce.cli.main import main
from scarce.core.hashing import sha256_text
from scarce.encoders.cache import EmbeddingCache
from scarce.serve import create_app
from tests.conftest import fortunes_subset, write_image_folder, write_text_csv


def _error(r, status: int) -> str:
    assert r.status_code == status, r.text
    return r.json()["error"]


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def text_bundle(tmp_path_factory, fortunes_data):
    d = tmp_path_factory.mktemp("serve_text")
    data = write_text_csv(d / "train.csv", *fortunes_subset(fortunes_data, 10, seed=2))
    return scarce.fit(data, seed=0).save(d / "t.scarce")


@pytest.fixture(scope="module")
def image_bundle(tmp_path_factory, fashion):
    x, y, _, _ = fashion
    names = {0: "tshirt", 1: "trouser", 7: "sneaker"}
    idx = np.concatenate([np.flatnonzero(y == c)[:8] for c in names])
    d = tmp_path_factory.mktemp("serve_image")
    data = write_image_folder(d / "imgs", x[idx], [names[int(c)] for c in y[idx]])
    return scarce.fit(data, seed=0).save(d / "i.scarce")


def test_text_service_answers_as_predict_does(text_bundle, fortunes_data):
    model = scarce.load(text_bundle)
    client = TestClient(create_app(model))
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert info["classes"] == ["food", "science", "sports"]
    assert (info["modality"], info["method"]) == ("text", "linear-probe")
    texts = list(fortunes_data[0][-12:])
    r = client.post("/predict", json={"texts": texts})
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    rows = model.prediction_rows(texts, proba=True)
    assert got == [{**r, "input": i} for i, r in enumerate(rows)]  # positions, as numbers
    assert [g["prediction"] for g in got] == list(model.predict(texts))
    assert set(got[0]) == {"input", "prediction", "proba_food", "proba_science", "proba_sports"}
    plain = client.post("/predict", json={"texts": texts[:2], "proba": False}).json()
    assert set(plain["predictions"][0]) == {"input", "prediction"}
    assert "warnings" not in plain
    # walk 6: an empty text is predicted, and said, as `scarce predict` says it
    blank = client.post("/predict", json={"texts": [texts[0], " ", ""]}).json()
    assert len(blank["predictions"]) == 3
    assert blank["warnings"] == [
        "2 empty text(s) (texts[1, 2]); each is predicted as an empty text."
    ]


def test_text_service_refuses_bad_requests_with_a_message(text_bundle):
    client = TestClient(create_app(scarce.load(text_bundle), max_batch=3))
    r = client.post("/predict", json={"images": ["aGVsbG8="]})
    assert "takes text inputs" in _error(r, 400)
    r = client.post("/predict", json={"texts": []})
    assert "no inputs" in _error(r, 400)
    r = client.post("/predict", json={"texts": ["a", "b", "c", "d"]})
    assert "at most 3" in _error(r, 413)
    r = client.post("/predict/files", files=[("files", ("a.png", b"x", "image/png"))])
    assert '{"texts": [...]}' in _error(r, 400)
    r = client.post("/predict", json={"texts": "not a list"})
    assert "malformed request (texts: " in _error(r, 400)
    assert "Send JSON, with the header content-type: application/json" in _error(r, 400)
    r = client.post("/predict", content=b'{"texts": ["a"]}')  # no content-type
    assert "content-type: application/json" in _error(r, 400)
    assert "texts.1" in _error(client.post("/predict", json={"texts": ["a", None]}), 400)
    r = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert "malformed request" in _error(r, 400)
    # walk 11: every refusal has the documented {"error": ...} shape, and nothing is ignored
    json_type = {"content-type": "application/json"}
    r = client.post("/predict", content='{"texts": ["café"]}'.encode("latin-1"), headers=json_type)
    assert "send UTF-8 JSON" in _error(r, 400)
    assert "probas: Extra inputs" in _error(
        client.post("/predict", json={"texts": ["a"], "probas": False}), 400
    )
    assert "proba: " in _error(client.post("/predict", json={"texts": ["a"], "proba": "yes"}), 400)
    assert "POST /predict" in _error(client.get("/nowhere"), 404)
    assert client.get("/docs").status_code == 404  # Swagger UI would load from a CDN
    big = json.dumps({"texts": ["word " * 1_100_000]}).encode()  # over 5 MB
    small = TestClient(create_app(scarce.load(text_bundle), max_file_mb=5))
    assert "over 5 MB" in _error(small.post("/predict", content=big, headers=json_type), 413)
    # walk 31: a chunked body has no Content-Length, and was read whole
    chunked = (big[i : i + (1 << 20)] for i in range(0, len(big), 1 << 20))
    r = small.post("/predict", content=chunked, headers=json_type)
    assert "content-length" not in r.request.headers
    assert "over 5 MB" in _error(r, 413)
    tighter = TestClient(create_app(scarce.load(text_bundle), max_file_mb=20, max_request_mb=5))
    r = tighter.post("/predict", content=big, headers=json_type)
    assert "over 5 MB (scarce serve --max-request-mb)" in _error(r, 413)  # walk 36
    r = small.post("/predict", content=iter([b'{"texts": ', b'["a"]}']), headers=json_type)
    assert r.status_code == 200, r.text  # a small chunked body is read as any
    # a lone UTF-16 surrogate (half an emoji) is predicted as U+FFFD, not a 500
    r = client.post("/predict", content=b'{"texts": ["bad \\ud800 half"]}', headers=json_type)
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == [
        "1 text(s) held lone UTF-16 surrogates (texts[0]); each was read as U+FFFD."
    ]
    r = client.post("/predict?proba=false", json={"texts": ["a"]})  # walk 12: was ignored
    assert "reads no query parameters (got ['proba'])" in _error(r, 400)


def test_health_and_info_do_not_wait_behind_predictions(text_bundle):
    """Walk 31: run in the thread pool, /health queued behind 40+ predictions waiting for the
    model's lock, and a load balancer would call a busy service dead."""
    import inspect

    app = create_app(scarce.load(text_bundle))
    ends = {r.path: r.endpoint for r in app.routes if hasattr(r, "endpoint")}
    assert inspect.iscoroutinefunction(ends["/health"])
    assert inspect.iscoroutinefunction(ends["/info"])


def test_served_inputs_are_not_written_to_the_cache(text_bundle):
    model = scarce.load(text_bundle)
    client = TestClient(create_app(model))
    text = f"a sentence nobody has sent before {time.time_ns()}"
    assert client.post("/predict", json={"texts": [text]}).status_code == 200
    cache = EmbeddingCache.default()
    assert cache.get_many(model.encoder.key, [sha256_text(text)], model.encoder.spec.dim) == {}


def test_image_service_takes_files_and_base64(image_bundle, fashion):
    _, _, xt, _ = fashion
    model = scarce.load(image_bundle)
    client = TestClient(create_app(model))
    files = [("files", (f"{i}.png", _png(xt[i]), "image/png")) for i in range(4)]
    r = client.post("/predict/files", files=files)
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    assert [g["input"] for g in got] == ["0.png", "1.png", "2.png", "3.png"]
    # walk 31: a second image under a misspelt field, or proba as a form field, was dropped
    misspelt = [*files[:1], ("file", ("4.png", _png(xt[4]), "image/png"))]
    assert "unknown form field(s) ['file']" in _error(
        client.post("/predict/files", files=misspelt), 400
    )
    r = client.post("/predict/files", files=files[:1], data={"proba": "false"})
    assert "?proba=false" in _error(r, 400)
    # walk 38: a form with no files field was told to send JSON
    only = [("file", ("4.png", _png(xt[4]), "image/png"))]
    said = _error(client.post("/predict/files", files=only), 400)
    assert "Send a multipart form with one field named files per image" in said
    want = model.predict_proba([np.stack([xt[i]] * 3, -1) for i in range(4)])
    probs = np.array([[g[f"proba_{c}"] for c in model.classes_] for g in got])
    np.testing.assert_allclose(probs, want, atol=1e-5)
    b64 = [base64.b64encode(_png(xt[i])).decode() for i in range(2)]
    b64[1] = "data:image/png;base64," + b64[1]  # as a browser's FileReader gives it
    r = client.post("/predict", json={"images": b64})
    assert r.status_code == 200
    assert [g["prediction"] for g in r.json()["predictions"]] == [g["prediction"] for g in got[:2]]


def test_image_service_names_the_bad_file(image_bundle, fashion):
    _, _, xt, _ = fashion
    client = TestClient(create_app(scarce.load(image_bundle), max_file_mb=1))
    good = _png(xt[0])
    files = [("files", ("ok.png", good, "image/png")), ("files", ("cut.png", good[:60], "i/p"))]
    r = client.post("/predict/files", files=files)
    assert "cut.png: cannot read this image" in _error(r, 400)
    assert "?skip_bad=true" in _error(r, 400)
    # walk 19: as `scarce predict --skip-bad`, the readable ones are predicted and each bad
    # one gets its row, in place, with its error
    r = client.post("/predict/files?skip_bad=maybe", files=files)
    assert "bad query parameter (query.skip_bad" in _error(r, 400)
    r = client.post("/predict/files?probas=false", files=files)
    assert "unknown query parameter(s) ['probas']" in _error(r, 400)
    r = client.post("/predict/files?skip_bad=true", files=files)
    assert r.status_code == 200, r.text
    ok, cut = r.json()["predictions"]
    assert (ok["input"], ok["error"]) == ("ok.png", "")
    assert ok["prediction"] in scarce.load(image_bundle).classes_
    assert cut["input"] == "cut.png"
    assert cut["prediction"] is None
    assert "cannot read this image" in cut["error"]
    b64 = [base64.b64encode(good[:60]).decode(), base64.b64encode(good).decode()]
    r = client.post("/predict", json={"images": b64[:1]})
    assert "images[0]: cannot read this image" in _error(r, 400)
    r = client.post("/predict", json={"images": b64, "skip_bad": True})
    assert [(p["input"], p["prediction"] is None) for p in r.json()["predictions"]] == [
        (0, True),
        (1, False),
    ]
    r = client.post("/predict", json={"images": b64[:1], "skip_bad": True})
    assert "no image in the request could be read" in _error(r, 400)
    r = client.post("/predict", json={"images": ["not base64!"]})
    assert "images[0] is not base64" in _error(r, 400)
    big = [("files", ("big.bmp", b"\0" * (1 << 20) + b"x", "image/bmp"))]
    assert client.post("/predict/files", files=big).status_code == 413
    # walk 31: a request's total was not limited, only each file and their count
    whole = TestClient(create_app(scarce.load(image_bundle), max_file_mb=1, max_request_mb=1))
    half = [("files", (f"{i}.png", b"\0" * (600 << 10), "image/png")) for i in range(2)]
    assert "over 1 MB (scarce serve --max-request-mb)" in _error(
        whole.post("/predict/files", files=half), 413
    )
    body = json.dumps({"images": [base64.b64encode(good).decode()] * 4000}).encode()
    assert len(body) > 1 << 20
    chunked = (body[i : i + (1 << 16)] for i in range(0, len(body), 1 << 16))
    r = whole.post("/predict", content=chunked, headers={"content-type": "application/json"})
    assert "over 1 MB" in _error(r, 413)
    assert whole.post("/predict", json={"images": b64[1:]}).status_code == 200
    r = client.post("/predict", json={"texts": ["hello"]})
    assert "takes image inputs" in _error(r, 400)
    assert "malformed request" in _error(client.post("/predict/files"), 400)


def test_cli_refuses_a_missing_bundle_before_serving(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nothing.scarce")]) == 2
    got = capsys.readouterr()
    assert "nothing.scarce" in got.err
    assert "serving" not in got.out + got.err  # said only once the port is taken
    assert main(["serve", str(tmp_path / "nothing.scarce"), "--port", "99999"]) == 2
    assert "--port must be from 0 to 65535" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scarce_serve_runs_a_real_server(text_bundle):
    port = _free_port()
    cmd = [sys.executable, "-m", "scarce.cli.main", "serve", str(text_bundle), "--port", str(port)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(240):  # loading torch and the encoder takes a few seconds
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.5)
        else:
            pytest.fail("the server did not answer /health within 120 s")
        body = json.dumps({"texts": ["the recipe needs two eggs and butter"]}).encode()
        req = urllib.request.Request(
            f"{url}/predict", body, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            got = json.loads(r.read())
        assert got["predictions"][0]["input"] == 0
        assert got["predictions"][0]["prediction"] in {"food", "science", "sports"}
        # a second server on the same port: a message and exit 2, not uvicorn's exit 3
        again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert again.returncode == 2, again.stderr
        assert "pass another --port" in again.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # also closes the pipe


def test_transient_keeps_no_frozen_states_and_then_restores_caching():
    from scarce.encoders import create_encoder
    from scarce.encoders.base import caching, transient
    from scarce.methods._tuning import prefix_cache, prefix_states

    enc = create_encoder("minilm-l6")
    net = enc.staged()
    text = f"a state nobody has asked for {time.time_ns()}"
    key = (f"{enc.key}:None", 2, sha256_text(text))
    with transient():
        assert not caching()
        prefix_states(net, enc, [text], [sha256_text(text)], 2)
    assert caching()
    assert prefix_cache.get(key) is None
    prefix_states(net, enc, [text], [sha256_text(text)], 2)
    assert prefix_cache.get(key) is not None
