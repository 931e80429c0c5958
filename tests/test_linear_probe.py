import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from scarce.methods.linear_probe import (
    PATIENCE,
    SINGLE_SHOT_C,
    LinearProbeConfig,
    _fit_lr,
    fit_logistic,
)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_projected_solution_equals_sklearn(n_classes):
    g = np.random.default_rng(0)
    x = g.normal(size=(30, 200)).astype(np.float32)
    y = np.arange(30) % n_classes
    coef, b = _fit_lr(x, y, n_classes, 0.5, None, 5000)
    ref = LogisticRegression(C=0.5, max_iter=5000, tol=1e-8).fit(x, y)
    logits = x @ coef.T + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(p, ref.predict_proba(x), atol=2e-3)


def test_class_weights_move_the_decision():
    g = np.random.default_rng(1)
    x = np.concatenate([g.normal(0, 1, (60, 5)), g.normal(1.0, 1, (6, 5))]).astype(np.float32)
    y = np.array([0] * 60 + [1] * 6)
    probe = x[60:]
    balanced = fit_logistic(x, y, 2, LinearProbeConfig(C=1.0, normalize="none"), seed=0)
    plain = fit_logistic(
        x, y, 2, LinearProbeConfig(C=1.0, normalize="none", class_weight="none"), seed=0
    )
    assert (
        balanced.predict_proba(probe)[:, 1].mean() > plain.predict_proba(probe)[:, 1].mean() + 0.1
    )


def test_cross_validation_picks_C_and_skips_when_impossible():
    g = np.random.default_rng(2)
    x = g.normal(size=(40, 8)).astype(np.float32)
    y = np.arange(40) % 2
    head = fit_logistic(x, y, 2, LinearProbeConfig(), seed=0)
    assert head.meta["C"] in LinearProbeConfig().Cs
    tried = [float(c) for c in head.meta["cv_log_loss"]]
    assert tried == sorted(LinearProbeConfig().Cs)[: len(tried)]  # a prefix, weakest C last
    best = min(head.meta["cv_log_loss"].values())
    after = tried[tried.index(head.meta["C"]) + 1 :]
    assert len(after) <= PATIENCE  # stopped once the loss rose PATIENCE times in a row
    assert head.meta["cv_log_loss"][repr(head.meta["C"])] == best
    one_shot = fit_logistic(x[:2], y[:2], 2, LinearProbeConfig(), seed=0)
    assert one_shot.meta["C"] == pytest.approx(SINGLE_SHOT_C, rel=1e-5)  # unit-length rows
    assert one_shot.meta["cv_log_loss"] == {}
