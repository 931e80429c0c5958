"""--method auto: chosen by cross-validation inside the training data only, recorded."""

from __future__ import annotations

import numpy as np
import pytest

import scarce
from scarce.cli.main import main
from scarce.data.types import Inputs, LabeledSet
from scarce.evaluation.selection import candidates, choose
from scarce.methods import methods
from tests.conftest import write_text_csv


def _spy(monkeypatch) -> list[tuple[str, set, set]]:
    """Record, for every candidate fit, what it trained on and what it then predicted."""
    log: list[tuple[str, set, set]] = []
    for spec in methods:
        orig_fit = spec.method.fit

        def fit(self, train, *a, _orig=orig_fit, _name=spec.name, **k):
            fitted = _orig(self, train, *a, **k)
            entry = (_name, set(train.inputs.hashes), set())
            log.append(entry)
            orig_predict = fitted.predict_proba

            def predict(inputs, _o=orig_predict, _e=entry):
                _e[2].update(inputs.hashes)
                return _o(inputs)

            fitted.predict_proba = predict
            return fitted

        monkeypatch.setattr(spec.method, "fit", fit)
    return log


def test_auto_scores_only_held_out_data_and_never_the_test_set(
    tmp_path, fortunes_data, monkeypatch
):
    texts, labels = fortunes_data
    g = np.random.default_rng(3)
    pick = {
        c: g.choice([i for i, lab in enumerate(labels) if lab == c], 20, replace=False)
        for c in ("food", "sports", "science")
    }
    train = write_text_csv(
        tmp_path / "train.csv",
        [texts[i] for c in pick for i in pick[c][:12]],
        [c for c in pick for _ in range(12)],
    )
    test = write_text_csv(
        tmp_path / "test.csv",
        [texts[i] for c in pick for i in pick[c][12:]],
        [c for c in pick for _ in range(8)],
    )
    test_texts = {texts[i] for c in pick for i in pick[c][12:]}
    log = _spy(monkeypatch)
    # a small budget: the frozen methods fit in it, the encoder-training ones run a fold at
    # most and are skipped with a reason (still never seeing the test set)
    model = scarce.fit(train, method="auto", test=test, seed=0, budget=20)
    from scarce.core.hashing import sha256_text

    test_hashes = {sha256_text(t) for t in test_texts}
    selection = log[:-1]  # the last fit is the final model on all training data
    assert 5 <= len(selection) <= 5 * len(candidates("text", None))
    for name, fitted_on, predicted in selection:
        assert predicted, name
        assert not fitted_on & predicted, f"{name} was scored on data it trained on"
        assert not (fitted_on | predicted) & test_hashes, f"{name} saw the test set"
    auto = model.manifest["auto"]
    assert auto["chosen"]["method"] == model.manifest["method"]
    assert {c["method"] for c in auto["candidates"]} == {
        s.name
        for s in methods
        if "text" in s.modalities and s.base != "required" and not s.domain and s.auto
    }
    # each candidate was scored on every fold, or skipped with the reason (timing-dependent)
    assert all(("accuracy" in c) != ("skipped" in c) for c in auto["candidates"])
    assert "No test data was used" in auto["why"]
    # walk 13: each scored candidate's gap to the best and its paired standard error, so the
    # choice can be checked: the chosen one is tied with the best (or is it)
    scored = [c for c in auto["candidates"] if "accuracy" in c]
    for c in scored:  # a one-example lead is exactly one standard error: a tie
        assert c["tied_with_best"] == (c["behind_best"] <= c["paired_se"] + 1e-6)
    # walk 27: the features are encoded before the folds, whose pace then leaves that out
    frozen = {s.name for s in methods if s.uses_encoder and not s.tunes_encoder}
    assert all("encode_seconds" in c for c in scored if c["method"] in frozen)
    chosen = auto["chosen"]
    (pick,) = [c for c in scored if (c["method"], c["backbone"]) == tuple(chosen.values())]
    assert pick["tied_with_best"]
    behind = [c for c in scored if not c["tied_with_best"]]
    if behind:  # walk 27: the nearest one beaten shows its gap and standard error
        gap = min(c["behind_best"] for c in behind)
        near = [c for c in behind if c["behind_best"] == gap]
        said = [f"{gap:.3f} behind, standard error {c['paired_se']:.3f}" for c in near]
        assert any(s in auto["why"] for s in said)


