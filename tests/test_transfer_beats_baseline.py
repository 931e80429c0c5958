"""linear-probe beats the from-scratch baseline at 8 examples per class, over 5 seeds, on
real data: Fashion-MNIST (10 classes) and fortunes quotes (6 categories)."""

from __future__ import annotations

import numpy as np
import pytest

from scarce.data.types import Inputs, LabeledSet
from scarce.encoders import create_encoder
from scarce.evaluation.intervals import t_interval
from scarce.methods import methods

SEEDS = range(5)
K = 8


def paired_gains(pool: LabeledSet, test: LabeledSet, backbone: str) -> tuple[list, list]:
    spec = methods.get("linear-probe")
    enc = create_encoder(backbone)
    lp_acc, base_acc = [], []
    for seed in SEEDS:
        g = np.random.default_rng(seed)
        idx = np.concatenate(
            [
                g.choice(np.flatnonzero(pool.y == c), K, replace=False)
                for c in range(len(pool.classes))
            ]
        )
        train = pool.subset(idx)
        lp = spec.method(spec.config(), enc).fit(train, seed=seed)
        base_spec = methods.get("baseline")
        base = base_spec.method(base_spec.config(), None).fit(train, seed=seed)
        lp_acc.append(float((lp.predict_proba(test.inputs).argmax(1) == test.y).mean()))
        base_acc.append(float((base.predict_proba(test.inputs).argmax(1) == test.y).mean()))
    return lp_acc, base_acc


def check(lp: list, base: list, chance: float) -> None:
    gain = t_interval(np.subtract(lp, base))
    assert np.mean(lp) > chance + 0.2
    assert gain.low > 0, f"linear-probe {np.mean(lp):.3f} vs baseline {np.mean(base):.3f}: {gain}"


@pytest.mark.slow
def test_fashion_mnist(fashion):
    x, y, xt, yt = fashion
    classes = tuple(str(c) for c in range(10))
    pool = LabeledSet(Inputs.from_images(list(x[:3000])), y[:3000], classes)
    t = np.random.default_rng(123).choice(len(xt), 500, replace=False)
    test = LabeledSet(Inputs.from_images(list(xt[t])), yt[t], classes)
    check(*paired_gains(pool, test, "efficientnet-lite0"), chance=0.1)


@pytest.mark.slow
def test_fortunes(fortunes_data):
    texts, labels = fortunes_data
    classes = tuple(sorted(set(labels)))
    y = np.array([classes.index(lab) for lab in labels])
    g = np.random.default_rng(7)
    test_idx = np.concatenate(
        [g.choice(np.flatnonzero(y == c), 50, replace=False) for c in range(len(classes))]
    )
    rest = np.setdiff1d(np.arange(len(y)), test_idx)
    pool = LabeledSet(Inputs.from_texts([texts[i] for i in rest]), y[rest], classes)
    test = LabeledSet(Inputs.from_texts([texts[i] for i in test_idx]), y[test_idx], classes)
    check(*paired_gains(pool, test, "minilm-l6"), chance=1 / 6)
