"""finetune and setfit, knob by knob: each knob `scarce methods` lists reaches training
(class weights and the balanced sampler each on their own, augmentation, layer-wise rates,
the schedule, the per-budget defaults, gradual unfreezing, the lambda search, max_length,
the frozen-state cache, setfit's head, depth and L2-SP) (audit 27: mutants of these survived
the suite)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import scarce
from scarce.data.types import Inputs, LabeledSet
from scarce.encoders import create_encoder
from scarce.methods.finetune import Finetune, FinetuneConfig
from tests.test_finetune import _distance

CLASSES = ("science", "food", "sports")


def _texts(fortunes_data, counts, offset=0) -> LabeledSet:
    texts, labels = fortunes_data
    g = np.random.default_rng(0)
    items = []
    for k, c in enumerate(CLASSES):
        idx = g.permutation([i for i, lab in enumerate(labels) if lab == c])
        items += [(texts[i], k) for i in idx[offset : offset + counts[k]]]
    return LabeledSet(
        Inputs.from_texts([t for t, _ in items]), np.array([k for _, k in items]), CLASSES
    )


def test_layer_wise_learning_rates():
    """F15: the top unit gets lr, each unit below `decay` times the one above; the head its
    own rate and the only weight decay."""
    from scarce.methods._tuning import LinearHead, param_groups

    net = torch.nn.Module()
    net.units = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(5)])
    head = LinearHead(np.zeros((3, 2)), np.zeros(3), np.zeros(2))
    groups = param_groups(net, 2, 1e-3, 0.5, head, 1e-2, 1e-4)
    assert [g["lr"] for g in groups] == pytest.approx([2.5e-4, 5e-4, 1e-3, 1e-2])
    assert [g["weight_decay"] for g in groups] == [0.0, 0.0, 0.0, 1e-4]


def test_warmup_then_cosine():
    """F16: linear warm-up to the full rate, then cosine decay to zero."""
    from scarce.methods._tuning import schedule, warmup_cosine

    f = [warmup_cosine(s, 100, 0.1) for s in range(100)]
    assert f[0] == pytest.approx(0.1)
    assert f[9] == pytest.approx(1.0)
    assert all(a < b for a, b in itertools.pairwise(f[:10]))  # rising
    assert all(a > b for a, b in itertools.pairwise(f[10:]))  # falling
    assert f[-1] < 0.01
    assert f[55] == pytest.approx(0.5, abs=0.02)
    opt = torch.optim.SGD(
        [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 1.0, "initial_lr": 2.0}]
    )
    schedule(opt, 99, 100, 0.1)
    assert opt.param_groups[0]["lr"] == pytest.approx(2.0 * f[-1])


@pytest.mark.parametrize(
    ("k", "modality", "want"),
    [
        (1, "image", {"blocks": 1, "epochs": 10, "l2sp": 0.03, "lr": 3e-4, "keep": "best"}),
        (16, "image", {"blocks": 2, "epochs": 15, "l2sp": 0.01, "lr": 3e-4, "keep": "best"}),
        (20, "image", {"blocks": 6, "epochs": 20, "l2sp": 3e-3, "lr": 1e-3, "keep": "end"}),
        (4, "text", {"blocks": 1, "epochs": 10, "l2sp": 0.03, "lr": 1e-4, "keep": "best"}),
        (64, "text", {"blocks": 3, "epochs": 20, "l2sp": 3e-3, "lr": 1e-4, "keep": "end"}),
    ],
)
def test_defaults_follow_the_shot_count(k, modality, want):
    """F20: the documented per-budget defaults (FinetuneConfig.help) are the ones used."""
    from scarce.methods.finetune import FinetuneConfig, shot_defaults

    assert shot_defaults(FinetuneConfig(), k, modality) == want
    # a flag the user sets wins
    assert shot_defaults(FinetuneConfig(epochs=3, l2sp=0.0), k, modality)["epochs"] == 3


def test_augmented_views_are_what_training_sees(fashion, monkeypatch):
    """F12/F13: with augment on, about views/(views+1) of the training examples drawn are
    augmented views (none at prediction: test_augmentation_is_random_in_training_...)."""
    from scarce.methods import finetune

    x, y, _, _ = fashion
    keep = np.concatenate([np.flatnonzero(y == c)[:4] for c in (0, 1)])
    train = LabeledSet(Inputs.from_images(list(x[keep])), (y[keep] == 1).astype(int), ("0", "1"))
    drawn = []
    real = finetune._Data.pick

    def spy(self, idx, rng):
        out = real(self, idx, rng)
        clean = {id(s) for s in self.clean}
        drawn.extend(id(s) not in clean for s in out)
        return out

    monkeypatch.setattr(finetune._Data, "pick", spy)
    cfg = FinetuneConfig(blocks=1, epochs=3, views=2, early_stopping=False, augment=True)
    Finetune(cfg, create_encoder("efficientnet-lite0")).fit(train, seed=0)
    assert len(drawn) == 24
    assert 0.4 < np.mean(drawn) < 0.9  # 2 of 3 expected


@pytest.mark.parametrize("imbalance", ["weighted-loss", "balanced-sampler"])
def test_each_imbalance_knob_acts_on_its_own(fortunes_data, monkeypatch, imbalance):
    """F07/F09: weighted-loss weighs the loss by inverse frequency; balanced-sampler draws the
    classes alike. (test_class_weights_move_the_decision passes with either one removed: the
    LP-FT head is already class-balanced.)"""
    from scarce.methods import _tuning

    train = _texts(fortunes_data, [24, 24, 3])
    weights, drawn = [], []
    real_ce, real_batches = torch.nn.CrossEntropyLoss, _tuning.batches
    monkeypatch.setattr(
        torch.nn,
        "CrossEntropyLoss",
        lambda weight=None: weights.append(weight) or real_ce(weight=weight),
    )
    monkeypatch.setattr(
        _tuning, "batches", lambda *a: (drawn.extend(b.tolist()) or b for b in real_batches(*a))
    )
    cfg = FinetuneConfig(blocks=1, epochs=4, early_stopping=False, imbalance=imbalance)
    Finetune(cfg, create_encoder("minilm-l6")).fit(train, seed=0)
    minority = np.mean(train.y[drawn] == 2)
    if imbalance == "weighted-loss":
        (w,) = weights
        assert float(w[2] / w[0]) == pytest.approx(8.0)
        assert minority < 0.15  # plain shuffles
    else:
        assert weights == [None]
        assert 0.2 < minority < 0.5  # 1/3 expected; a shuffle gives 3/51


def test_gradual_unfreezing_adds_one_unit_at_a_time(fortunes_data, monkeypatch):
    """F28: train='gradual' starts with the top unit and unfreezes downward to `blocks`."""
    from scarce.methods import _tuning

    firsts = []
    real = _tuning.set_trainable
    monkeypatch.setattr(
        _tuning, "set_trainable", lambda net, first: firsts.append(first) or real(net, first)
    )
    cfg = FinetuneConfig(train="gradual", blocks=3, epochs=6, early_stopping=False)
    fitted = Finetune(cfg, create_encoder("minilm-l6")).fit(
        _texts(fortunes_data, [4, 4, 4]), seed=0
    )
    n = len(fitted.net.units)
    per_epoch = firsts[1:-1]  # after the initial set_trainable, before the final freeze
    assert per_epoch[0] == n - 1
    assert per_epoch[-1] == n - 3
    assert per_epoch == sorted(per_epoch, reverse=True)


def test_l2sp_search_fits_each_lambda(fortunes_data, monkeypatch):
    """F29: with held-out labels each lambda of l2sp_search trains its own model."""
    from scarce.methods import _tuning

    lams = []
    real = _tuning.L2SP
    monkeypatch.setattr(_tuning, "L2SP", lambda params, lam: lams.append(lam) or real(params, lam))
    cfg = FinetuneConfig(blocks=1, epochs=1, l2sp_search=(0.0, 10.0), min_held_out=1, refit=False)
    fitted = Finetune(cfg, create_encoder("minilm-l6")).fit(
        _texts(fortunes_data, [10, 10, 10]), seed=0
    )
    assert lams == [0.0, 10.0]
    assert fitted.meta["l2sp"] in (0.0, 10.0)
    assert fitted.meta["l2sp_searched"]


def test_l2sp_search_on_the_folds_keeps_the_lambda_they_score_best(fortunes_data, monkeypatch):
    """Walk 28: with too few labels to hold out, l2sp_search was dropped; the two folds that
    choose the epoch count now choose lambda as well, and the final fit uses theirs."""
    from scarce.methods import _tuning
    from scarce.methods import finetune as F

    real = F.Finetune._epochs_by_folds
    lams = []

    def scored(self, probe, train, first, aug, d, mode, seed):  # lambda 10 scores best
        lams.append(d["l2sp"])
        best, acc, err, _ = real(self, probe, train, first, aug, d, mode, seed)
        return best, acc, err, ((0.0, 0.0) if d["l2sp"] == 10.0 else (0.9, 9.0))

    monkeypatch.setattr(F.Finetune, "_epochs_by_folds", scored)
    final = []
    real_l2sp = _tuning.L2SP
    monkeypatch.setattr(_tuning, "L2SP", lambda p, lam: final.append(lam) or real_l2sp(p, lam))
    cfg = FinetuneConfig(blocks=1, epochs=1, l2sp_search=(0.0, 10.0, 1.0))
    fitted = Finetune(cfg, create_encoder("minilm-l6")).fit(
        _texts(fortunes_data, [3, 3, 3]), seed=0
    )
    assert lams == [0.0, 10.0, 1.0]
    assert fitted.meta["l2sp"] == 10.0
    assert final[-1] == 10.0  # the model on all labels trained with the chosen lambda
    assert fitted.meta["l2sp_searched"]


def test_max_length_cuts_the_tokens(fortunes_data):
    """F31: max_tokens reaches the token batches: long texts embed differently at 8 tokens."""
    from scarce.methods._tuning import embed_states, prefix_states

    texts = sorted(fortunes_data[0], key=len)[-5:]
    enc = create_encoder("minilm-l6")
    net = enc.staged()
    with torch.inference_mode():
        short = embed_states(net, prefix_states(net, enc, texts, None, 1, max_tokens=8), 1)
        full = embed_states(net, prefix_states(net, enc, texts, None, 1, max_tokens=256), 1)
    assert float((short - full).abs().max()) > 1e-2


def test_a_second_fit_on_the_same_texts_runs_no_frozen_unit(fortunes_data, monkeypatch):
    """F17: frozen units' outputs are cached across fits (the CPU-speed claim)."""
    from scarce.methods.finetune import Finetune, FinetuneConfig

    train = _texts(fortunes_data, [6, 6, 6], offset=100)
    enc = create_encoder("minilm-l6")
    cfg = FinetuneConfig(blocks=1, epochs=1, early_stopping=False)
    Finetune(cfg, enc).fit(train, seed=0)
    calls = []
    real = enc.prepare
    monkeypatch.setattr(enc, "prepare", lambda items: calls.append(len(items)) or real(items))
    Finetune(cfg, enc).fit(train, seed=1)
    assert calls == []  # every frozen state came from the cache