@pytest.mark.slow
@pytest.mark.parametrize("shuffle", [True, False])
def test_auto_avoids_negative_transfer(fashion, shuffle, monkeypatch):
    """With pixels shuffled the encoder is useless and auto must pick the baseline; on the
    real images it must pick a transfer method. Among the frozen-encoder candidates: image
    finetune's five folds took 53 of the 56 s (the text tests run it under auto)."""
    from scarce.evaluation import selection

    frozen = [
        c for c in candidates("image", "efficientnet-lite0") if not methods.get(c[0]).tunes_encoder
    ]
    monkeypatch.setattr(selection, "candidates", lambda *a: frozen)
    x, y, _, _ = fashion
    perm = np.random.default_rng(42).permutation(28 * 28)
    idx = np.concatenate([np.flatnonzero(y == c)[:10] for c in range(10)])
    imgs = [x[i].reshape(-1)[perm].reshape(28, 28) if shuffle else x[i] for i in idx]
    train = LabeledSet(Inputs.from_images(imgs), y[idx], tuple(str(c) for c in range(10)))
    method, _, record = choose(train, backbone="efficientnet-lite0", seed=0)
    if shuffle:
        assert method == "baseline", record
    else:
        assert methods.get(method).uses_encoder, record
    assert record["folds"] == 5


def test_auto_with_one_example_per_class_says_why(tmp_path, capsys):
    data = write_text_csv(
        tmp_path / "t.csv", ["bread and butter", "the match was won"], ["food", "sports"]
    )
    out = tmp_path / "m.scarce"
    assert main(["fit", str(data), "--method", "auto", "--out", str(out), "--quiet"]) == 0
    assert "too few to validate" in capsys.readouterr().out
    assert scarce.load(out).manifest["auto"]["chosen"]["method"] == "linear-probe"


def _food_and_sports(fortunes_data, per: int) -> LabeledSet:
    """The first `per` fortunes quotes of food and of sports."""
    texts, labels = fortunes_data
    classes = ("food", "sports")
    keep = [i for c in classes for i in [j for j, v in enumerate(labels) if v == c][:per]]
    y = np.array([classes.index(labels[i]) for i in keep])
    return LabeledSet(Inputs.from_texts([texts[i] for i in keep]), y, classes)


def test_auto_budget_skips_later_candidates(fortunes_data):
    train = _food_and_sports(fortunes_data, 10)
    _, _, record = choose(train, budget=0.0)
    scored = [c for c in record["candidates"] if "accuracy" in c]
    skipped = [c for c in record["candidates"] if "skipped" in c]
    assert len(scored) == 1
    assert len(skipped) == len(record["candidates"]) - 1
    assert "over the budget" in skipped[0]["skipped"]


def test_a_running_candidate_stops_at_the_budget(fortunes_data, monkeypatch):
    """A candidate started inside the budget was let run all its folds (954 s of a 300 s
    budget on 400 tweets); now its training stops within a step of the deadline."""
    from scarce.core import progress as P
    from scarce.evaluation import selection

    train = _food_and_sports(fortunes_data, 6)
    monkeypatch.setattr(
        selection, "candidates", lambda *a: [("baseline", None), ("finetune", "minilm-l3")]
    )
    checks = []
    real = P.check_time

    def counting() -> None:
        checks.append(1)
        if len(checks) > 3:  # time runs out a few training steps into the first fold
            with P.time_limit(-1):
                real()
        real()

    monkeypatch.setattr(P, "check_time", counting)
    monkeypatch.setattr("scarce.methods._tuning.check_time", counting)
    _, _, record = choose(train, budget=10_000)
    finetune = record["candidates"][1]
    assert "stopped at the budget of 10000s during fold 1" in finetune["skipped"]
    assert record["chosen"]["method"] == "baseline"
    assert "did not fit in the budget" in record["why"]


