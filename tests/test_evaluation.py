"""Evaluation: intervals that cover, paired draws, metrics, curves, negative transfer."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scarce
from scarce.cli.main import main
from scarce.core.errors import ConfigError, DataError
from scarce.data.types import Inputs, LabeledSet
from scarce.evaluation import metrics as M
from scarce.evaluation.curves import fit_curve
from scarce.evaluation.intervals import (
    Interval,
    bootstrap_interval,
    change_interval,
    interval,
    t_interval,
    verdict,
)
from scarce.evaluation.protocols import holdout_split, kfold_splits, kshot_splits
from scarce.evaluation.runner import Units, evaluate_sets
from scarce.methods import methods
from tests.conftest import write_image_folder, write_text_csv


def test_t_interval_covers_the_truth_95_percent():
    g = np.random.default_rng(0)
    truth, hits, sims = 0.7, 0, 4000
    for _ in range(sims):
        iv = t_interval(g.normal(truth, 0.05, size=10))
        hits += iv.low <= truth <= iv.high
    assert 0.935 <= hits / sims <= 0.965


def test_repeats_on_shared_test_items_cover_the_truth_once_the_items_count():
    """Ten draws scored on the same 150 test items: the spread over draws misses how much
    those items happened to be easy (walk 9: 9 of 13 intervals covered the truth); with the
    items' own variance (Welch-Satterthwaite) the interval covers at least 95%."""
    from scarce.evaluation.intervals import interval, item_variance

    g = np.random.default_rng(0)
    population = g.beta(4, 1, size=100_000)  # how often each possible item is answered right
    truth, sims, n, repeats = float(population.mean()), 400, 150, 10
    plain = with_items = 0
    for _ in range(sims):
        q = g.choice(population, n)
        keys = np.arange(n)
        runs = [
            (keys, (g.random(n) < np.clip(q + g.normal(0, 0.01), 0, 1)).astype(float))
            for _ in range(repeats)
        ]
        means = [v.mean() for _, v in runs]
        plain += t_interval(means).low <= truth <= t_interval(means).high
        iv = interval(means, item_var=item_variance(runs))
        with_items += iv.low <= truth <= iv.high
    # measured: 0.77 and 0.98 (a little wide: each answer's own chance counts in both parts)
    assert plain / sims < 0.85, plain / sims
    assert 0.93 <= with_items / sims <= 0.99, with_items / sims


def test_runs_sharing_training_items_cover_the_truth_once_those_items_count():
    """Episodes drawn again and again from a small pool reuse its support items, and a run
    is as good as the items it trained on: the spread over runs misses which items the pool
    happened to hold. With the training side's variance the interval covers about 95%."""
    from scarce.evaluation.intervals import interval, support_variance

    g = np.random.default_rng(1)
    truth, sims, n, s, runs_per_pool = 0.6, 300, 40, 2, 200
    plain = with_support = 0
    for _ in range(sims):
        pull = g.normal(0, 0.15, n)  # each pool item's effect on the runs that train on it
        runs = []
        for _ in range(runs_per_pool):
            keys = g.choice(n, s, replace=False)
            runs.append((keys, truth + pull[keys].mean() + g.normal(0, 0.05)))
        scores = [v for _, v in runs]
        iv = t_interval(scores)
        plain += iv.low <= truth <= iv.high
        iv = interval(scores, item_var=support_variance(runs))
        with_support += iv.low <= truth <= iv.high
    assert plain / sims < 0.6, plain / sims
    assert 0.92 <= with_support / sims <= 0.985, with_support / sims
    # items seen in one run each say nothing of their own pull: no term
    once = [(np.array([2 * i, 2 * i + 1]), float(v)) for i, v in enumerate(g.random(50))]
    assert support_variance(once)[0] == 0.0
    assert support_variance([]) == (0.0, 0)


def test_item_variance_averages_each_item_over_the_runs_that_tested_it():
    from scarce.evaluation.intervals import item_variance

    # item 0 right twice, item 1 wrong once and right once, item 2 wrong once
    runs = [(np.array([0, 1]), np.array([1.0, 0.0])), (np.array([0, 1, 2]), np.array([1, 1, 0]))]
    var, n = item_variance(runs)
    assert n == 3
    assert var == pytest.approx(np.var([1.0, 0.5, 0.0], ddof=1) / 3)
    assert item_variance([]) == (0.0, 0)


def test_verdicts_need_three_repeats_and_respect_the_direction():
    # two repeats that each differ by one test example: a zero-width interval, no verdict
    assert t_interval([0.02, 0.02]).half_width == 0
    assert verdict(t_interval([0.02, 0.02])) == "too few repeats to tell"
    assert verdict(t_interval([0.02, 0.03, 0.025])) == "better"
    assert verdict(t_interval([-0.02, -0.03, -0.025])) == "worse"
    assert verdict(t_interval([0.02, 0.03, 0.025]), higher_is_better=False) == "worse"
    assert verdict(t_interval([-0.1, 0.1, 0.02])) == "no clear difference"
    # the same difference on every repeat (one test example) is certain only from 6 repeats
    assert verdict(t_interval([-0.067] * 3)) == "too few repeats to tell"
    assert verdict(t_interval([-0.067] * 5)) == "too few repeats to tell"
    assert verdict(t_interval([-0.067] * 6)) == "worse"
    # no difference on every repeat (both at 1.000, walk 28) claims nothing: no wait for 6
    assert verdict(t_interval([0.0] * 3)) == "no clear difference"
    assert verdict(t_interval([0.0] * 2)) == "too few repeats to tell"


def test_intervals_stay_in_the_metric_range():
    """An accuracy of 0.938 [0.826, 1.049] and a log-loss interval below zero were shown."""
    from scarce.evaluation import metrics as M
    from scarce.evaluation.intervals import interval

    iv = interval([1.0, 1.0, 0.8125], bounds=M.bounds("accuracy"))
    assert iv.high == 1.0
    assert iv.low < iv.mean < 1.0
    assert interval([0.05, 1.4, 0.1], bounds=M.bounds("log_loss")).low == 0.0
    assert interval([0.05, 1.4, 0.1], bounds=M.bounds("log_loss", paired=True)).low < 0
    assert interval([-1.0, -1.0, -0.5], bounds=M.bounds("ece", paired=True)).low == -1.0


def test_bootstrap_interval_covers_at_the_repeats_an_evaluation_has():
    """The plain percentile bootstrap covered 84% at 5 repeats and 88% at 8 (audit 20)."""

    def coverage(n: int) -> float:
        g = np.random.default_rng(n)
        ivs = [bootstrap_interval(g.normal(0, 1, n), seed=i, resamples=2000) for i in range(400)]
        return float(np.mean([iv.low <= 0 <= iv.high for iv in ivs]))

    assert coverage(4) > 0.93  # below 6 values: the t interval
    assert coverage(8) > 0.91
    assert coverage(30) > 0.92
    iv = bootstrap_interval([0.1, 0.2, 0.3, 0.25, 0.15, 0.9, 0.2, 0.1])
    assert iv.high - iv.mean > iv.mean - iv.low  # a long right tail stays in the interval


