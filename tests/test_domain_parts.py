"""Domain adaptation, piece by piece: each part a method's paper names (the reversal
schedule, the kernels, the covariance term, entropy conditioning, class weights, the
trade-off, checkpoint choice, paired intervals) is checked on its own, on small numbers, so
that breaking one fails a fast test and not only a slow accuracy one (audit 27: mutants of
these survived the suite)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scarce.data.types import Inputs, LabeledSet, UnlabeledSet
from scarce.methods._domain import Batch


def _batch(progress: float, n: int = 16, d: int = 8, k: int = 3, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    f_s = torch.randn(n, d, generator=g, requires_grad=True)
    f_t = (torch.randn(n, d, generator=g) + 1).requires_grad_(True)
    logits_s = torch.randn(n, k, generator=g) * 3
    logits_t = torch.randn(n, k, generator=g) * 0.1
    return Batch(f_s, f_t, logits_s, logits_t, progress)


@pytest.mark.parametrize("name", ["dann", "cdan"])
def test_adversarial_methods_follow_the_reversal_schedule(name):
    """D03: at progress 0 the reversed gradient reaching the features is exactly 0; later it
    points against the discriminator's gradient."""
    from scarce.methods import methods

    spec = methods.get(name)
    m = spec.method(spec.config(), None)
    torch.manual_seed(0)
    module = m.transfer_module(8, 3, 0)
    (module.disc if name == "cdan" else module).eval()  # no dropout: passes comparable
    b0 = _batch(0.0)
    m.transfer_loss(b0, module).backward()
    assert float(b0.f_s.grad.abs().sum()) == 0.0
    b1 = _batch(1.0)
    m.transfer_loss(b1, module).backward()
    assert float(b1.f_s.grad.abs().sum()) > 0.0
    # the features' gradient is minus the coefficient times the plain one
    b2 = _batch(0.5)
    f = torch.cat([b2.f_s, b2.f_t]).detach().requires_grad_(True)
    from scarce.methods.dann import grl_coefficient

    if name == "dann":
        from scarce.methods.dann import domain_loss

        domain_loss(module, f[:16], f[16:]).backward()
        m.transfer_loss(b2, module).backward()
        torch.testing.assert_close(b2.f_s.grad, -grl_coefficient(0.5) * f.grad[:16])


def test_cdan_entropy_conditioning_weighs_confident_examples_more(monkeypatch):
    """D11: with entropy=True the discriminator's loss is weighted by 1 + exp(-H)."""
    from scarce.methods import cdan, methods

    seen = []
    real = cdan.domain_loss
    monkeypatch.setattr(cdan, "domain_loss", lambda *a: seen.append(a[3:]) or real(*a))
    spec = methods.get("cdan")
    for entropy in (True, False):
        m = spec.method(spec.config.from_dict({"entropy": entropy}), None)
        m.transfer_loss(_batch(1.0), m.transfer_module(8, 3, 0))
    (w_s, _), (n_s, n_t) = seen
    assert n_s is None
    assert n_t is None
    # source logits are confident (x3), target ones nearly uniform: mean 1 per domain, and
    # the most confident source example outweighs the least confident
    assert float(w_s.mean()) == pytest.approx(1.0, abs=1e-5)
    b = _batch(1.0)
    p = torch.softmax(b.logits_s, 1)
    h = -(p * torch.log(p)).sum(1)
    assert float(w_s[h.argmin()]) > float(w_s[h.argmax()]) + 0.1


def test_mk_mmd_is_the_five_kernel_sum_around_the_mean_distance():
    """D05 (and D07): the multi-kernel value against a numpy reference."""
    from scarce.methods.mmd import mk_mmd

    g = np.random.default_rng(0)
    x, y = g.normal(size=(20, 4)), g.normal(size=(20, 4)) * 2 + 1
    z = np.concatenate([x, y])
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
    base = d2.sum() / (len(z) ** 2 - len(z))
    k = sum(np.exp(-d2 / (base * 2.0 ** (i - 2))) for i in range(5))
    want = k[:20, :20].mean() + k[20:, 20:].mean() - 2 * k[:20, 20:].mean()
    got = float(mk_mmd(torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)))
    assert got == pytest.approx(want, rel=1e-6)
    one = float(mk_mmd(torch.tensor(x), torch.tensor(y), kernels=1))
    assert abs(one - got) > 1e-3  # the knob reaches the kernel sum


