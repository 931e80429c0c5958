"""Episodes, base / novel data, and the meta-learning methods, on real text (fortunes
categories: 6 novel classes, the other categories as the base set) and the real MiniLM."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

import scarce
from scarce.cli.main import main
from scarce.core.errors import ConfigError, DataError
from scarce.data.episodes import check_base, restrict, sample_episodes
from scarce.data.types import Inputs, LabeledSet
from scarce.encoders import create_encoder
from scarce.evaluation.runner import evaluate_sets
from scarce.methods import _episodic as E

from .conftest import write_text_csv

NOVEL = ("computers", "politics", "science", "work", "men-women", "startrek")
BASE = ("art", "education", "food", "law", "literature", "love", "medicine", "news")
BASE += ("people", "pets", "sports", "wisdom", "kids", "songs-poems")
SHORT = {"meta_steps": 40, "meta_batch": 2}


def _set(data: tuple[list[str], list[str]], classes: tuple[str, ...], per: int) -> LabeledSet:
    texts, labels = data
    g = np.random.default_rng(0)
    keep: list[int] = []
    for c in classes:
        keep += list(g.choice([i for i, lab in enumerate(labels) if lab == c], per, replace=False))
    y = np.array([classes.index(labels[i]) for i in keep])
    return LabeledSet(Inputs.from_texts([texts[i] for i in keep]), y, classes, "fortunes")


@pytest.fixture(scope="module")
def sets() -> tuple[LabeledSet, LabeledSet]:
    from scarce.data.public import fortunes

    data = fortunes((*NOVEL, *BASE))
    return _set(data, NOVEL, 30), _set(data, BASE, 40)


def test_episodes_are_exact_disjoint_and_reproducible():
    y = np.repeat(np.arange(8), 12)
    y = np.concatenate([y, [8, 8]])  # a class too small to take part
    classes = tuple(f"c{i}" for i in range(9))
    eps = sample_episodes(y, classes, 5, 3, 4, 30, seed=1)
    for ep in eps:
        assert len(ep.classes) == len(set(ep.classes.tolist())) == 5
        assert 8 not in ep.classes
        assert len(ep.support) == 15
        assert len(ep.query) == 20
        assert not set(ep.support) & set(ep.query)
        for i, c in enumerate(ep.classes):  # support and query in episode class order
            assert (y[ep.support[i * 3 : (i + 1) * 3]] == c).all()
            assert (y[ep.query[i * 4 : (i + 1) * 4]] == c).all()
    again = sample_episodes(y, classes, 5, 3, 4, 10, seed=1)  # episode i: same, whatever N
    assert all(np.array_equal(a.support, b.support) for a, b in zip(eps, again, strict=False))
    other = sample_episodes(y, classes, 5, 3, 4, 30, seed=2)
    assert any(not np.array_equal(a.support, b.support) for a, b in zip(eps, other, strict=True))
    with pytest.raises(DataError, match="need 5 classes with at least 13"):
        sample_episodes(y, classes, 5, 3, 10, 1, seed=0)


def test_restrict_relabels_and_base_must_hold_other_classes(sets):
    novel, base = sets
    ep = sample_episodes(novel.y, novel.classes, 3, 2, 2, 1, seed=0)[0]
    s = restrict(novel, ep.support, ep.classes)
    assert s.classes == tuple(novel.classes[c] for c in ep.classes)
    assert s.y.tolist() == [0, 0, 1, 1, 2, 2]
    check_base(base, novel)
    with pytest.raises(DataError, match=r"shares \d+ class\(es\).*\(every one of its classes\)"):
        check_base(novel, novel)
    # walk 29: the list stopped at 5 with no word of the rest
    names = tuple(f"c{i}" for i in range(12))
    wide = LabeledSet(Inputs.from_texts([f"t{i}" for i in range(12)]), np.arange(12), names)
    with pytest.raises(DataError, match="'c5' and 4 more"):
        check_base(wide, wide)
    blank = [np.zeros((8, 8), np.uint8)] * 2
    images = LabeledSet(Inputs.from_images(blank), np.array([0, 1]), ("a", "b"))
    with pytest.raises(DataError, match="same kind of data"):
        check_base(images, novel)


def test_maml_inner_loop_changes_predictions_and_the_meta_gradient_flows():
    torch.manual_seed(0)
    zs = torch.nn.functional.normalize(torch.randn(10, 16), dim=1)
    ys = torch.arange(5).repeat_interleave(2)
    zq, yq = zs + 0.05 * torch.randn(10, 16), ys
    p = E.head_init(16, seed=0)
    with torch.no_grad():
        p["w2"].normal_(0, 0.1)  # away from the zero start, so every path carries gradient
    before = E.head_logits(E.task_weights(p, 5), zq)
    grads = {}
    for second in (True, False):
        fast = E.inner_adapt(p, zs, ys, 5, steps=5, lr=0.1, second_order=second)
        after = E.head_logits(fast, zq)
        assert (after.argmax(1) == yq).float().mean() > 0.8  # adaptation learned the task
        assert not torch.allclose(before, after)
        loss = torch.nn.functional.cross_entropy(after, yq)
        learned = {k: v for k, v in p.items() if v.requires_grad}
        assert set(p) - set(learned) == {"w0", "b0"}
        g = torch.autograd.grad(loss, list(learned.values()))
        grads[second] = g
        for name, gi in zip(learned, g, strict=True):
            assert gi is not None, name
            assert float(gi.abs().sum()) > 0, name  # no detached path
        # why the shared head row is not learned: moving it moves every class's row alike,
        # which no softmax (and so no loss, before or after the inner loop) can see
        moved = {**p, "w0": p["w0"] + 0.3, "b0": p["b0"] - 0.2}
        shifted = E.inner_adapt(moved, zs, ys, 5, steps=5, lr=0.1, second_order=second)
        again = torch.nn.functional.cross_entropy(E.head_logits(shifted, zq), yq)
        assert float(again.detach()) == pytest.approx(float(loss.detach()), abs=1e-5)
    # the second-order terms are really there: the meta-gradients differ
    assert any(not torch.allclose(a, b) for a, b in zip(grads[True], grads[False], strict=True))


def test_maml_and_reptile_need_base_data(sets):
    novel, _ = sets
    with pytest.raises(ConfigError, match="--base"):
        scarce.fit(novel, method="maml")
    with pytest.raises(ConfigError, match="none of the methods"):
        evaluate_sets(novel, methods=["linear-probe"], encoder=None, base=novel)


def test_maml_and_reptile_bundles_export_to_onnx(sets, tmp_path):
    """walk 12: they predict with one small network on the encoder, and export like it."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from scarce.export import export_onnx

    novel, base = sets
    query = ["The program crashed again.", "Beam me up."]
    for method in ("maml", "reptile"):
        model = scarce.fit(novel, method=method, base=base, config=SHORT, seed=0)
        out = tmp_path / f"{method}.onnx"
        assert export_onnx(model, out)["max_abs_diff"] <= 1e-4
        tok = Tokenizer.from_file(str(tmp_path / f"{method}.tokenizer.json"))
        enc = tok.encode_batch(query)
        width = max(len(e.ids) for e in enc)
        ids = np.array([e.ids + [0] * (width - len(e.ids)) for e in enc], dtype=np.int64)
        mask = np.array([[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in enc])
        got = ort.InferenceSession(str(out)).run(
            None, {"input_ids": ids, "attention_mask": mask.astype(np.int64)}
        )[0]
        np.testing.assert_allclose(got, model.predict_proba(query), atol=1e-5)


def test_a_base_set_too_small_says_why(sets):
    """Two examples per base class left one after the validation hold-out; the message
    showed that 1 as if it were the user's count, and named flags fit does not have."""
    from scarce.data.public import fortunes

    novel, _ = sets
    small = _set(fortunes(BASE[:2]), BASE[:2], 2)
    with pytest.raises(DataError) as e:
        scarce.fit(novel, method="maml", base=small, config=SHORT)
    assert "after 20% held-out examples of the base classes were set aside" in str(e.value)
    assert "--set ways=N" in str(e.value)


@pytest.fixture(scope="module")
def episode_results(sets):
    novel, base = sets
    enc = create_encoder("minilm-l6")
    cfg = {"protonet": SHORT, "maml": SHORT, "reptile": SHORT}
    return evaluate_sets(
        novel,
        methods=["protonet", "simpleshot", "maml", "reptile"],
        encoder=enc,
        protocol="episodes",
        shots=[5],
        ways=5,
        queries=10,
        episodes=30,
        seed=0,
        base=base,
        configs=cfg,
    )


def test_every_method_beats_chance_on_real_episodes(episode_results):
    res = episode_results
    acc = {s["method"]: s for s in res["summary"] if s["metric"] == "accuracy"}
    for m in ("protonet", "simpleshot", "maml", "reptile"):
        assert acc[m]["low"] > 0.35, (m, acc[m])  # chance is 0.2 in 5-way episodes
        assert acc[m]["n"] == 30
    assert res["protocol"]["name"] == "episodes"
    assert res["protocol"]["ways"] == 5
    assert set(res["base"]["meta_training"]) == {"protonet", "simpleshot", "maml", "reptile"}
    assert all(r["n_test"] == 50 and r["n_train"] == 25 for r in res["runs"])
    # walk 5: the report's per-example views were empty for episodes; each episode's
    # predictions now sit among the pool's classes
    d = res["details"]["simpleshot"]
    conf = np.array(d["confusion"])
    assert conf.shape == (len(NOVEL), len(NOVEL))
    assert conf.sum() == 30 * 50
    assert np.trace(conf) / conf.sum() == pytest.approx(acc["simpleshot"]["mean"], abs=1e-9)
    assert d["repeat"] == "all 30 episodes"
    assert all(h["true"] != h["predicted"] and h["true"] in NOVEL for h in d["hardest"])
    # walk 37: a few inner steps from a zero head left maml's answers far too unsure; the
    # temperature fitted by leave-one-out on each episode's support brings its log-loss to
    # protonet's (measured 1.004 against 1.030 at 60 episodes; 1.152 untempered), and the
    # one fitted on the base's validation episodes (for 1-shot tasks) sharpens
    loss = {s["method"]: s["mean"] for s in res["summary"] if s["metric"] == "log_loss"}
    for m in ("maml", "reptile"):
        assert res["base"]["meta_training"][m]["temperature"] > 1
        assert loss[m] < loss["protonet"] + 0.05, loss


def test_maml_temperature_is_fitted_on_the_task_by_leave_one_out():
    """Walk 42: a temperature fitted on base episodes carries the base's difficulty, not the
    task's (an easy base: 5-shot calibration error 0.22 against protonet's 0.15; harder
    base episodes: a 1-shot log-loss above a uniform guess). With 2+ per class each labeled
    example is scored by the model adapted to the others."""
    from types import SimpleNamespace

    g = np.random.default_rng(0)
    cfg = SimpleNamespace(test_steps=10, inner_lr=0.1)
    start = E.head_init(16, 0)
    y = np.repeat(np.arange(3), 4)
    centres = g.normal(size=(3, 16))
    for noise, right in ((0.05, True), (4.0, False)):
        z = E.cl2n((centres[y] + noise * g.normal(size=(12, 16))).astype(np.float32), 0)
        zs, ys = torch.from_numpy(z), torch.from_numpy(y)
        t = E.loo_temperature(start, zs, ys, 3, cfg)
        fast = E.inner_adapt(start, zs, ys, 3, 10, 0.1, False)
        p = torch.softmax(t * E.head_logits(fast, zs), 1).detach().numpy()
        if right:  # every left-out example right: about as sure as (n + 1) / (n + 2) = 0.93
            assert 0.85 < p.max(1).mean() < 0.97, (t, p.max(1).mean())
        else:  # left-out examples wrong: far less sure than the support's fit alone
            assert 0.2 <= t < 1
            assert p.max(1).mean() < 0.7, (t, p.max(1).mean())
    from scarce.data.public import fortunes
    from scarce.methods import methods

    novel = _set(fortunes(NOVEL), NOVEL, 6)
    spec = methods.get("maml")
    learner = spec.method(spec.config.from_dict(SHORT), create_encoder("minilm-l6"))
    learner.start, learner.mean = E.head_init(384, 0), np.zeros(384, np.float32)
    learner.meta_training = {"temperature": 3.0}
    fitted = learner.fit(novel.subset(np.flatnonzero(np.isin(novel.y, [0, 1, 2]))), seed=0)
    assert fitted.meta["temperature_from"] == (
        "held-out log-loss on the 18 labeled examples (each left out once)"
    )
    one = novel.subset([int(np.flatnonzero(novel.y == c)[0]) for c in range(3)])
    fitted = learner.fit(one, seed=0)
    assert fitted.meta["temperature"] == 3.0
    assert fitted.meta["temperature_from"] == "base episodes (a class has one labeled example)"


def test_meta_training_on_base_classes_improves_novel_accuracy():
    """Digits 0-4 as the base set, 5-9 as the novel classes: ImageNet features know little of
    handwriting, and the adapter meta-trained on the base digits helps with the others
    (measured +0.016 over the frozen features, paired over the same 60 episodes)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.images * 16).clip(0, 255).astype(np.uint8), d.target

    def digits(classes: list[int], per: int) -> LabeledSet:
        idx = np.concatenate([np.flatnonzero(y == c)[:per] for c in classes])
        return LabeledSet(
            Inputs.from_images(list(x[idx])),
            np.array([classes.index(v) for v in y[idx]]),
            tuple(f"digit-{c}" for c in classes),
            "sklearn digits",
        )

    base, novel = digits([0, 1, 2, 3, 4], 120), digits([5, 6, 7, 8, 9], 60)
    common = {
        "methods": ["protonet"],
        "encoder": create_encoder("efficientnet-lite0"),
        "protocol": "episodes",
        "shots": [1],
        "ways": 5,
        "queries": 10,
        "episodes": 60,
        "seed": 3,
        "base": base,
    }
    trained = evaluate_sets(novel, **common, configs={"protonet": {"meta_steps": 60}})
    untrained = evaluate_sets(novel, **common, configs={"protonet": {"meta_steps": 0}})

    def per_episode(res: dict) -> np.ndarray:
        runs = [r for r in res["runs"] if r["method"] == "protonet"]
        runs.sort(key=lambda r: r["repeat"])
        return np.array([r["metrics"]["accuracy"] for r in runs])

    assert trained["base"]["meta_training"]["protonet"]["best_step"] > 0
    gain = per_episode(trained) - per_episode(untrained)
    assert gain.mean() > 0.005, gain.mean()


def test_cli_episodes_eval_and_a_meta_trained_bundle(tmp_path, sets):
    novel, base = sets

    def csv(name: str, s: LabeledSet) -> str:
        labels = [s.classes[int(v)] for v in s.y]
        return str(write_text_csv(tmp_path / name, list(s.inputs.items), labels))

    nv, bs = csv("novel.csv", novel), csv("base.csv", base)
    out = tmp_path / "r.json"
    code = main(
        ["eval", nv, "--protocol", "episodes", "--ways", "3", "--shots", "1,2", "--episodes",
         "5", "--queries", "4", "--methods", "simpleshot", "--base", bs, "--out", str(out),
         "--quiet"]
    )  # fmt: skip
    assert code == 0
    res = json.loads(out.read_text())
    assert res["protocol"]["shots"] == [1, 2]
    assert res["protocol"]["episodes"] == 5
    assert main(["report", str(out), "--out", str(tmp_path / "r.html"), "--quiet"]) == 0
    assert "Base data" in (tmp_path / "r.html").read_text()
    bundle = tmp_path / "m.scarce"
    code = main(
        ["fit", nv, "--method", "protonet", "--base", bs, "--out", str(bundle), "--quiet",
         "--set", "meta_steps=20"]
    )  # fmt: skip
    assert code == 0
    model = scarce.load(bundle)
    recorded = model.manifest["base"]
    assert recorded["n"] == len(base)
    assert set(recorded["classes"]) == set(base.classes)
    assert recorded["meta_training"]["steps"] == 20
    p = model.predict_proba(list(novel.inputs.items[:10]))
    assert p.shape == (10, len(NOVEL))
    assert main(["fit", nv, "--method", "protonet", "--base", nv, "--out", str(bundle)]) == 2


def test_protonet_that_keeps_its_start_is_simpleshot_and_round_trips(tmp_path, sets):
    """Meta-training that never beats its start keeps the identity block: the model then
    stores no adapter, predicts exactly as SimpleShot with the same base data, and its
    bundle loads to the same predictions."""
    novel, base = sets
    proto = scarce.fit(novel, method="protonet", base=base, config={"meta_steps": 0}, seed=1)
    simple = scarce.fit(novel, method="simpleshot", base=base, seed=1)
    assert proto.fitted.adapter == {}
    assert proto.fitted.meta_training["best_step"] == 0
    texts = list(novel.inputs.items[:12])
    p = proto.predict_proba(texts)
    np.testing.assert_allclose(p, simple.predict_proba(texts), atol=1e-5)
    loaded = scarce.load(proto.save(tmp_path / "proto"))
    np.testing.assert_array_equal(loaded.predict_proba(texts), p)


def test_simpleshot_distances_without_normalizing_equal_the_cl2n_ones():
    """SimpleShot predicts from x.c, x.s and x.x without centring and normalizing a copy of
    the inputs: the same distances as cl2n then squared Euclidean, an input at the centre
    included (it maps to the origin)."""
    from scarce.methods._centroids import sq_dists
    from scarce.methods.simpleshot import SimpleShotFitted

    g = np.random.default_rng(0)
    x = (g.normal(size=(40, 64)) + 2).astype(np.float32)
    s = (g.normal(size=64) + 2).astype(np.float32)
    x[7] = s
    c = E.cl2n((g.normal(size=(4, 64)) + 2).astype(np.float32), s)
    model = SimpleShotFitted(None, tuple("abcd"), c, s, 1.0)  # type: ignore[arg-type]
    np.testing.assert_allclose(model.distances(x), sq_dists(E.cl2n(x, s), c), atol=1e-5)


def test_meta_training_that_validation_cannot_judge_says_so(caplog):
    """Walk 5: 6 base classes left 2-way validation episodes at 1.000 before any step, so
    every meta-trained method silently kept its start; the record and the log now say so."""
    g = np.random.default_rng(0)
    feats = g.normal(size=(60, 8)).astype(np.float32)
    y = np.repeat(np.arange(6), 10)
    train, val = (
        E.Part(np.flatnonzero(m), np.unique(y[m], return_inverse=True)[1], tuple(c))
        for m, c in ((y < 4, "abcd"), (y >= 4, "ef"))
    )
    bd = E.BaseData(feats.mean(0), feats, train, val, "2 held-out base classes", "h")
    p = {"w": torch.zeros(8, requires_grad=True)}
    kw = {"ways": 5, "shots": 1, "queries": 2, "steps": 4, "seed": 0, "eval_every": 2}
    updates = []

    def all_right(p, zs, ys, zq):  # queries come in class order, alike numbers of each
        ways = int(ys.max()) + 1
        return 5 * np.eye(ways)[np.repeat(np.arange(ways), len(zq) // ways)]

    with caplog.at_level("WARNING", logger="scarce"):
        rec = E.meta_loop(
            bd,
            p,
            update=lambda t, s: updates.append(s) or 0.0,
            accuracy=lambda *a: 1.0,
            logits=all_right,
            **kw,
        )
    assert rec["best_step"] == 0
    assert "scored 1.000 before any step" in rec["verdict"]
    assert "meta-training was skipped" in caplog.text
    assert updates == []  # walk 37: every step ran, to change nothing
    assert rec["steps"] == 0
    # walk 39: fitted there, the temperature ran to its cap and maml's log-loss to 3.6
    assert rec["temperature"] == 1.0
    assert "so no temperature can be fitted" in rec["temperature_from"]
    caplog.clear()
    scores = iter([0.5] * 100 + [0.9] * 1000)  # better after the first validation
    rec = E.meta_loop(bd, p, update=lambda t, s: 0.0, accuracy=lambda *a: next(scores), **kw)
    assert rec["verdict"] == "kept step 2 of 4: accuracy on 2 held-out base classes 0.500 -> 0.900"
    assert not caplog.text


def test_validation_episodes_are_as_wide_as_the_tasks_when_the_base_set_allows():
    """Walk 27: 3 of 16 base classes made 3-way validation episodes for 5-way tasks, which
    scored 0.98 before any step: no step could show a gain."""
    from scarce.data.types import Inputs, LabeledSet

    assert [E.held_out_classes(k, 5) for k in (4, 10, 12, 13, 16, 24, 40)] == [2, 2, 2, 3, 5, 5, 8]
    assert E.held_out_classes(16, 2) == 3  # a fifth, when that is more than the ways

    class Fixed:  # an encoder that returns given features
        def encode(self, inputs, desc=""):
            return np.arange(len(inputs) * 4, dtype=np.float32).reshape(-1, 4)

    y = np.repeat(np.arange(16), 6)
    base = LabeledSet(
        Inputs.from_texts([f"t{i}" for i in range(len(y))]), y, tuple("abcdefghijklmnop"), "base"
    )
    bd = E.base_data(Fixed(), base, ways=5, seed=0)  # type: ignore[arg-type]
    assert (len(bd.train.classes), len(bd.val.classes)) == (11, 5)
    assert bd.val_kind == "5 held-out base classes"


def test_classes_too_small_for_an_episode_are_named_not_dropped_silently(sets, caplog):
    """walk 19: classes with fewer than K + queries examples were never drawn, without a word."""
    novel, _ = sets
    keep = np.concatenate([np.flatnonzero(novel.y != 0), np.flatnonzero(novel.y == 0)[:12]])
    pool = novel.subset(keep)
    with caplog.at_level(logging.WARNING, logger="scarce"):
        res = evaluate_sets(
            pool,
            methods=["simpleshot"],
            encoder=create_encoder("minilm-l3"),
            protocol="episodes",
            shots=[1, 5],
            ways=3,
            queries=10,
            episodes=5,
            seed=0,
        )
    assert res["protocol"]["left_out"] == {"5": ["computers"]}
    assert res["details"]["simpleshot"]["per_class_f1"]["computers"] is None  # never tested
    assert "at K=5: 'computers' (12)" in caplog.text
    from scarce.report.html import _protocol_text

    assert "never drawn (fewer than K + queries examples): at K=5, computers" in _protocol_text(
        res["protocol"]
    )
    drawn = {r["shots"]: r for r in res["runs"] if r["method"] == "simpleshot"}
    assert set(drawn) == {1, 5}


@pytest.mark.parametrize("method", ["protonet", "maml"])
def test_meta_training_is_reused_for_the_same_base_and_settings(
    method, sets, tmp_path, monkeypatch, caplog
):
    """walk 19: every fit with --base meta-trained again (easyfsl users meta-train once, then
    fit many support sets). Same base, encoder, settings and seed: the stored start is used,
    and predicts exactly as a fresh one; anything else, or a damaged entry, trains anew."""
    from scarce.methods import _meta_cache

    monkeypatch.setattr(_meta_cache, "cache_dir", lambda: tmp_path)
    novel, base = sets
    quick = {"meta_steps": 20}
    first = scarce.fit(novel, method=method, base=base, config=quick, seed=2)
    again = scarce.fit(novel, method=method, base=base, config=quick, seed=2)
    assert "reused" not in first.manifest["base"]["meta_training"]
    assert again.manifest["base"]["meta_training"]["reused"] is True
    texts = list(novel.inputs.items[:10])
    np.testing.assert_allclose(again.predict_proba(texts), first.predict_proba(texts), atol=1e-6)
    other = scarce.fit(novel, method=method, base=base, config={"meta_steps": 21}, seed=2)
    assert "reused" not in other.manifest["base"]["meta_training"]
    if method == "protonet":  # a knob only the fit on the labels reads keeps what was stored
        warmer = scarce.fit(
            novel, method=method, base=base, config={**quick, "temperature": 3}, seed=2
        )
        assert warmer.manifest["base"]["meta_training"]["reused"] is True
        assert warmer.fitted.tau == 3
    for f in (tmp_path / "meta").glob("*.safetensors"):
        f.write_bytes(b"not a tensor file")
    with caplog.at_level(logging.WARNING, logger="scarce"):
        damaged = scarce.fit(novel, method=method, base=base, config=quick, seed=2)
    assert "reused" not in damaged.manifest["base"]["meta_training"]
    assert "is unreadable" in caplog.text


def test_a_small_base_class_that_cuts_the_queries_is_named(sets, caplog):
    """Walk 29: a 6-example base class cut every episode from 10 queries per class to 1,
    said only with -v."""
    novel, base = sets
    keep = np.concatenate([np.flatnonzero(base.y == c)[: 8 if c < 7 else 40] for c in range(14)])
    small = base.subset(np.sort(keep))  # half the base classes have 8 examples
    config = {"meta_steps": 10}
    for _ in range(2):  # the second reuses the stored meta-training, and says it again
        caplog.clear()
        scarce.fit(novel, method="protonet", base=small, config=config, seed=0)
        said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any(
            "5-way 5-shot 3-query, not the 5-way 5-shot 10-query" in m and "with 8 examples" in m
            for m in said
        ), said


def test_base_examples_that_are_also_the_tasks_are_said(sets, caplog):
    """Walk 33: --base holding copies of DATA's examples (under other class names) passed
    without a word, though meta-training then learns the episodes' queries."""
    novel, base = sets
    texts = list(base.inputs.items)
    texts[:3] = novel.inputs.items[:3]
    overlap = LabeledSet(Inputs.from_texts(texts), base.y, base.classes, "base.csv")
    scarce.evaluate(novel, methods=["simpleshot"], protocol="episodes", base=overlap,
                    shots=[1], episodes=5, seed=0)  # fmt: skip
    assert "3 --base examples (base.csv) also appear in the data of the task" in caplog.text