def test_time_limit_stops_a_progress_loop():
    from scarce.core.progress import OutOfTime, progress, time_limit

    with time_limit(3600):
        assert list(progress(range(3))) == [0, 1, 2]
    with pytest.raises(OutOfTime), time_limit(-1):
        list(progress(range(3)))
    assert list(progress(range(3))) == [0, 1, 2]  # the limit ends with its block


def test_auto_lets_a_lead_within_noise_go_to_the_lower_log_loss(fortunes_data, monkeypatch):
    """finetune won by 2 of 265 examples over four candidates, with a worse log-loss: a lead
    inside one paired standard error is a tie, and the log-loss breaks it."""
    from scarce.evaluation import selection

    cands = [c for c in candidates("text", "minilm-l6") if not methods.get(c[0]).tunes_encoder]
    monkeypatch.setattr(selection, "candidates", lambda *a: cands)
    texts, labels = fortunes_data
    classes = ("food", "sports", "science", "law")
    idx = [i for c in classes for i in [j for j, lab in enumerate(labels) if lab == c][:8]]
    train = LabeledSet(
        Inputs.from_texts([texts[i] for i in idx]),
        np.array([classes.index(labels[i]) for i in idx]),
        classes,
    )
    calls: list[float] = []
    orig = selection._paired_se

    def spy(a, b, groups=None):
        calls.append(orig(a, b, groups))
        return calls[-1]

    monkeypatch.setattr(selection, "_paired_se", spy)
    method, bb, record = choose(train, backbone="minilm-l6", seed=0)
    assert record["metric"] == "accuracy"  # equal classes
    scored = [c for c in record["candidates"] if "accuracy" in c]
    ranked = sorted(scored, key=lambda c: (-c["accuracy"], c["log_loss"]))
    top = ranked[0]
    # the tie rule asks for the paired error of the top against each other, in rank order
    se = dict(zip((id(c) for c in ranked[1:]), calls, strict=False))
    chosen = next(c for c in scored if (c["method"], c["backbone"]) == (method, bb))
    if chosen is not top:
        assert top["accuracy"] - chosen["accuracy"] <= se[id(chosen)]
        assert chosen["log_loss"] < top["log_loss"]
        assert "within one standard error" in record["why"]
    tied = [c for c in ranked[1:] if top["accuracy"] - c["accuracy"] <= se[id(c)]]
    assert chosen["log_loss"] == min(c["log_loss"] for c in [top, *tied])
    # the paired error: identical answers differ by nothing, one flipped answer by 1/n
    hits = np.array([1.0, 0.0, 1.0, 1.0])
    assert selection._paired_se(hits, hits) == 0.0
    flipped = hits.copy()
    flipped[0] = 0.0
    assert selection._paired_se(hits, flipped) == pytest.approx(0.25)


def test_auto_ranks_unequal_classes_by_balanced_accuracy(fortunes_data, monkeypatch):
    """Every method weighs classes alike on unequal data; auto must rank candidates the same
    way, or a candidate that answers the large class more often looks better."""
    from scarce.evaluation import selection

    cands = [c for c in candidates("text", "minilm-l6") if not methods.get(c[0]).tunes_encoder]
    monkeypatch.setattr(selection, "candidates", lambda *a: cands)
    texts, labels = fortunes_data
    classes = ("food", "sports", "science", "law")
    per = {"food": 24, "sports": 4, "science": 4, "law": 4}
    idx = [i for c in classes for i in [j for j, lab in enumerate(labels) if lab == c][: per[c]]]
    y = np.array([classes.index(labels[i]) for i in idx])
    train = LabeledSet(Inputs.from_texts([texts[i] for i in idx]), y, classes)
    method, bb, record = choose(train, backbone="minilm-l6", seed=0)
    assert record["metric"] == "balanced_accuracy"
    scored = [c for c in record["candidates"] if "accuracy" in c]
    assert all(0 <= c["balanced_accuracy"] <= 1 for c in scored)
    assert "balanced accuracy" in record["why"]
    best = max(c["balanced_accuracy"] for c in scored)
    chosen = next(c for c in scored if (c["method"], c["backbone"]) == (method, bb))
    # the chosen one leads on balanced accuracy or ties within the paired error
    assert best - chosen["balanced_accuracy"] < 0.1, record