def _toy(n_per: int, k: int) -> LabeledSet:
    y = np.repeat(np.arange(k), n_per)
    return LabeledSet(
        Inputs.from_texts([f"example {i}" for i in range(len(y))]),
        y,
        tuple(f"c{i}" for i in range(k)),
    )


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 5), st.integers(1, 6), st.integers(1, 4), st.integers(0, 10_000))
def test_kshot_splits_exact_and_disjoint(k, shots, repeats, seed):
    pool = _toy(10, k)
    splits = kshot_splits(pool, [shots], repeats, seed, test_given=False)
    assert len(splits) == repeats
    for sp in splits:
        assert np.bincount(pool.y[sp.train], minlength=k).tolist() == [shots] * k
        assert not set(sp.train) & set(sp.test)
        assert len(sp.train) + len(sp.test) == len(pool)
    again = kshot_splits(pool, [shots], repeats, seed, test_given=False)
    assert all((a.train == b.train).all() for a, b in zip(splits, again, strict=True))


def test_kshot_too_few_examples_message():
    with pytest.raises(DataError, match=r"class 'c0' has 3 examples; --shots 5 needs at least 6"):
        kshot_splits(_toy(3, 2), [5], 2, 0, test_given=False)
    # the advice names the shot counts that fit, and never --test when it was given
    with pytest.raises(DataError) as e:
        kshot_splits(_toy(3, 2), [1, 5, 20], 2, 0, test_given=True)
    assert str(e.value).endswith("Pass --shots 1 or add examples.")
    with pytest.raises(DataError) as e:
        kshot_splits(_toy(3, 2), [1, 2, 5], 2, 0, test_given=False)
    assert "Pass --shots 1,2; add examples; or pass --test to test on other data." in str(e.value)


def test_holdout_split_stratified_and_keeps_every_class():
    y = np.array([0] * 20 + [1] * 4 + [2] * 1)
    data = LabeledSet(Inputs.from_texts([str(i) for i in range(len(y))]), y, ("a", "b", "c"), "t")
    tr, te = holdout_split(data, 0.25, seed=3)
    assert set(tr).isdisjoint(te)
    assert len(tr) + len(te) == len(y)
    assert np.bincount(y[te], minlength=3).tolist() == [5, 1, 0]
    assert np.bincount(y[tr], minlength=3).tolist() == [15, 3, 1]
    assert np.array_equal(holdout_split(data, 0.25, seed=3)[1], te)


def test_kfold_covers_every_example_once_per_repeat():
    pool = _toy(6, 3)
    splits = kfold_splits(pool, 3, 2, seed=0)
    for r in (0, 1):
        tests = np.concatenate([s.test for s in splits if s.repeat == r])
        assert sorted(tests.tolist()) == list(range(len(pool)))


def test_metrics_match_definitions():
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    m = M.compute(y, p)
    assert m["accuracy"] == 0.75
    assert m["balanced_accuracy"] == 0.75
    assert m["roc_auc"] == 1.0  # every positive scores above every negative
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.7])))
    # a model whose confidence equals its accuracy in each bin is perfectly calibrated
    y2 = np.array([0] * 8 + [1] * 2)
    p2 = np.tile([0.8, 0.2], (10, 1))
    assert M.compute(y2, p2)["ece"] == pytest.approx(0.0, abs=1e-9)
    assert M.compute(y2, np.tile([0.99, 0.01], (10, 1)))["ece"] == pytest.approx(0.19)


@pytest.mark.parametrize("absent", [False, True])
def test_metrics_agree_with_scikit_learn(absent):
    from sklearn.metrics import balanced_accuracy_score, f1_score, log_loss

    g = np.random.default_rng(4)
    k = 5
    y = g.integers(0, k - 1 if absent else k, 300)  # class 4 missing from the test draw
    p = g.dirichlet(np.ones(k), 300)
    p[np.arange(300), y] += g.uniform(0, 1, 300)  # better than chance, not perfect
    p /= p.sum(1, keepdims=True)
    m = M.compute(y, p)
    pred = p.argmax(1)
    present = np.unique(y)
    recall = np.mean([(pred[y == c] == c).mean() for c in present])
    assert m["balanced_accuracy"] == pytest.approx(recall)
    if not absent:
        assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    f1 = f1_score(y, pred, labels=list(range(k)), average="macro", zero_division=0)
    assert m["macro_f1"] == pytest.approx(f1)
    assert m["log_loss"] == pytest.approx(log_loss(y, p, labels=list(range(k))))


def test_curve_fit_recovers_a_known_curve():
    shots = [1, 2, 5, 10, 20, 50]
    acc = [0.9 - 0.5 * k**-0.7 for k in shots]
    fit = fit_curve(shots, acc)
    assert fit is not None
    assert fit["plateau"] == pytest.approx(0.9, abs=0.01)
    assert fit["stops_paying_at"] is not None
    # where a doubling adds 0.01
    assert abs(fit["stops_paying_at"] - (0.5 * (1 - 2**-0.7) / 0.01) ** (1 / 0.7)) < 2
    # predictions go on from the measured top point, never below it
    assert fit["predicted"][0]["mean"] == pytest.approx(0.9 - 0.5 * 100**-0.7, abs=2e-3)
    # walk 13: a 3-point fit passing below the top point predicted less for more labels,
    # and a fall read "levels off"
    below = fit_curve([1, 5, 20], [0.62, 0.70, 0.779])
    assert below is not None
    assert all(p["mean"] >= 0.779 for p in below["predicted"])
    fell = fit_curve([1, 5, 20], [0.461, 0.696, 0.613])
    assert fell is not None
    assert fell["predicted"] == []
    assert fell["stops_paying_at"] is None
    assert "fell from 0.696 at 5 labels per class" in fell["note"]
    # walk 30: the change's interval says which of noise or a real fall it is
    noisy = fit_curve([1, 2, 4], [0.153, 0.14, 0.128], change=Interval(-0.025, -0.073, 0.023, 4))
    assert "that fall, -0.025 [-0.073, +0.023], is noise" in noisy["note"]
    real = fit_curve([1, 5, 20], [0.7, 0.65, 0.6], change=Interval(-0.1, -0.15, -0.05, 5))
    assert "fell by -0.100 [-0.150, -0.050], beyond noise" in real["note"]
    # a fall from another K than the smallest: the change from the smallest does not measure it
    other = fit_curve([1, 5, 20], [0.461, 0.696, 0.613], change=Interval(0.15, 0.02, 0.3, 5))
    assert "a fall within the intervals is noise" in other["note"]
    # walk 14: random labels (every interval holds 0.5) read "a doubling adds 0.01 or more up
    # to 8867 per class"; a rise inside the intervals is not extrapolated
    means = [0.492, 0.522, 0.500, 0.589]
    noise = fit_curve([1, 4, 16, 32], means, [m - 0.1 for m in means], [m + 0.1 for m in means])
    assert noise is not None
    assert noise["predicted"] == []
    assert "a change inside the points' intervals" in noise["note"]
    real = fit_curve([1, 4, 16], [0.5, 0.7, 0.8], [0.45, 0.66, 0.77], [0.55, 0.74, 0.83])
    assert real is not None
    assert real["predicted"]
    # the change's own interval, where given, decides instead of the overlap (walk 29)
    told = fit_curve([1, 4, 16, 32], means, [m - 0.1 for m in means], [m + 0.1 for m in means],
                     change=Interval(0.097, 0.013, 0.178, 10))  # fmt: skip
    assert told["predicted"]
    untold = fit_curve([1, 4, 16], [0.5, 0.7, 0.8], change=Interval(0.3, -0.01, 0.6, 10))
    assert "+0.300 [-0.010, +0.600] that cannot be told from none" in untold["note"]
    # with one repeat there are no intervals to compare: the curve is read as before
    assert fit_curve([1, 4, 16, 32], means, means, means)["predicted"]
    assert "levels off" not in fell["note"]
    assert fit_curve([1, 5], [0.5, 0.6]) is None
    # 22 classes still climbing steadily: the fit would put the plateau at its bound of 1.0
    rising = fit_curve([1, 2, 4], [0.21, 0.26, 0.31])
    assert rising is not None
    assert rising["plateau"] is None
    assert "cannot be read" in rising["note"]
    # walk 5: perfect at every K was "still rising ... cannot be read"
    for level in (1.0, 0.62):
        flat = fit_curve([2, 5, 10], [level] * 3)
        assert flat is not None
        assert flat["plateau"] == pytest.approx(level)
        assert f"is flat at about {level:.3f}" in flat["note"]
        assert "rising" not in flat["note"]
    # walk 9: saturating at 1.0 read "still rising ... cannot be read", then "beyond 13 ..."
    top = fit_curve([5, 20, 50], [0.962, 0.996, 0.9995])
    assert top is not None
    assert "rises towards perfect accuracy" in top["note"]
    assert "cannot be read" not in top["note"]