def test_setfit_head_reads_the_tuned_embeddings(fortunes_data, monkeypatch):
    """F24: the head is fitted on the embeddings of the fine-tuned encoder."""
    import scarce
    from scarce.methods import setfit

    train = _texts(fortunes_data, [8, 8, 8])
    seen = []
    real = setfit.fit_logistic
    monkeypatch.setattr(
        setfit, "fit_logistic", lambda emb, *a, **k: seen.append(emb) or real(emb, *a, **k)
    )
    model = scarce.fit(
        train,
        method="setfit",
        seed=0,
        config={"steps": 10, "batch_size": 16, "blocks": 1, "lr": 1e-3},
    )
    tuned = model.fitted.embed(train.inputs)
    # the last head fit is the one on the tuned embeddings (on unequal classes a probe on
    # the untuned ones comes first, for the logit adjustment)
    np.testing.assert_allclose(seen[-1], tuned, atol=1e-4)
    frozen = create_encoder("minilm-l6").encode(train.inputs)
    assert np.abs(seen[-1] - frozen).max() > 1e-2  # the encoder did change


def test_setfit_l2sp_keeps_weights_nearer_their_start(fortunes_data):
    """F32."""
    train = _texts(fortunes_data, [8, 8, 8])
    common = {"steps": 10, "batch_size": 16, "blocks": 1, "lr": 1e-3}
    free = _distance(
        scarce.fit(train, method="setfit", seed=0, config={**common, "l2sp": 0.0}).fitted
    )
    held = _distance(
        scarce.fit(train, method="setfit", seed=0, config={**common, "l2sp": 10.0}).fitted
    )
    assert 0 < held < 0.5 * free