def test_coral_sees_covariance_with_equal_means():
    """D10 / D08: a batch and its per-dimension rescaling, both centred: the means agree, the
    covariances do not, and the loss is ||C_s - C_t||_F^2 / (4 d^2)."""
    from scarce.methods.coral import coral_loss

    g = torch.Generator().manual_seed(0)
    a = torch.randn(256, 8, generator=g, dtype=torch.float64)
    a = a - a.mean(0)
    b = a * torch.linspace(0.5, 3, 8, dtype=torch.float64)
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    want = float(((ca - cb) ** 2).sum() / (4 * 64))
    assert float(coral_loss(a, b)) == pytest.approx(want, rel=1e-6)
    assert want > 0.05


def test_importance_weights_favour_source_examples_that_look_like_the_target():
    """D24: p(target|x)/p(source|x) rises toward the target."""
    from scarce.methods._domain import _importance_weights

    g = np.random.default_rng(0)
    xs = g.normal(size=(300, 2))
    xt = g.normal(size=(300, 2)) + np.array([1.5, 0])
    xv = np.stack([np.linspace(-1, 2, 20), np.zeros(20)], 1)
    w, coverage = _importance_weights(xs, xt, xv, 0)
    assert all(np.diff(w) >= 0), w
    assert w[-1] > 5 * w[0], w
    assert 0.3 < coverage < 3  # overlapping domains: the source covers the target
    far = xt + np.array([0, 30])  # told apart at once: no source example looks like these
    assert _importance_weights(xs, far, xv, 0)[1] < 0.01


class _FakeEncoder:
    """Features without a network: what the domain machinery needs of an encoder."""

    def __init__(self, feats: dict[str, np.ndarray]) -> None:
        self.feats = feats

    def encode(self, inputs, desc=None):
        return np.stack([self.feats[t] for t in inputs.items]).astype(np.float32)


def test_domain_checkpoint_is_the_one_the_criterion_scores_best(monkeypatch):
    """D17: the unsupervised/source criterion chooses the checkpoint, not 'always the last'."""
    from scarce.methods import _domain, methods

    g = np.random.default_rng(0)
    src = [f"s{i}" for i in range(60)]
    tgt = [f"t{i}" for i in range(40)]
    y = np.repeat(np.arange(3), 20)
    feats = {t: g.normal(size=6) + (y[i] if t.startswith("s") else 0) for i, t in enumerate(src)}
    feats |= {t: g.normal(size=6) + 0.5 for t in tgt}
    source = LabeledSet(Inputs.from_texts(src), y, ("a", "b", "c"))
    accs = iter([0.5, 0.9, 0.6, 0.6, 0.6])
    monkeypatch.setattr(
        _domain,
        "_estimates",
        lambda *a: {"source_val_accuracy": next(accs), "source_val_loss": 1.0},
    )
    spec = methods.get("mcc")
    cfg = spec.config.from_dict(
        {"steps": 50, "eval_every": 10, "select": "source", "trade_off": 1.0, "refit": False}
    )
    fitted = spec.method(cfg, _FakeEncoder(feats)).fit_domain(
        source, UnlabeledSet(Inputs.from_texts(tgt)), seed=0
    )
    sel = fitted.meta["selection"]
    assert sel["criterion"] == "source"
    assert sel["step"] == 20
    assert sel["estimates"]["source_val_accuracy"] == 0.9