def test_every_method_sees_the_same_draws(monkeypatch, fortunes_data):
    texts, labels = fortunes_data
    classes = ("food", "science", "sports")
    keep = [i for c in classes for i in [j for j, lab in enumerate(labels) if lab == c][:50]]
    pool = LabeledSet(
        Inputs.from_texts([texts[i] for i in keep]),
        np.array([classes.index(labels[i]) for i in keep]),
        classes,
    )
    seen: dict[str, list] = {}
    for name in ("baseline", "linear-probe"):
        spec = methods.get(name)
        original = spec.method.fit

        def spy(self, train, *a, _name=name, _orig=original, **k):
            seen.setdefault(_name, []).append(sorted(train.inputs.hashes))
            return _orig(self, train, *a, **k)

        monkeypatch.setattr(spec.method, "fit", spy)
    from scarce.encoders import create_encoder

    evaluate_sets(
        pool,
        methods=["linear-probe"],
        encoder=create_encoder("minilm-l6"),
        shots=[2, 4],
        repeats=3,
        seed=5,
    )
    assert len(seen["baseline"]) == 6
    assert seen["baseline"] == seen["linear-probe"]


def _shuffled_fashion(fashion, shuffle: bool, n_pool: int = 600, n_test: int = 300):
    x, y, xt, yt = fashion
    perm = np.random.default_rng(42).permutation(28 * 28)
    classes = tuple(str(c) for c in range(10))

    def prep(a):
        return [im.reshape(-1)[perm].reshape(28, 28) if shuffle else im for im in a]

    pool = LabeledSet(Inputs.from_images(prep(x[:n_pool])), y[:n_pool], classes)
    test = LabeledSet(Inputs.from_images(prep(xt[:n_test])), yt[:n_test], classes)
    return pool, test


def _linear_probe_at_10_shots(fashion, shuffle: bool, repeats: int) -> dict:
    from scarce.encoders import create_encoder

    pool, test = _shuffled_fashion(fashion, shuffle)
    return evaluate_sets(
        pool,
        methods=["linear-probe"],
        encoder=create_encoder("efficientnet-lite0"),
        test=test,
        shots=[10],
        repeats=repeats,
        seed=0,
        jobs=2,
    )


@pytest.mark.slow
@pytest.mark.parametrize("shuffle", [True, False])
def test_negative_transfer_flag(fashion, shuffle):
    """Shuffling pixels (one fixed permutation) leaves the pixel baseline intact but makes the
    pretrained encoder useless: flagged. On the real images transfer helps: not flagged."""
    res = _linear_probe_at_10_shots(fashion, shuffle, repeats=5)
    row = next(p for p in res["paired"] if p["metric"] == "accuracy")
    if shuffle:
        assert row["verdict"] == "worse"
        assert res["negative_transfer"]
        assert "NEGATIVE TRANSFER" in res["negative_transfer"][0]["message"]
    else:
        assert row["verdict"] == "better"
        assert res["negative_transfer"] == []


@pytest.mark.slow
def test_too_few_repeats_below_the_baseline_is_said_not_tested(fashion):
    """walk 13: two repeats far below the baseline gave "too few repeats to tell" and then
    the green all-clear; now they are listed as not tested, with the fix."""
    from scarce.cli.main import _results_text

    res = _linear_probe_at_10_shots(fashion, True, repeats=2)
    row = next(p for p in res["paired"] if p["metric"] == "accuracy")
    assert row["verdict"] == "too few repeats to tell"
    assert row["mean"] < 0
    assert res["negative_transfer"] == []
    (u,) = res["negative_transfer_untested"]
    assert u["method"] == "linear-probe"
    assert u["n"] == 2
    assert "--repeats 3 or more" in u["message"]
    text = _results_text(res)
    assert "NOT TESTED" in text
    assert "significantly worse" not in text


@pytest.mark.slow
def test_domain_protocol_flags_an_encoder_the_baseline_beats(fashion):
    """Domain protocol: when the from-scratch baseline, trained on the same source, beats
    source-only, the encoder itself is the negative transfer, and it is said."""
    from scarce.encoders import create_encoder

    source, target = _shuffled_fashion(fashion, True, n_pool=400, n_test=200)
    res = evaluate_sets(
        target,
        source=source,
        protocol="domain",
        methods=["source-only"],
        encoder=create_encoder("efficientnet-lite0"),
        repeats=3,
        seed=0,
        configs={"source-only": {"steps": 200}},
    )
    row = next(p for p in res["paired"] if p["method"] == "baseline")
    assert row["verdict"] == "better"
    flagged = [n for n in res["negative_transfer"] if n["method"] == "source-only"]
    assert flagged
    assert flagged[0]["high"] < 0
    assert "from-scratch baseline" in flagged[0]["message"]
    assert "target label" in flagged[0]["message"]