def test_a_lead_of_one_example_is_exactly_one_standard_error():
    """walk 13: so float rounding, not the data, decided whether it tied; it now ties."""
    from scarce.evaluation.selection import _paired_se

    a, b = np.ones(30), np.ones(30)
    b[7] = 0
    assert abs((a.mean() - b.mean()) - _paired_se(a, b)) < 1e-12


def test_candidates_go_encoder_by_encoder_with_linear_probe_first():
    """Walk 31: method by method, knn on every encoder (a cold mpnet's encoding included)
    used a 40 s budget before linear-probe on the default encoder was tried."""
    cands = [c for c in candidates("text", None) if not methods.get(c[0]).tunes_encoder]
    assert cands[:2] == [("baseline", None), ("linear-probe", "minilm-l6")]
    encoders_in_order = [b for _, b in cands[1:]]
    # each encoder's methods together: one encoding serves them all
    assert encoders_in_order == sorted(encoders_in_order, key=encoders_in_order.index)
    firsts = [
        cands[1:][i] for i, b in enumerate(encoders_in_order) if encoders_in_order.index(b) == i
    ]
    assert all(m == "linear-probe" for m, _ in firsts)


def test_a_method_that_ran_out_of_budget_is_not_started_again_on_a_bigger_encoder(
    fortunes_data, monkeypatch
):
    """Walk 32: a fold of finetune took 217 s of a 300 s budget, and finetune on a like
    encoder was started anyway, to be stopped at the budget; its pace now skips it up front."""
    import types

    from scarce.core import progress as P
    from scarce.evaluation import selection

    train = _food_and_sports(fortunes_data, 6)
    cands = [("baseline", None), ("finetune", "minilm-l3"), ("finetune", "minilm-l6")]
    monkeypatch.setattr(selection, "candidates", lambda *a: cands)
    clock = [0.0]
    monkeypatch.setattr(selection, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    real = P.check_time

    def slow() -> None:  # each training step takes 100 s; the budget ends in the fourth
        clock[0] += 100
        if clock[0] > 300:
            with P.time_limit(-1):
                real()

    monkeypatch.setattr(P, "check_time", slow)
    monkeypatch.setattr("scarce.methods._tuning.check_time", slow)
    _, _, record = choose(train, budget=1000)
    small, big = record["candidates"][1:]
    assert "stopped at the budget" in small["skipped"]
    assert big["skipped"].startswith(
        "finetune took at least 400s a fold on minilm-l3; 5 folds on minilm-l6"
    )


def test_a_first_fold_past_its_share_of_the_budget_is_given_up_then(fortunes_data, monkeypatch):
    """Walk 32: finetune's first fold ran 217 s of a 300 s budget before its pace was known,
    though 5 such folds could never fit; it now stops at its share, a fifth of what was left."""
    import types

    from scarce.core import progress as P
    from scarce.evaluation import selection

    train = _food_and_sports(fortunes_data, 6)
    cands = [("baseline", None), ("finetune", "minilm-l3")]
    monkeypatch.setattr(selection, "candidates", lambda *a: cands)
    clock = [0.0]
    fake = types.SimpleNamespace(perf_counter=lambda: clock[0], monotonic=lambda: clock[0])
    monkeypatch.setattr(selection, "time", fake)
    monkeypatch.setattr(P, "time", fake)
    real, steps = P.check_time, []

    def slow() -> None:  # each training step takes 100 s
        clock[0] += 100
        steps.append(clock[0])
        real()

    monkeypatch.setattr(P, "check_time", slow)
    monkeypatch.setattr("scarce.methods._tuning.check_time", slow)
    _, _, record = choose(train, budget=1000)
    tuned = record["candidates"][1]
    assert tuned["skipped"].startswith("fold 1 of 5 passed 200s, its share of the 1000s left")
    assert clock[0] == 300  # the third step passed the share; the budget had 700 s more