def test_fit_domain_refuses_labeled_target_classes_the_source_lacks():
    """D19: the Python/CLI fit path (not only evaluate) checks that the domains share classes."""
    from scarce.core.errors import DataError
    from scarce.methods import methods

    src = [f"s{i}" for i in range(30)]
    source = LabeledSet(Inputs.from_texts(src), np.repeat(np.arange(3), 10), ("a", "b", "c"))
    lt = LabeledSet(Inputs.from_texts(["x1", "x2"]), np.array([0, 1]), ("a", "zebra"))
    spec = methods.get("source-only")
    enc = _FakeEncoder({t: np.zeros(4) for t in [*src, "x1", "x2"]})
    with pytest.raises(DataError, match="share classes"):
        spec.method(spec.config(), enc).fit_domain(
            source, UnlabeledSet(Inputs.from_texts(["x1"])), labeled_target=lt, seed=0
        )


def _domain_results(per_repeat: list[dict[str, np.ndarray]]) -> dict:
    """What `scarce eval --protocol domain` assembles from runs whose per-item correctness
    (one array per method and repeat, on shared test items) is given."""
    from scarce.evaluation.runner import _assemble
    from scarce.methods import methods

    n = len(per_repeat[0]["source-only"])
    g = np.random.default_rng(0)
    pool = LabeledSet(
        Inputs.from_texts([f"t{i}" for i in range(n)]), g.integers(0, 2, n), ("0", "1")
    )
    runs = [
        {
            "method": m,
            "shots": 0,
            "repeat": r,
            "fold": None,
            "metrics": {"accuracy": float(c.mean())},
            "_items": (np.arange(n), {"accuracy": c}),
        }
        for r, correct in enumerate(per_repeat)
        for m, c in correct.items()
    ]
    names = ["source-only", "mcc"]
    specs = {m: methods.get(m) for m in names}
    cfgs = {m: specs[m].config() for m in names}
    return _assemble(
        pool, None, names, specs, cfgs, None, runs, "domain", [0], len(per_repeat), 1, 0, "t",
        0.95, reference="source-only",
    )  # fmt: skip


def test_negative_transfer_is_flagged_for_a_domain_method_below_source_only():
    """D20: in --protocol domain, an adapted method clearly below source-only is flagged."""
    g = np.random.default_rng(0)
    res = _domain_results(
        [{m: (g.random(200) < q).astype(float) for m, q in (("source-only", 0.8), ("mcc", 0.55))}
         for _ in range(5)]
    )  # fmt: skip
    row = next(p for p in res["paired"] if p["method"] == "mcc" and p["metric"] == "accuracy")
    assert row["verdict"] == "worse"
    assert [f["method"] for f in res["negative_transfer"]] == ["mcc"]


def test_domain_paired_interval_is_on_the_paired_difference():
    """D22: a gain of 10 items in every repeat, on repeats of very different difficulty, is
    'better' with a narrow interval; without pairing it drowns in the repeats' spread."""
    g = np.random.default_rng(0)
    per_repeat = []
    for q in [0.5, 0.8, 0.6, 0.75, 0.55]:
        cb = (g.random(400) < q).astype(float)
        ca = cb.copy()
        ca[np.flatnonzero(cb == 0)[:10]] = 1.0
        per_repeat.append({"source-only": cb, "mcc": ca})
    res = _domain_results(per_repeat)
    row = next(p for p in res["paired"] if p["method"] == "mcc" and p["metric"] == "accuracy")
    assert abs(row["mean"] - 0.025) < 1e-9
    assert row["verdict"] == "better"
    assert row["high"] - row["low"] < 0.05