def test_setfit_default_trains_every_transformer_layer(fortunes_data):
    """F33: the default (documented: every layer, token embeddings frozen)."""
    model = scarce.fit(
        _texts(fortunes_data, [4, 4, 4]), method="setfit", seed=0, config={"steps": 1}
    )
    n = len(model.fitted.net.units)
    assert model.fitted.meta["blocks"] == n - 1
    assert model.fitted.first == 1


def test_the_probes_logit_adjustment_survives_fine_tuning(fortunes_data):
    """walk 25: on 30:4:4 the fine-tuned head answered the large class far more often than
    the linear probe it started from: the class-weighted loss trained the probe's prior
    shift away. The shift now stays a fixed offset outside training."""
    from scarce.methods.linear_probe import LinearProbeConfig, fit_logistic

    train = _texts(fortunes_data, [30, 4, 4])
    test = _texts(fortunes_data, [30, 30, 30], offset=40)
    enc = create_encoder("minilm-l6")
    cfg = FinetuneConfig(train="head", epochs=20, early_stopping=False, head_lr=0.05)
    tuned = Finetune(cfg, enc).fit(train, seed=0)
    probe = fit_logistic(enc.encode(train.inputs), train.y, 3, LinearProbeConfig(), seed=0)
    big_tuned = int((tuned.predict_proba(test.inputs).argmax(1) == 0).sum())
    big_probe = int((probe.predict_proba(enc.encode(test.inputs)).argmax(1) == 0).sum())
    assert probe.meta["prior_shift"] > 0
    assert big_tuned <= big_probe + 5, (big_tuned, big_probe)


