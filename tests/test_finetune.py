"""Each fine-tuning knob does what it says, on real data and the real encoders (short runs)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import scarce
from scarce.core.errors import ConfigError
from scarce.data.augment import Augment
from scarce.data.types import Inputs, LabeledSet
from scarce.encoders import create_encoder
from scarce.methods._tuning import L2SP, TunedFitted
from scarce.methods.finetune import (
    Finetune,
    FinetuneConfig,
    _best,
    _better,
    _stratified_holdout,
    _worse,
    scaled_log_loss,
)
from scarce.methods.setfit import balanced_batch, pair_loss

CLASSES = ("science", "food", "sports")


def _texts(fortunes_data, per_class, offset=0, counts=None) -> LabeledSet:
    texts, labels = fortunes_data
    g = np.random.default_rng(0)
    items = []
    for k, c in enumerate(CLASSES):
        idx = g.permutation([i for i, lab in enumerate(labels) if lab == c])
        n = counts[k] if counts else per_class
        items += [(texts[i], k) for i in idx[offset : offset + n]]
    return LabeledSet(
        Inputs.from_texts([t for t, _ in items]), np.array([k for _, k in items]), CLASSES
    )


def _fit(data: LabeledSet, /, **cfg):
    enc = create_encoder("minilm-l6")
    return Finetune(FinetuneConfig(**cfg), enc).fit(data, seed=0)


def _distance(fitted) -> float:
    start = fitted.encoder.staged()
    return sum(
        float(((p.detach() - p0.detach()) ** 2).sum())
        for u, u0 in zip(fitted.net.units, start.units, strict=True)
        for p, p0 in zip(u.parameters(), u0.parameters(), strict=True)
    )


@pytest.fixture(scope="module")
def small_text(fortunes_data):
    return _texts(fortunes_data, 8), _texts(fortunes_data, 40, offset=8)


def test_frozen_units_do_not_change_and_trained_ones_do(small_text):
    train, _ = small_text
    fitted = _fit(train, blocks=1, epochs=3, early_stopping=False)
    start = fitted.encoder.staged()
    n = len(start.units)
    assert fitted.first == n - 1
    for i in range(n):
        same = all(
            torch.equal(p, p0)
            for p, p0 in zip(
                fitted.net.units[i].parameters(), start.units[i].parameters(), strict=True
            )
        )
        assert same == (i < n - 1), f"unit {i}"


def test_cli_says_what_early_stopping_kept(small_text, tmp_path, capsys, monkeypatch):
    from scarce.cli.main import main
    from scarce.core import progress as P
    from tests.conftest import write_text_csv

    monkeypatch.setattr(P, "PLAIN_EVERY", 0.0)  # the lines a log (no terminal) gets

    train, _ = small_text
    data = write_text_csv(
        tmp_path / "t.csv", list(train.inputs.items), [CLASSES[c] for c in train.y]
    )
    args = ["fit", str(data), "--method", "finetune", "--set", "epochs=2", "--set", "blocks=1"]
    assert main([*args, "--out", str(tmp_path / "m.scarce")]) == 0
    out, err = capsys.readouterr()
    # walk 6: minutes of training showed no progress at all
    assert "fold 1/2: 1/2 epoch done" in err
    # the final training shows its progress too, unless the folds chose 0 epochs (the
    # linear probe's head, with nothing to train)
    kept = re.search(r"kept epoch (\d)", out)
    assert kept is not None, out
    assert kept.group(1) == "0" or f"fine-tuning: 0/{kept.group(1)} epoch" in err, err
    # 6 of 24 would be held out: too few to choose on, so 2 folds validate all 24
    assert "early stopping: 2 folds chose" in out
    assert "(each of the 24 examples validated once); kept epoch" in out
    assert re.search(r"kept epoch (\d of 2|0: the linear probe's head).*\(keep=best", out), out
    # walk 6: the folds' accuracy is the validation, not "holds nothing out"
    assert "validation accuracy: " in out
    assert "2-fold cross-validation at " in out
    assert "holds nothing out" not in out
    args += ["--set", "min_held_out=6"]
    assert main([*args, "--out", str(tmp_path / "m.scarce")]) == 0
    out = capsys.readouterr().out
    assert "early stopping: held-out 6 examples; kept epoch" in out
    # either an epoch of 2 won or the pretrained encoder's linear-probe head did; both named
    assert re.search(
        r"kept epoch (\d of 2 \(keep=best: the best epoch\)(; there, [^;]*)?; refit on all 24 "
        r"examples|0: "
        r"the linear probe's head .* refit the linear probe on all 24 examples)",
        out,
    ), out
    assert "validation accuracy: " in out
    assert "held-out examples that chose the epoch" in out


def test_l2sp_keeps_weights_nearer_their_start(small_text):
    train, _ = small_text
    common = {"blocks": 1, "epochs": 2, "early_stopping": False, "lr": 1e-3}
    free = _distance(_fit(train, l2sp=0.0, **common))
    held = _distance(_fit(train, l2sp=10.0, **common))
    assert 0 < held < 0.5 * free


def test_l2sp_penalty_is_the_squared_distance():
    p = torch.nn.Parameter(torch.zeros(3))
    pen = L2SP([p], 0.5)
    with torch.no_grad():
        p.add_(torch.tensor([1.0, 2.0, 0.0]))
    assert float(pen().detach()) == pytest.approx(0.5 * 5.0)


def test_early_stopping_stops_and_restores_the_best_epoch(fortunes_data):
    train = _texts(fortunes_data, 10)
    # a learning rate far too high: validation loss soon rises
    fitted = _fit(
        train,
        blocks=2,
        epochs=30,
        lr=5e-3,
        head_lr=5e-2,
        patience=2,
        refit=False,
        monitor="loss",
        min_held_out=1,
    )
    hist = fitted.meta["val_loss_by_epoch"]
    assert len(hist) - 1 < 30  # stopped early
    assert fitted.meta["best_epoch"] == int(np.argmin(hist))
    _, va = _stratified_holdout(train.y, 0.2, 0)
    held = train.subset(va)
    p = fitted.predict_proba(held.inputs)
    loss = float(-np.log(p[np.arange(len(va)), held.y]).mean())
    assert loss == pytest.approx(min(hist), abs=1e-3)  # the restored weights are the best


def test_accuracy_monitor_prefers_fewer_errors_then_lower_loss():
    err = np.array([0.30, 0.20, 0.20, 0.25])
    loss = np.array([0.50, 0.90, 0.70, 0.40])
    # on 1000 examples 0.20 vs 0.25 is beyond noise: fewest errors, the lower loss of the tie
    assert _best(err, loss, "accuracy", 1000) == 2
    assert _best(err, loss, "loss", 1000) == 3
    assert _better((0.1, 0.9), (0.2, 0.5), "accuracy", 1000)
    assert not _better((0.2, 0.6), (0.2, 0.5), "accuracy", 1000)
    assert _better((0.2, 0.4), (0.1, 0.5), "loss", 1000)


def test_accuracy_monitor_treats_a_gain_within_noise_as_a_tie():
    # 2 of 40 fewer errors is within one standard error (~0.06): the loss decides
    assert not _better((0.20, 0.90), (0.25, 0.50), "accuracy", 40)
    assert _better((0.25, 0.40), (0.20, 0.50), "accuracy", 40)
    assert _better((0.05, 0.90), (0.25, 0.50), "accuracy", 40)  # 8 of 40: beyond noise
    err = np.array([0.25, 0.20, 0.225])
    loss = np.array([0.50, 0.90, 0.70])
    assert _best(err, loss, "accuracy", 40) == 0
    assert _best(err, loss, "accuracy", 4000) == 1


def test_keep_end_takes_the_schedule_unless_clearly_below_the_probe():
    err = np.array([0.225, 0.25, 0.30, 0.20, 0.175, 0.20])
    loss = np.array([0.69, 0.76, 0.76, 0.70, 0.76, 0.80])
    # on 40 examples the end (0.20) is within noise of the probe (0.225): "end" keeps it,
    # "best" the tie with the lowest loss
    assert _best(err, loss, "accuracy", 40, "end") == 5
    assert _best(err, loss, "accuracy", 40, "best") == 0
    worse = np.array([0.225, 0.25, 0.30, 0.35, 0.40, 0.45])
    assert _best(worse, loss, "accuracy", 40, "end") == 0  # clearly below the probe
    assert _worse((0.45, 0.5), (0.225, 0.9), "accuracy", 40)
    assert not _worse((0.25, 0.9), (0.225, 0.5), "accuracy", 40)
    assert _worse((0.25, 0.9), (0.225, 0.5), "loss", 40)


def test_keep_end_trains_the_whole_schedule(small_text):
    train, _ = small_text
    fitted = _fit(train, blocks=1, epochs=4, keep="end", patience=1, refit=False, min_held_out=1)
    # patience 1 would stop "best" at the first epoch without progress; "end" runs on
    # unless an epoch is clearly below the probe, and keeps the end or the probe
    err, loss = fitted.meta["val_error_by_epoch"], fitted.meta["val_loss_by_epoch"]
    n_val = len(_stratified_holdout(train.y, 0.2, 0)[1])
    below = _worse((err[-1], loss[-1]), (err[0], loss[0]), "accuracy", n_val)
    assert len(err) == 5 or below
    assert fitted.meta["best_epoch"] == (0 if below else 4)


def test_scaled_loss_ignores_sharpness_but_not_ranking():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (200,), generator=g)
    logits = torch.randn(200, 4, generator=g) + 2 * torch.nn.functional.one_hot(y, 4)
    raw = torch.nn.functional.cross_entropy
    # sharper probabilities (logits x8) raise the raw loss; the scaled loss stays put
    assert raw(8 * logits, y) > raw(logits, y) + 0.2
    assert float(scaled_log_loss(8 * logits, y)) == pytest.approx(
        float(scaled_log_loss(logits, y)), abs=0.01
    )
    assert float(scaled_log_loss(logits, y)) <= float(raw(logits, y)) + 1e-6
    # a worse ranking (some classes shuffled) still costs it
    worse = logits.clone()
    worse[:100] = worse[:100, torch.randperm(4, generator=g)]
    assert float(scaled_log_loss(worse, y)) > float(scaled_log_loss(logits, y)) + 0.05


def test_class_weights_move_the_decision(fortunes_data, caplog):
    train = _texts(fortunes_data, 0, counts=[24, 24, 3])
    test = _texts(fortunes_data, 30, offset=30)
    minority = test.subset(np.flatnonzero(test.y == 2))
    common = {"blocks": 1, "epochs": 2, "early_stopping": False}
    with caplog.at_level("WARNING", logger="scarce"):
        weighted = _fit(train, imbalance="weighted-loss", **common)
    # walk 34: 30 against 3 lost the small class, and nothing said so
    assert "the smallest class has 3 example(s) against 24 in the largest" in caplog.text
    plain = _fit(train, imbalance="none", **common)
    pw = weighted.predict_proba(minority.inputs)[:, 2].mean()
    pp = plain.predict_proba(minority.inputs)[:, 2].mean()
    assert pw > pp + 0.05


def test_augmentation_is_random_in_training_and_off_at_prediction(fashion):
    x, y, xt, _ = fashion
    g = np.random.default_rng(1)
    a, b = Augment()(x[0], 64, g), Augment()(x[0], 64, g)
    assert a.shape == (64, 64, 3)
    assert not np.array_equal(a, b)
    keep = np.concatenate([np.flatnonzero(y == c)[:4] for c in (0, 1)])
    train = LabeledSet(Inputs.from_images(list(x[keep])), (y[keep] == 1).astype(int), ("0", "1"))
    enc = create_encoder("efficientnet-lite0")
    fitted = Finetune(
        FinetuneConfig(blocks=1, epochs=1, views=2, early_stopping=False, augment=True), enc
    ).fit(train, seed=0)
    # batch-norm statistics stay those of pretraining (batches of a few images would ruin them)
    fresh = dict(enc.staged().named_buffers())
    assert all(torch.equal(b, fresh[k]) for k, b in fitted.net.named_buffers())
    test = Inputs.from_images(list(xt[:6]))
    p1, p2 = fitted.predict_proba(test), fitted.predict_proba(test)
    np.testing.assert_array_equal(p1, p2)
    # as a loaded bundle, the tuned network predicts through ONNX Runtime, and agrees
    loaded = TunedFitted.from_state(*fitted.state(), enc, fitted.classes)
    assert fitted.backend() is None
    assert loaded.backend()[1] == "onnxruntime"
    np.testing.assert_allclose(loaded.predict_proba(test), p1, atol=1e-5)
    # the plain preprocessing, straight through the tuned network: no augmentation
    from scarce.encoders.staged import to_tensors

    with torch.inference_mode():
        emb = fitted.net(to_tensors(enc.prepare(test.items)))
        ref = torch.softmax(fitted.head(emb), 1).numpy()
    np.testing.assert_allclose(p1, ref, atol=1e-5)


def test_frozen_encoders_are_refused_clearly():
    from scarce.encoders.base import encoders

    frozen = [s.name for s in encoders if s.installed() and not create_encoder(s.name).trainable]
    if not frozen:
        pytest.skip("no frozen-only encoder installed")
    with pytest.raises(ConfigError, match="frozen embeddings only"):
        scarce.fit(_texts_for_refusal(), method="finetune", backbone=frozen[0])
    with pytest.raises(ConfigError, match="frozen embeddings only"):
        scarce.fit(_texts_for_refusal(), method="setfit", backbone=frozen[0])


def _texts_for_refusal() -> LabeledSet:
    texts = ("good", "great", "fine", "bad", "awful", "poor")
    return LabeledSet(Inputs.from_texts(texts), np.array([0, 0, 0, 1, 1, 1]), ("pos", "neg"))


def test_setfit_pairs_and_loss():
    y = np.repeat(np.arange(4), 5)
    idx = balanced_batch(y, 8, np.random.default_rng(0))
    assert len(idx) == 8
    assert all(np.bincount(y[idx])[np.unique(y[idx])] >= 2)  # positives in every batch
    # a class with one example still appears, as a negative, in some batches
    y1 = np.array([0] * 6 + [1] * 6 + [2])
    seen = [balanced_batch(y1, 8, np.random.default_rng(s)) for s in range(10)]
    assert any(12 in b for b in seen)
    assert all(len(set(b.tolist())) == len(b) and (np.bincount(y1[b])[:2] >= 2).all() for b in seen)
    # unequal classes give alike numbers: the large class's pairs do not rule the loss
    y2 = np.array([0] * 30 + [1] * 3)
    assert all(
        np.bincount(y2[balanced_batch(y2, 32, np.random.default_rng(s))]).tolist() == [3, 3]
        for s in range(5)
    )
    labels = torch.tensor([0, 0, 1, 1])
    perfect = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert float(pair_loss(perfect, labels)) == pytest.approx(0.0, abs=1e-7)
    assert float(pair_loss(perfect[[0, 2, 1, 3]], labels)) > 0.5
    # one point for all: positives exact, every negative off by 1, weighing half (audit 27:
    # a loss without its negatives passed on the threshold above)
    assert float(pair_loss(torch.ones(4, 2), labels)) == pytest.approx(0.5)


def test_setfit_separates_classes_better_than_the_frozen_encoder(small_text):
    train, test = small_text
    short = {"steps": 25, "batch_size": 16, "blocks": 1, "lr": 1e-3}
    tuned = scarce.fit(train, method="setfit", seed=0, config=short)
    frozen = create_encoder("minilm-l6")

    def margin(emb: np.ndarray, y: np.ndarray) -> float:
        z = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        s = z @ z.T
        same = y[:, None] == y[None, :]
        off = ~np.eye(len(y), dtype=bool)
        return float(s[same & off].mean() - s[~same].mean())

    before = margin(frozen.encode(test.inputs), test.y)
    after = margin(tuned.fitted.embed(test.inputs), test.y)
    assert after > before + 0.05  # held-out texts: the encoder learned, not memorized


def test_a_kept_epoch_0_says_first_that_the_result_is_the_linear_probe():
    """walk 25: 'trained the top 2 units, L2-SP lambda 0.01' led the summary of a model
    whose encoder no epoch changed."""
    from scarce.cli.main import _finetune_text

    meta = {"best_epoch": 0, "epochs_planned": 10, "early_stopping": "2 folds chose 0 epochs",
            "keep": "best", "blocks": 2, "mode": "last", "l2sp": 0.01}  # fmt: skip
    text = _finetune_text(meta)
    assert text.startswith("the result is the linear probe")
    assert "no encoder unit changed. Tried: trained the top 2 units" in text
    assert not _finetune_text({**meta, "best_epoch": 3}).startswith("the result is")
    # walk 26: what the same held-out examples gave the probe, beside the kept epoch
    curve = {"fold_error_by_epoch": [0.3, 0.25, 0.2, 0.22], "best_epoch": 2}
    assert "there, accuracy 0.800 against the linear probe's 0.700 (epoch 0)" in _finetune_text(
        {**meta, **curve}
    )
    assert "against the linear probe's" not in text  # epoch 0 kept: nothing to compare
    # walk 28: a kept epoch below the probe is a tie decided by the loss, and says so
    tie = {"val_error_by_epoch": [0.556, 0.569], "val_loss_by_epoch": [1.2, 1.1], "best_epoch": 1}
    said = _finetune_text({**meta, **tie})
    assert "accuracy 0.431 against the linear probe's 0.444" in said
    assert "a tie, which the lower log-loss decided (1.100 against 1.200)" in said
    assert "a tie" not in _finetune_text({**meta, **curve})  # above the probe: no tie to explain
    # walk 34: every epoch scored as the probe at 4 per class, for 2-5x the probe's time
    flat = {"fold_error_by_epoch": [5 / 12] * 4, "best_epoch": 1}
    assert "as every one of the 3 epochs scored: fine-tuning showed no gain" in _finetune_text(
        {**meta, **flat}
    )
    assert "showed no gain" not in _finetune_text({**meta, **curve})
    # walk 36: +0.10 claimed on 4 small-class images per fold, with no word of the noise
    small = {**meta, **curve, "validation": {"accuracy": 0.8, "n": 20}}
    assert "within the noise of 20 examples (about ±0.20)" in _finetune_text(small)
    big = {**small, "validation": {"accuracy": 0.8, "n": 2000}}
    assert "within the noise" not in _finetune_text(big)
    # walk 43: what the shot count chose was shown, not that it chose it, nor the rate
    band = {"defaults_for": "5-16 per class (the smallest class has 8)", "lr": 1e-4}
    assert _finetune_text({**meta, **curve, **band}).startswith(
        "defaults for 5-16 per class (the smallest class has 8): trained the top 2 units, "
        "L2-SP lambda 0.01 at lr 0.0001 (last)"
    )


def test_two_folds_choose_the_epochs_when_no_example_can_be_held_out(fortunes_data, caplog):
    from scarce.cli.main import _finetune_text

    train = _texts(fortunes_data, 3)  # 3 per class: too few to hold any out for good
    with caplog.at_level("INFO", logger="scarce"):
        fitted = _fit(train, blocks=1, epochs=3, l2sp_search=(0.001, 0.1), refit=False)
    # walk 34: -v (INFO) promised the method's progress and said nothing of the epochs
    said = r"finetune fold 2/2: epoch 3 of 3, held-out (balanced )?error [\d.]+"
    assert re.search(said, caplog.text)
    assert fitted.meta["early_stopping"].startswith("2 folds chose")
    # walk 17: the search was dropped without a word; walk 28: it needed 200+ labels to
    # run at all, and now runs on the two folds that choose the epochs
    assert "l2sp_search needs held-out labels" not in caplog.text
    assert fitted.meta["l2sp_search"] == [0.001, 0.1]
    assert fitted.meta["l2sp"] in (0.001, 0.1)
    assert "and lambda" in fitted.meta["validation"]["how"]
    # walk 25: refit=false was dropped too, which cannot apply when nothing is held out
    assert "refit=false has no effect here: no examples were held out" in caplog.text
    assert f"L2-SP lambda {fitted.meta['l2sp']:g} (searched)" in _finetune_text(fitted.meta)
    chosen = int(fitted.meta["early_stopping"].split()[3])
    assert 0 <= chosen <= 3
    assert fitted.meta["best_epoch"] == chosen  # the final fit ran that many epochs
    assert fitted.meta["epochs_planned"] == 3  # of the planned schedule
    assert fitted.meta["validation"]["n"] == len(train)
    assert 0.0 <= fitted.meta["validation"]["accuracy"] <= 1.0


def test_a_refit_retraces_the_validated_schedule(fortunes_data, monkeypatch):
    """The refit runs the chosen epochs on the learning rates of the planned schedule, not
    a schedule squeezed into those epochs (whose rates would differ from the validated run)."""
    from scarce.methods import _tuning

    train = _texts(fortunes_data, 6)
    calls = []
    real = _tuning.schedule

    def spy(opt, step, total, warmup):
        calls.append((step, total))
        return real(opt, step, total, warmup)

    monkeypatch.setattr(_tuning, "schedule", spy)
    enc = create_encoder("minilm-l6")
    learner = Finetune(FinetuneConfig(blocks=1, epochs=4, early_stopping=False), enc)
    net = enc.staged()
    first = len(net.units) - 1
    data = learner._states(net, train, first, False, 0)
    d = {"blocks": 1, "epochs": 4, "l2sp": 0.0, "lr": 1e-3, "keep": "best"}
    fitted, _, _ = learner._train(
        net, train, data, None, None, first, d, "last", 0, stop_early=False, stop_after=2
    )
    per_epoch = -(-len(train) // 16)
    assert calls == [(s, 4 * per_epoch) for s in range(2 * per_epoch)]
    assert fitted.meta["epochs_planned"] == 4
    assert fitted.meta["best_epoch"] == 2


def test_tuned_embeddings_come_back_in_input_order(fortunes_data):
    # batches are formed by length (less padding): the rows must still follow the inputs
    from scarce.methods._tuning import embed_states, prefix_states

    texts = fortunes_data[0][:40]
    enc = create_encoder("minilm-l6")
    net = enc.staged()
    states = prefix_states(net, enc, texts, None, 1, max_tokens=128)
    with torch.inference_mode():
        together = embed_states(net, states, 1).numpy()
        one_by_one = np.concatenate([embed_states(net, [s], 1).numpy() for s in states])
    assert len({len(t) for t in texts}) > 10  # lengths vary, so the order is really shuffled
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    np.testing.assert_allclose(together, enc.encode(Inputs.from_texts(texts)), atol=1e-4)


def test_a_model_that_kept_epoch_0_stores_and_predicts_as_the_probe(fashion):
    x, y, xt, _ = fashion
    keep = np.concatenate([np.flatnonzero(y == c)[:8] for c in (0, 1)])
    train = LabeledSet(Inputs.from_images(list(x[keep])), (y[keep] == 1).astype(int), ("0", "1"))
    enc = create_encoder("efficientnet-lite0")
    # a learning rate that ruins every epoch: early stopping keeps epoch 0, the probe
    cfg = FinetuneConfig(blocks=1, epochs=2, lr=1.0, head_lr=1.0, patience=1, monitor="loss")
    fitted = Finetune(cfg, enc).fit(train, seed=0)
    assert fitted.meta["best_epoch"] == 0
    assert not fitted.tuned
    tensors, meta = fitted.state()
    assert not [k for k in tensors if k.startswith("units.")]  # only the head is stored
    loaded = TunedFitted.from_state(tensors, meta, enc, fitted.classes)
    assert loaded.backend() is None  # no export of unchanged weights: the frozen encoder's path
    test = Inputs.from_images(list(xt[:6]))
    np.testing.assert_allclose(loaded.predict_proba(test), fitted.predict_proba(test), atol=1e-5)
    np.testing.assert_allclose(loaded.embed(test), enc.encode(test), atol=1e-5)


def test_setfit_says_one_example_per_class_has_no_pairs(small_text, caplog):
    train, _ = small_text
    one = train.subset(np.array([np.flatnonzero(train.y == c)[0] for c in range(3)]))
    with caplog.at_level("WARNING", logger="scarce"):
        m = scarce.fit(one, method="setfit", seed=0, config={"steps": 2, "blocks": 1})
    assert "every class has one example" in caplog.text
    # walk 43: the batch of 32 asked for holds the 3 there are, each seen once a step
    assert m.fitted.meta["mean_batch"] == 3
    assert m.fitted.meta["passes_per_example"] == 2
    assert "layer_decay" not in caplog.text
    with caplog.at_level("WARNING", logger="scarce"):  # walk 36: as finetune says it
        scarce.fit(
            one, method="setfit", seed=0, config={"steps": 2, "blocks": 1, "layer_decay": 0.5}
        )
    assert "setfit: layer_decay slows each unit below the top one, but 1 unit(s)" in caplog.text
    # walk 34: 30 against 3 lost the small class (0.713 against the probe's 0.942 in bench)
    train, _ = small_text
    keep = np.concatenate([np.flatnonzero(train.y != 2), np.flatnonzero(train.y == 2)[:1]])
    with caplog.at_level("WARNING", logger="scarce"):
        scarce.fit(train.subset(keep), method="setfit", seed=0, config={"steps": 2, "blocks": 1})
    assert "setfit: the smallest class has 1 example(s) against 8 in the largest" in caplog.text


def test_knobs_beyond_the_encoder_are_capped_and_say_so(fortunes_data, caplog):
    """Walk 6: blocks=99 on MiniLM's 7 units was clipped without a word, and max_length=1000
    was recorded although the tokenizer cuts at 256."""
    train = _texts(fortunes_data, 2)
    with caplog.at_level("WARNING", logger="scarce"):
        fitted = _fit(train, blocks=99, epochs=1, early_stopping=False, max_length=1000)
    assert fitted.meta["blocks"] == len(fitted.net.units)
    assert "blocks=99 but minilm-l6 has 7 units; all 7 train" in caplog.text
    assert fitted.meta["max_tokens"] == 256
    assert "max_length=1000 but minilm-l6 reads at most 256 tokens" in caplog.text


def test_knobs_that_change_nothing_in_the_fit_say_so(fortunes_data, caplog):
    """Walk 34: train=gradual and layer_decay over the one unit K=4 trains gave bit-identical
    weights without a word."""
    data = _texts(fortunes_data, 2)
    quick = {"train": "gradual", "epochs": 1, "early_stopping": False}
    with caplog.at_level("WARNING", logger="scarce"):
        _fit(data, **quick, blocks=1, layer_decay=0.2, views=2)
    assert "train=gradual unfreezes one more unit" in caplog.text
    assert "layer_decay slows each unit below the top one, but 1 unit(s) train" in caplog.text
    assert "views counts augmented views" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="scarce"):
        _fit(data, blocks=2, layer_decay=0.2, **quick)
    assert "changes nothing" not in caplog.text
    assert "trains as train=last" not in caplog.text
    # walk 40: blocks beside train=head, and stopping knobs where nothing is validated
    caplog.clear()
    with caplog.at_level("WARNING", logger="scarce"):
        _fit(data, train="head", blocks=3, epochs=1, early_stopping=False, patience=1, keep="end")
    assert "train=head trains the head only, so blocks=3 changes nothing" in caplog.text
    assert (
        "patience, keep choose when to stop, but nothing is validated here "
        "(early_stopping=false): they change nothing" in caplog.text
    )