@pytest.mark.slow
def test_cli_eval_and_report_images(tmp_path, fashion, capsys):
    x, y, _, _ = fashion
    idx = np.concatenate([np.flatnonzero(y == c)[:12] for c in (0, 1, 7)])
    data = write_image_folder(tmp_path / "d", x[idx], [str(int(c)) for c in y[idx]])
    out = tmp_path / "r.json"
    code = main(
        [
            "eval",
            str(data),
            "--methods",
            "linear-probe,baseline",
            "--shots",
            "1,3,5",
            "--repeats",
            "3",
            "--out",
            str(out),
            "--quiet",
            "--jobs",
            "2",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert "vs baseline (paired)" in text
    res = json.loads(out.read_text())
    assert res["schema"] == "scarce-results"
    assert res["protocol"]["shots"] == [1, 3, 5]
    assert [m["name"] for m in res["methods"]] == ["baseline", "linear-probe"]
    assert len(res["runs"]) == 2 * 3 * 3
    assert res["details"]["linear-probe"]["shots"] == 5
    html = tmp_path / "r.html"
    assert main(["report", str(out), "--out", str(html), "--quiet"]) == 0
    assert html.stat().st_size > 10_000
    # its own page is replaced; a page scarce did not write is not (audit 26)
    assert main(["report", str(out), "--out", str(html), "--quiet"]) == 0
    mine = tmp_path / "index.html"
    mine.write_text("<html>my own page</html>")
    assert main(["report", str(out), "--out", str(mine), "--quiet"]) == 2
    assert mine.read_text() == "<html>my own page</html>"


@pytest.mark.slow
def test_cli_eval_text_kfold(tmp_path, fortunes_data, capsys):
    texts, labels = fortunes_data
    keep = [
        i for c in ("food", "sports") for i in [j for j, lab in enumerate(labels) if lab == c][:30]
    ]
    data = write_text_csv(tmp_path / "t.csv", [texts[i] for i in keep], [labels[i] for i in keep])
    out = tmp_path / "r.json"
    code = main(
        [
            "eval",
            str(data),
            "--protocol",
            "kfold",
            "--folds",
            "3",
            "--repeats",
            "2",
            "--out",
            str(out),
            "--quiet",
            "--interval",
            "bootstrap",
        ]
    )
    assert code == 0, capsys.readouterr().err
    res = json.loads(out.read_text())
    assert res["protocol"]["name"] == "kfold"
    assert {s["shots"] for s in res["summary"]} == {None}
    assert "roc_auc" in res["metrics"]
    hardest = res["details"]["linear-probe"]["hardest"]
    assert all(h["input"] in [texts[i] for i in keep] for h in hardest)


def test_eval_bad_inputs_exit_2(tmp_path, text_csv, capsys):
    out = tmp_path / "r.json"
    assert main(["eval", str(text_csv), "--shots", "50", "--out", str(out)]) == 2
    assert "needs at least 51 per class" in capsys.readouterr().err
    assert main(["eval", str(text_csv), "--shots", "a,b", "--out", str(out)]) == 2
    assert main(["eval", str(text_csv), "--methods", "linear-prob", "--out", str(out)]) == 2
    assert "Did you mean 'linear-probe'" in capsys.readouterr().err
    assert not out.exists()


def test_baseline_bundles_roundtrip(tmp_path, text_csv, image_folder):
    for data in (text_csv, image_folder):
        model = scarce.fit(data, method="baseline")
        assert model.manifest["backbone"] is None
        loaded = scarce.load(model.save(tmp_path / "b.scarce"))
        x = scarce.api.load_inputs([data]) if data == image_folder else ["bread and cheese"]
        np.testing.assert_allclose(model.predict_proba(x), loaded.predict_proba(x), atol=1e-6)


def test_one_repeat_shows_no_interval(tmp_path, text_csv, capsys):
    """--repeats 1 printed '0.867 [0.867, 0.867]', an interval it does not have."""
    out = tmp_path / "r.json"
    args = ["eval", str(text_csv), "--shots", "2", "--repeats", "1", "--out", str(out), "-q"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "(1 repeat: no interval)" in text
    # and the JSON agrees: no interval from the test items alone (walk 10)
    for row in json.loads(out.read_text())["summary"]:
        assert row["low"] == row["high"] == row["mean"], row
    assert "too few repeats to tell" in text
    # walk 14: nor an all-clear that nothing could show, whichever side the method fell on
    assert "significantly worse" not in text
    assert "not tested" in text.lower()
    assert main(["report", str(out), "--out", str(tmp_path / "r.html"), "-q"]) == 0
    assert "class='allclear'" not in (tmp_path / "r.html").read_text()
    assert 'one repeat: no interval">(1 repeat)' in (tmp_path / "r.html").read_text()


def test_a_wrong_knob_names_the_method(text_csv):
    from scarce.core.errors import ConfigError

    with pytest.raises(ConfigError, match="method 'simpleshot' has no option 'meta_steps'"):
        scarce.fit(text_csv, method="simpleshot", config={"meta_steps": 5})


def test_a_knob_without_a_method_goes_to_every_method_that_has_it(text_csv, capsys):
    """Domain evaluations needed --set dann.steps=... --set mcc.steps=... for each method."""
    from scarce.evaluation.runner import EVERY, _spread_shared
    from scarce.methods import methods

    names = ["baseline", "linear-probe", "knn"]
    specs = {n: methods.get(n) for n in names}
    got = _spread_shared({EVERY: {"C": "0.5"}, "linear-probe": {"C": "2"}}, names, specs)
    assert got["linear-probe"]["C"] == "2"  # a method's own setting wins
    assert "knn" not in got
    assert set(got) == {n for n in names if "C" in specs[n].config.__dataclass_fields__}
    with pytest.raises(ConfigError, match="none of the methods run"):
        _spread_shared({EVERY: {"no_such_knob": 1}}, names, specs)
    # walk 28: self-training reads the target, so a setting for every method leaves the
    # source-only reference plain; only one naming it reaches it
    dom = ["source-only", "mcc"]
    dspecs = {n: methods.get(n) for n in dom}
    got = _spread_shared({EVERY: {"self_training": 3, "steps": 50}}, dom, dspecs)
    assert got["mcc"] == {"self_training": 3, "steps": 50}
    assert got["source-only"] == {"steps": 50}
    scoped = _spread_shared({"source-only": {"self_training": 3}}, dom, dspecs)
    assert scoped["source-only"] == {"self_training": 3}
    with pytest.raises(ConfigError, match=r"--set source-only.self_training"):
        _spread_shared({EVERY: {"self_training": 3}}, ["source-only"], dspecs)
    args = ["eval", str(text_csv), "--shots", "2", "--repeats", "1", "--set", "nope=1"]
    assert main([*args, "--out", str(text_csv.parent / "r.json"), "-q"]) == 2
    assert "has a knob 'nope'" in capsys.readouterr().err


def test_versus_pairs_each_method_with_the_named_one(tmp_path, text_csv, capsys):
    """Walk 4: finetune and setfit vs linear-probe could only be read from overlapping
    intervals; --versus pairs them on the same draws (and runs the method it names)."""
    out = tmp_path / "r.json"
    args = ["eval", str(text_csv), "--shots", "2", "--repeats", "3", "--methods", "knn"]
    assert main([*args, "--versus", "linear-probe", "--out", str(out), "-q"]) == 0
    text = capsys.readouterr().out
    res = json.loads(out.read_text())
    assert [m["name"] for m in res["methods"]] == ["baseline", "knn", "linear-probe"]
    (row,) = res["versus"]["paired"]
    assert (row["method"], row["shots"], row["n"]) == ("knn", 2, 3)
    acc = {
        m: [r["metrics"]["accuracy"] for r in res["runs"] if r["method"] == m]
        for m in ("knn", "linear-probe")
    }
    assert row["mean"] == pytest.approx(np.mean(acc["knn"]) - np.mean(acc["linear-probe"]))
    assert row["versus_accuracy"] == pytest.approx(np.mean(acc["linear-probe"]), abs=1e-4)
    assert "each method vs linear-probe" in text
    assert main(["report", str(out), "--out", str(tmp_path / "r.html"), "-q"]) == 0
    assert "Each method vs linear-probe" in (tmp_path / "r.html").read_text()
    assert main([*args, "--versus", "baseline", "--out", str(out), "-q"]) == 2
    assert "already compared with baseline" in capsys.readouterr().err
    assert main([*args, "--versus", "linear-prob", "--out", str(out), "-q"]) == 2
    assert "Did you mean 'linear-probe'" in capsys.readouterr().err


def test_terminal_table_shows_balanced_accuracy_when_classes_are_unequal():
    """kfold on a set that is 77% one class printed accuracy 0.865 alone; balanced 0.596."""
    from scarce.cli.main import _results_text

    def res(bal: float) -> dict:
        row = {"method": "linear-probe", "shots": None, "n": 10}
        return {
            "summary": [
                {**row, "metric": "accuracy", "mean": 0.865, "low": 0.858, "high": 0.873},
                {**row, "metric": "balanced_accuracy", "mean": bal, "low": bal, "high": bal},
            ],
            "paired": [],
            "methods": [{"name": "linear-probe", "description": "linear-probe (minilm-l6)"}],
            "protocol": {"name": "kfold", "repeats": 10, "folds": 3, "test": "fold",
                         "confidence": 0.95},
            "baseline": "baseline",
            "negative_transfer": [],
        }  # fmt: skip

    assert "balanced accuracy" in _results_text(res(0.596))
    assert "0.596 [0.596, 0.596]" in _results_text(res(0.596))
    floor = [{"shots": None, "accuracy": 0.77, "balanced_accuracy": 0.5}]
    said = _results_text({**res(0.596), "majority": floor})
    assert (
        "always answering each test set's largest class would score 0.770 (balanced 0.500)" in said
    )
    assert "test sets of unequal classes:" in said  # walk 29: k-fold folds of equal classes
    assert "balanced accuracy" not in _results_text(res(0.865))
    shots = [{"shots": 10, "accuracy": 0.207, "balanced_accuracy": 0.2}]
    said = _results_text({**res(0.596), "majority": shots})  # walk 26: not "score 10: 0.207"
    assert "largest class would score 0.207 (balanced 0.200) at 10 shots" in said
    # walk 28: the knobs that made a row were not in the legend
    tuned = [
        {"name": "linear-probe", "description": "linear-probe (minilm-l6)", "changed": {"C": 2}}
    ]
    assert "linear-probe: linear-probe (minilm-l6) [C=2]" in _results_text(
        {**res(0.596), "methods": tuned}
    )


def test_shots_that_take_every_example_warn_that_repeats_are_the_same(caplog):
    """walk 13: K equal to every class's size (with --test) made its repeats one draw."""
    from scarce.evaluation.protocols import kshot_splits

    pool = LabeledSet(
        Inputs.from_texts([f"t{i}" for i in range(6)]), np.array([0, 0, 0, 1, 1, 1]), ("a", "b")
    )
    with caplog.at_level("WARNING", logger="scarce"):
        splits = kshot_splits(pool, [1, 3], 3, 0, True)
    assert all(np.array_equal(s.train, np.arange(6)) for s in splits if s.shots == 3)
    assert "--shots 3 takes every example of every class" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="scarce"):
        kshot_splits(pool, [1, 2], 3, 0, True)
    assert "takes every example" not in caplog.text


def test_eval_of_auto_says_what_to_evaluate_instead():
    import scarce
    from scarce.core.errors import ConfigError

    with pytest.raises(ConfigError, match="auto is a choice made when fitting") as e:
        scarce.evaluate(["a b", "c d"] * 4, ["x", "y"] * 4, methods=["auto"])
    # the command line's spelling in the message, Python's in its note (walk 32)
    assert "--methods linear-probe,simpleshot,knn,protonet" in str(e.value)
    assert any("methods=[...]" in n for n in e.value.__notes__)
    with pytest.raises(ConfigError, match="names knn twice"):
        scarce.evaluate(["a b", "c d"] * 4, ["x", "y"] * 4, methods=["knn", "knn"])


def test_eval_refuses_an_empty_shot_count(tmp_path, text_csv, capsys):
    """Walk 32: --shots 1,,5 ran as 1,5: an empty piece is usually a lost number."""
    assert main(["eval", str(text_csv), "--shots", "1,,5", "--out", str(tmp_path / "r.json")]) == 2
    assert "--shots expects integers like 1,5,20" in capsys.readouterr().err


@pytest.mark.parametrize("shots", [1, 5])
def test_episodes_from_a_small_pool_cover_the_truth_once_their_support_items_count(shots):
    """5-way episodes from 10 classes of 20 items: classes differ (that is no pool-drawn
    variance: centred away) and each item pulls the runs it supports. Before the support
    term, 0.58 (1-shot) and 0.45 (5-shot) of the intervals covered; with it, about 0.93."""
    from scarce.evaluation.intervals import interval, support_variance

    g = np.random.default_rng(shots)
    n_classes, per_class, ways, sims, runs_per_pool = 10, 20, 5, 120, 300
    level = np.linspace(0.4, 0.9, n_classes)
    truth, groups = float(level.mean()), np.repeat(np.arange(n_classes), per_class)
    covered = 0
    for _ in range(sims):
        pull = g.normal(0, 0.15, (n_classes, per_class))
        runs = []
        for _ in range(runs_per_pool):
            keys, score = [], 0.0
            for c in g.choice(n_classes, ways, replace=False):
                idx = g.choice(per_class, shots, replace=False)
                keys.extend(c * per_class + idx)
                score += level[c] + pull[c, idx].mean()
            runs.append((np.array(keys), score / ways + g.normal(0, 0.05)))
        iv = interval([v for _, v in runs], item_var=support_variance(runs, groups))
        covered += iv.low <= truth <= iv.high
    assert 0.88 <= covered / sims <= 0.99, covered / sims


def test_a_method_flagged_at_many_shot_counts_is_one_paragraph():
    from scarce.cli.main import _grouped

    rows = [
        {"method": "linear-probe", "shots": k, "mean": -0.1 * i, "message": f"NEGATIVE {k}"}
        for i, k in enumerate((1, 5, 10), 1)
    ]
    out = _grouped(rows, "worse")
    assert out == ["NEGATIVE 1", "  linear-probe is also worse at K=5 (-0.200), K=10 (-0.300)."]


def test_too_few_repeats_says_how_many_are_needed():
    """Walk 15: 'too few repeats to tell' beside +0.161 to +0.506 read as a contradiction."""
    from scarce.cli.main import _verdict

    row = {"verdict": "too few repeats to tell", "n": 2, "low": 0.161, "high": 0.506}
    assert _verdict(row) == "too few repeats to tell (3+ needed)"
    assert _verdict({**row, "n": 4, "low": 0.1, "high": 0.1}).endswith("(6+ needed)")
    assert _verdict({**row, "n": 1}) == "too few repeats to tell"  # '(1 repeat)' says it
    assert _verdict({**row, "verdict": "better", "n": 5}) == "better"
    # the NOT TESTED line counts the same way (it said "3+ needed" after 4 repeats)
    from scarce.evaluation.runner import _untested_message

    assert "(3+ needed): run again with --repeats 3 or more" in _untested_message(
        "knn", 5, -0.1, 2, "baseline"
    )
    assert "(6+ needed): run again with --repeats 6 or more" in _untested_message(
        "knn", 5, -0.1, 4, "baseline"
    )


def _two_method_runs(repeats: int, folds: int | None, n_items: int, seed: int) -> list[dict]:
    """Runs of A and B that share one test set of `n_items` (kshot with --test) or fold it."""
    g = np.random.default_rng(seed)
    qa = g.beta(3, 1.5, n_items)
    qb = np.clip(qa + g.normal(0, 0.25, n_items), 0, 1)
    runs = []
    for r in range(repeats):
        for f in range(folds or 1):
            keys = np.arange(n_items) if folds is None else np.arange(f, n_items, folds)
            for m, q in (("A", qa), ("B", qb)):
                c = (g.random(len(keys)) < q[keys]).astype(float)
                runs.append(
                    {
                        "method": m,
                        "shots": 5 if folds is None else None,
                        "repeat": r,
                        "fold": None if folds is None else f,
                        "metrics": {"accuracy": float(c.mean())},
                        "_items": (keys, {"accuracy": c}),
                    }
                )
    return runs


def test_paired_tables_count_the_test_items_and_take_repeats_as_units():
    """--versus, --unlabeled and multitask pair two methods as the baseline column does: the
    shared test items' variance counts (without it, 82% coverage of a said 95%, walk 20), and
    under repeated k-fold a repeat is one unit, not each of its folds."""
    from types import SimpleNamespace

    from scarce.evaluation.intervals import interval, item_variance
    from scarce.evaluation.runner import Units, _versus

    pool = SimpleNamespace(
        y=np.zeros(150, dtype=int), inputs=SimpleNamespace(hashes=list(map(str, range(150))))
    )
    runs = _two_method_runs(10, None, 150, seed=0)
    (row,) = _versus(Units(runs, pool, "kshot", 10), "A", "B", "t", 0.95, 0)["paired"]
    a, b = runs[0::2], runs[1::2]
    diffs = [x["metrics"]["accuracy"] - y["metrics"]["accuracy"] for x, y in zip(a, b, strict=True)]
    per_item = [
        (x["_items"][0], x["_items"][1]["accuracy"] - y["_items"][1]["accuracy"])
        for x, y in zip(a, b, strict=True)
    ]
    want = interval(diffs, "t", 0.95, 0, (-1, 1), item_variance(per_item))
    plain = interval(diffs, "t", 0.95, 0, (-1, 1))
    assert (row["low"], row["high"]) == pytest.approx((want.low, want.high))
    assert row["high"] - row["low"] > 1.3 * (plain.high - plain.low)
    runs = _two_method_runs(3, 4, 120, seed=1)
    (row,) = _versus(Units(runs, pool, "kfold", 3), "A", "B", "t", 0.95, 0)["paired"]
    assert row["n"] == 3
    # walk 32: one k-fold repeat gave a verdict from its folds, two refused one; under a
    # verdict's repeats the units are each fold of each repeat
    runs = _two_method_runs(2, 4, 120, seed=1)
    (row,) = _versus(Units(runs, pool, "kfold", 2), "A", "B", "t", 0.95, 0)["paired"]
    assert row["n"] == 8
    assert row["verdict"] != "too few repeats to tell (3+ needed)"


def test_the_domain_advice_names_an_adapted_method_that_beats_the_baseline():
    """walk 19: source-only below the baseline read 'use the baseline' while mcc beat both."""
    from scarce.evaluation.intervals import Interval
    from scarce.evaluation.runner import _negative_message

    worse = Interval(-0.106, -0.2, -0.01, 3)
    plain = _negative_message("source-only", 0, worse, None, domain=True)
    assert "use the baseline" in plain
    rescued = _negative_message(
        "source-only", 0, worse, None, domain=True, rescued=("mcc", 0.686, 0.589)
    )
    assert "use the baseline" not in rescued
    assert "mcc scores 0.686 against the baseline's 0.589" in rescued


def test_a_curve_is_not_read_far_past_its_points():
    """walk 19: 3 points up to 16 per class said a doubling pays "beyond 10,000 per class"."""
    fit = fit_curve([1, 4, 16], [0.4, 0.6, 0.75])
    assert fit is not None
    assert fit["stops_paying_at"] is None
    assert "10,000" not in fit["note"]
    assert "at 128 per class, as far as these points can be read" in fit["note"]


def test_bootstrap_below_its_repeats_is_t_and_says_so(text_csv, caplog):
    """walk 21: the fallback to t kept the bootstrap's item-variance widening and went unsaid."""
    from scarce.evaluation.intervals import interval

    values, items = [0.61, 0.7, 0.66, 0.58], (0.0004, 40)
    want = interval(values, "t", item_var=items)
    assert interval(values, "bootstrap", item_var=items) == want
    with caplog.at_level(logging.WARNING, logger="scarce"):
        res = scarce.evaluate(
            text_csv,
            methods=["knn"],
            shots=[2],
            repeats=3,
            interval="bootstrap",
            backbone="minilm-l3",
        )
    assert res["protocol"]["interval"] == "t"
    assert res["protocol"]["interval_requested"] == "bootstrap"
    assert "--interval bootstrap needs 6+ repeats" in caplog.text


def test_eval_says_when_a_method_answers_one_class(caplog):
    """walk 21: fit --test warned of a test set answered with one class; eval did not."""
    from scarce.evaluation.metrics import one_class as _one_class
    from scarce.evaluation.runner import _warn_one_class

    y = np.arange(40) % 2
    flat = np.tile([0.2, 0.8], (40, 1))
    assert _one_class(y, flat) == 1
    assert _one_class(np.ones(40, int), flat) is None  # the test set is that class
    assert _one_class(y, np.eye(2)[y]) is None
    runs = [{"method": "knn", "_one_class": c} for c in (1, 1, None)]
    runs += [{"method": "baseline", "_one_class": c} for c in (None, None, 1)]
    with caplog.at_level(logging.WARNING, logger="scarce"):
        said = _warn_one_class(runs, ["baseline", "knn"], ("a", "b"), "kshot")
    assert [(s["method"], s["fits"], s["of"]) for s in said] == [("knn", 2, 3)]
    # and the report says it where it would otherwise give the all-clear (walk 23)
    from scarce.report.html import _negative_transfer, _Page

    res = {
        "baseline": "baseline",
        "methods": [{"name": "baseline"}, {"name": "knn"}],
        "paired": [{"method": "knn", "metric": "accuracy", "verdict": "better", "n": 3}],
    }
    assert "allclear" in _negative_transfer(_Page(res, []))
    flagged = _negative_transfer(_Page({**res, "one_class": said}, []))
    assert "allclear" not in flagged
    assert "Answers one class" in flagged
    assert "knn answered one class ('b') for 90%+ of the test examples in 2 of its 3" in caplog.text
    assert "baseline answered" not in caplog.text


def test_the_majority_floor_comes_from_each_test_set():
    """walk 24: the pool's shares said 0.500 where K=19 left a test set 41 of one class and 1
    of each other (0.932), and a class absent from a test set counted in the balanced floor."""
    from scarce.evaluation.protocols import kshot_splits
    from scarce.evaluation.runner import _majority

    y = np.array([0] * 60 + [1] * 20 + [2] * 20)
    pool = LabeledSet(Inputs.from_texts([f"t{i}" for i in range(100)]), y, ("a", "b", "c"))
    floors = {
        f["shots"]: f for f in _majority(kshot_splits(pool, [2, 19], 3, 0, False), pool, None)
    }
    assert floors[2]["accuracy"] == pytest.approx(58 / 94)
    assert floors[19]["accuracy"] == pytest.approx(41 / 43)
    assert floors[19]["balanced_accuracy"] == pytest.approx(1 / 3)
    equal = LabeledSet(pool.inputs.subset(range(40, 100)), y[40:100] // 1, ("a", "b", "c"))
    assert _majority(kshot_splits(equal, [2], 2, 0, False), equal, None) == []


def test_parallel_fits_run_each_methods_first_fit_alone():
    """audit 26: `--jobs 2` crashed in 3 of 12 runs when two threads ran a method's lazy
    imports at once (sklearn's text module, half-initialised). Each method's first fit now
    runs alone in the calling thread; the results keep the jobs' order."""
    import threading

    from scarce.evaluation.runner import _run_all

    main = threading.get_ident()
    where: dict[tuple[str, int], int] = {}

    def one(job: tuple[str, int]) -> tuple[str, int]:
        where[job] = threading.get_ident()
        return job

    jobs = [(m, r) for r in range(6) for m in ("baseline", "linear-probe")]
    assert _run_all(one, jobs, 2) == jobs
    assert where[("baseline", 0)] == main
    assert where[("linear-probe", 0)] == main


def test_a_curve_over_one_test_set_is_judged_by_each_items_change():
    """Walk 29: every 1-shot draw scored below every 6-shot draw on one --test set of 180,
    yet the curve read "a change inside the points' intervals": each point's interval counts
    the test items' variance whole, which the change between them largely cancels."""
    g = np.random.default_rng(0)
    n, repeats = 180, 10
    hard = g.random(n) < 0.6  # items the model gets wrong at 1 shot; most stay hard
    keys = np.arange(n)
    runs = []
    for k, flip in ((1, 0.0), (6, 0.16)):
        for r in range(repeats):
            right = ~hard | (g.random(n) < flip)
            runs.append({"method": "m", "shots": k, "repeat": r, "fold": None,
                         "metrics": {"accuracy": float(right.mean())},
                         "_items": (keys, {"accuracy": right.astype(float)})})  # fmt: skip
    pool = LabeledSet(Inputs.from_texts([str(i) for i in range(n)]), np.zeros(n, int), ("a",))
    units = Units(runs, pool, "kshot", repeats)
    ivs = [
        interval(list(units.per_unit("m", k, "accuracy").values()),
                 item_var=units.items("m", k, "accuracy")) for k in (1, 6)
    ]  # fmt: skip
    assert ivs[1].low <= ivs[0].high  # each point's interval: the rise reads as noise
    change = units.change("m", 1, 6, "accuracy", 0.95)
    assert change.low > 0.05  # each item's change: a clear rise
    assert change.high < 0.2
    # independent test items on each side: no cancelling, as wide as the points' own
    wide = change_interval([0.4] * 5 + [0.41] * 5, [0.5] * 5 + [0.51] * 5, item_var=(0.01, 100))
    assert wide.low < 0.0


def test_copies_in_a_given_test_set_are_one_test_item():
    """Stop 35: the pool's copies were one test item, a given --test set's were not, and a
    test set of one text pasted 10 times read as 10 independent items."""
    n_pool, texts = 4, ["a", "b", "c", "d"] + ["same"] * 10 + [f"t{i}" for i in range(10)]
    pool = LabeledSet(Inputs.from_texts(texts[:n_pool]), np.zeros(n_pool, int), ("x",))
    test = LabeledSet(Inputs.from_texts(texts[n_pool:]), np.zeros(20, int), ("x",))
    keys = n_pool + np.arange(20)
    runs = [{"method": "m", "shots": 1, "repeat": r, "fold": None,
             "metrics": {"accuracy": 0.5},
             "_items": (keys, {"accuracy": np.r_[np.full(10, float(r % 2)), np.ones(10)]})}
            for r in range(4)]  # fmt: skip
    grouped = Units(runs, pool, "kshot", 4, test)
    (got, _), *_ = grouped.scored("m", 1, "accuracy").values()
    assert len(np.unique(got)) == 11  # the ten copies share one key
    assert grouped.items("m", 1, "accuracy")[1] == 11
    assert Units(runs, pool, "kshot", 4).items("m", 1, "accuracy")[1] == 20


def test_two_methods_alike_on_every_item_keep_an_interval():
    """Walk 32: two methods perfect on all 65 test items read +0.000 [+0.000, +0.000], as
    if certainly alike; the share of items on which they could part reaches its exact bound."""
    from scarce.evaluation.intervals import Interval, paired_near_zero, verdict

    zero = Interval(0.0, 0.0, 0.0, 65)
    iv = paired_near_zero(zero, 0, 0, 65)
    assert iv.low == pytest.approx(-0.0552, abs=1e-3)
    assert iv.high == pytest.approx(0.0552, abs=1e-3)
    assert verdict(iv) == "no clear difference"
    one = paired_near_zero(Interval(1 / 65, 0.0, 0.05, 65), 1, 0, 65)
    assert one.low < 0 < one.high  # one item apart is no difference either
    wide = Interval(0.2, 0.1, 0.3, 65)
    assert paired_near_zero(wide, 20, 7, 65) == wide  # far from zero: as it was
    # eval's paired table: the same answers on every item of every draw
    n, keys = 30, np.arange(30)
    runs = [{"method": m, "shots": 1, "repeat": r, "fold": None, "metrics": {"accuracy": 1.0},
             "_items": (keys, {"accuracy": np.ones(n)})}
            for m in ("A", "B") for r in range(5)]  # fmt: skip
    pool = LabeledSet(Inputs.from_texts([str(i) for i in range(n)]), np.zeros(n, int), ("a",))
    from scarce.evaluation.runner import _versus

    (row,) = _versus(Units(runs, pool, "kshot", 5), "A", "B", "t", 0.95, 0)["paired"]
    assert row["low"] < -0.1
    assert row["high"] > 0.1
    assert row["verdict"] == "no clear difference"


def test_a_perfect_score_on_few_test_items_keeps_an_interval():
    """Walk 29: 150 of 150 test images right in every draw read 1.000 [1.000, 1.000]; n
    items all right bound the accuracy below by the exact binomial, not by nothing."""
    perfect = interval([1.0] * 5, bounds=(0.0, 1.0), item_var=(0.0, 150))
    assert perfect.high == 1.0
    assert perfect.low == pytest.approx(0.9757, abs=1e-4)  # Clopper-Pearson, 150 of 150
    # one miss in 22,500 answers on those 150 read [0.9998, 1.000]: a handful of misses
    # says next to nothing of the spread
    near = interval([1.0] * 4 + [0.9999], bounds=(0.0, 1.0), item_var=(1e-9, 150))
    assert near.low == pytest.approx(0.9757, abs=1e-3)
    # walk 37: the bound moved 0.031 between 4.9 and 5.0 misses in 120 items; it fades in
    lows = [
        interval([m - 0.01, m, m + 0.01], bounds=(0.0, 1.0), item_var=(2e-4, 120)).low
        for m in (1 - 4.95 / 120, 1 - 5.05 / 120)
    ]
    assert abs(lows[0] - lows[1]) < 0.005, lows
    usual = interval([0.7, 0.72, 0.69], bounds=(0.0, 1.0), item_var=(1e-3, 150))
    assert usual == interval([0.7, 0.72, 0.69], item_var=(1e-3, 150))  # far from the edge
    none = interval([0.0] * 5, bounds=(0.0, 1.0), item_var=(0.0, 150))
    assert none.high == pytest.approx(1 - 0.9757, abs=1e-4)
    # one draw has no interval at all; without items counted, nothing to bound it by
    assert interval([1.0], bounds=(0.0, 1.0), item_var=(0.0, 150)).low == 1.0
    assert interval([1.0] * 5, bounds=(0.0, 1.0)).low == 1.0


def test_a_small_pool_cautions_its_verdicts(text_csv, caplog):
    """Walk 29: on 18 texts, 3 of 5 seeds flagged linear-probe as worse than the baseline,
    which 180 held-out texts rank below it; every seed tested on the same few items."""
    res = scarce.evaluate(text_csv, methods=["linear-probe"], shots=[1], repeats=3, seed=0)
    assert "DATA holds 24 distinct examples, 8 of class" in caplog.text
    assert res["protocol"]["small_pool"].startswith("DATA holds 24 distinct examples")
    # the results carry the run's warnings, for the report (walk 33)
    assert any(w.startswith("DATA holds 24 distinct examples") for w in res["warnings"])
    caplog.clear()
    res = scarce.evaluate(text_csv, methods=["linear-probe"], shots=[1], repeats=3, test=text_csv)
    assert "small_pool" not in res["protocol"]
    assert "DATA holds" not in caplog.text


def test_a_paired_table_of_two_perfect_methods_keeps_an_interval():
    """Walk 32: eval's table against the reference read +0.000 [+0.000, +0.000] where both
    methods answered every item right in every draw."""
    import scarce

    texts = [f"apples and pears {i}" for i in range(12)] + [
        f"zebras and lions {i}" for i in range(12)
    ]
    labels = ["fruit"] * 12 + ["animal"] * 12
    res = scarce.evaluate(texts, labels, methods=["linear-probe"], shots=[4], repeats=3, seed=0)
    (row,) = [p for p in res["paired"] if p["metric"] == "accuracy"]
    summary = {s["method"]: s["mean"] for s in res["summary"] if s["metric"] == "accuracy"}
    assert summary == {"baseline": 1.0, "linear-probe": 1.0}
    assert row["low"] < 0 < row["high"]
    assert row["verdict"] == "no clear difference"


def test_a_curves_readings_are_given_only_as_closely_as_its_points_know_them():
    """Walk 33: three points fit three parameters exactly, and the seed moved "past about N
    per class a doubling adds less than 0.01" from 4 to 32 and the plateau from 0.960 to
    0.985; refitted within the points' intervals, a loose reading is said as a range."""
    loose = fit_curve([1, 5, 20], [0.70, 0.93, 0.96], [0.66, 0.89, 0.92], [0.74, 0.97, 1.0])
    assert loose["plateau"] is None
    assert loose["stops_paying_at"] is None
    assert (
        "cannot be read closely from them (refitted within their intervals: from about"
        in (loose["note"])
    )
    assert "at a level these points cannot pin down" in loose["note"]
    tight = fit_curve([1, 5, 20], [0.70, 0.93, 0.96], [0.698, 0.928, 0.958], [0.702, 0.932, 0.962])
    assert tight["stops_paying_at"] == 10
    assert tight["plateau"] == pytest.approx(0.967, abs=1e-3)
    assert "add +0.004 [+0.003, +0.004] accuracy; past about 10 per class" in tight["note"]
    # walk 33: the refits' gain on their own curve put the point outside its range, and the
    # range past perfect accuracy; both now stand on the point's footing
    near = fit_curve([1, 5, 20], [0.580, 0.817, 0.988], [0.54, 0.78, 0.975], [0.62, 0.85, 0.998])
    g_lo, g_hi = near["spread"]["gain"]
    gain = near["predicted"][0]["mean"] - 0.988
    assert g_lo <= gain <= g_hi
    assert g_hi <= 1 - 0.988 + 1e-9
    # ... and a curve capped at perfect says so rather than give a zero-width range, and
    # no later doubling is said to pay once one reaches the cap
    assert "reaching perfect if the curve holds" in near["note"]
    assert near["stops_paying_at"] <= 40
    close = fit_curve([1, 5, 20], [0.58, 0.817, 0.995], [0.55, 0.79, 0.975], [0.6, 0.84, 1.0])
    assert "at most +0.005 accuracy (the measured 0.995 is that close to perfect)" in close["note"]
    assert close["stops_paying_at"] == 20