def test_only_the_trained_units_and_the_head_reach_the_optimizer(fortunes_data, monkeypatch):
    """audit 27 (F01): frozen units handed to the optimizer went unnoticed, since their cached
    outputs carry no gradient; the optimizer must hold the top `blocks` units and the head."""
    groups = []
    real = torch.optim.AdamW
    monkeypatch.setattr(torch.optim, "AdamW", lambda g, **k: groups.append(g) or real(g, **k))
    cfg = FinetuneConfig(blocks=2, epochs=1, early_stopping=False)
    fitted = Finetune(cfg, create_encoder("minilm-l6")).fit(
        _texts(fortunes_data, [4, 4, 4]), seed=0
    )
    held = {id(p) for g in groups[0] for p in g["params"]}
    units = fitted.net.units
    top = {id(p) for u in units[len(units) - 2 :] for p in u.parameters()}
    below = {id(p) for u in units[: len(units) - 2] for p in u.parameters()}
    assert top <= held
    assert not below & held
    assert len(held - top) == 2  # the head's weight and bias


def test_setfit_keeps_the_probes_logit_adjustment_on_unequal_classes(fortunes_data):
    """walk 26: setfit's head chose its prior shift on folds the tuned encoder had learned,
    found none needed, and answered the large class for 31% of a balanced test (17% share;
    the probe 16%). The shift now comes from the probe on the untuned embeddings."""
    from scarce.methods.linear_probe import LinearProbeConfig, fit_logistic
    from scarce.methods.setfit import SetFit, SetFitConfig

    train = _texts(fortunes_data, [30, 4, 4])
    test = _texts(fortunes_data, [30, 30, 30], offset=40)
    enc = create_encoder("minilm-l6")
    fitted = SetFit(SetFitConfig(steps=20), enc).fit(train, seed=0)
    probe = fit_logistic(enc.encode(train.inputs), train.y, 3, LinearProbeConfig(), seed=0)
    assert abs(fitted.meta["prior_shift"] - probe.meta["prior_shift"]) <= 0.25  # torch vs ORT
    assert fitted.meta["prior_shift"] > 0
    big = int((fitted.predict_proba(test.inputs).argmax(1) == 0).sum())
    big_probe = int((probe.predict_proba(enc.encode(test.inputs)).argmax(1) == 0).sum())
    assert big <= big_probe + 5, (big, big_probe)