def test_domain_source_loss_weighs_classes_by_inverse_frequency(monkeypatch):
    """D23: a skewed source does not teach the head its class balance."""
    g = np.random.default_rng(0)
    src = [f"s{i}" for i in range(45)]
    y = np.repeat(np.arange(3), [20, 20, 5])
    feats = {t: g.normal(size=4) for t in src} | {f"t{i}": g.normal(size=4) for i in range(30)}
    source = LabeledSet(Inputs.from_texts(src), y, ("a", "b", "c"))
    seen = []
    real = torch.nn.functional.cross_entropy
    monkeypatch.setattr(
        torch.nn.functional,
        "cross_entropy",
        lambda *a, weight=None, **k: seen.append(weight) or real(*a, weight=weight, **k),
    )
    from scarce.methods import methods

    spec = methods.get("source-only")
    cfg = spec.config.from_dict({"steps": 2, "refit": False, "val_fraction": 0.0})
    spec.method(cfg, _FakeEncoder(feats)).fit_domain(
        source, UnlabeledSet(Inputs.from_texts([f"t{i}" for i in range(30)])), seed=0
    )
    w = seen[0]
    assert w is not None
    assert float(w[2] / w[0]) == pytest.approx(4.0)


def test_the_trade_off_weighs_the_transfer_loss():
    """D25: trade_off 0 and 3 train different models (same seed, same data)."""
    from scarce.methods import methods

    g = np.random.default_rng(0)
    src = [f"s{i}" for i in range(60)]
    tgt = [f"t{i}" for i in range(40)]
    y = np.repeat(np.arange(3), 20)
    feats = {t: g.normal(size=6) + y[i] for i, t in enumerate(src)}
    feats |= {t: g.normal(size=6) * 2 + 1 for t in tgt}
    source = LabeledSet(Inputs.from_texts(src), y, ("a", "b", "c"))
    spec = methods.get("mmd")
    out = []
    for lam in (0.0, 3.0):
        cfg = spec.config.from_dict({"steps": 30, "trade_off": lam, "refit": False, "dropout": 0.0})
        out.append(
            spec.method(cfg, _FakeEncoder(feats))
            .fit_domain(source, UnlabeledSet(Inputs.from_texts(tgt)), seed=0)
            .tensors["w1"]
        )
    assert np.abs(out[0] - out[1]).max() > 1e-4


def _texts(labels: list[str], classes: tuple[str, ...], source: str) -> LabeledSet:
    texts = [f"text {i}" for i in range(len(labels))]
    y = np.array([classes.index(c) for c in labels])
    return LabeledSet(Inputs.from_texts(texts), y, classes, source)


def test_target_labels_are_checked_against_the_source_classes(caplog):
    """Walk 26: a case variant was listed as unknown without a word about the case; a
    missing source class was warned twice (fit and fit_domain), or never (a class list
    that still named it)."""
    from scarce.core.errors import DataError
    from scarce.data.validate import align_domains

    source = _texts(["games", "fonts", "games", "fonts"], ("fonts", "games"), "src.csv")
    bad = _texts(["Games", "fonts"], ("Games", "fonts"), "lt.csv")
    with pytest.raises(DataError, match="'Games' is not 'games': they differ in letter case"):
        align_domains(bad, source)
    # 'extra' is named in the class list but labels nothing: not an unknown label
    few = _texts(["fonts", "fonts"], ("extra", "fonts", "games"), "lt.csv")
    with caplog.at_level("WARNING", logger="scarce"):
        aligned = align_domains(few, source)
    assert aligned.classes == source.classes
    assert [aligned.classes[i] for i in aligned.y] == ["fonts", "fonts"]
    assert caplog.text.count("source class(es) 'games' have no labeled target example") == 1


def test_an_unlabeled_set_of_copies_is_pointed_out(caplog):
    """Walk 26: a target file holding 6 distinct lines 360 times adapted without a word."""
    from scarce.data.validate import warn_copies

    names = ["games", "sound", "fonts", "games", "sound", "fonts"] * 60
    copies = UnlabeledSet(Inputs.from_texts(names), "target.txt")
    varied = UnlabeledSet(Inputs.from_texts([f"text {i}" for i in range(50)] * 1), "ok.txt")
    with caplog.at_level("WARNING", logger="scarce"):
        assert warn_copies(varied, "the target DATA") == 0
        assert caplog.text == ""
        assert warn_copies(copies, "the target DATA") == 357
    assert "the target DATA (target.txt): 357 of its 360 inputs are copies" in caplog.text
    assert "(3 distinct)" in caplog.text
