"""Linear probe: frozen encoder features + L2-regularized multinomial logistic regression.

The standard transfer baseline (e.g. Kornblith et al., "Do Better ImageNet Models Transfer
Better?", CVPR 2019). The regularization strength is chosen by stratified cross-validation
on log-loss when every class has at least two examples.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, ClassVar, Literal

import numpy as np

from scarce.core.config import Config, check_range
from scarce.data.types import Inputs, LabeledSet, UnlabeledSet
from scarce.encoders.base import Encoder
from scarce.methods.base import MethodSpec, State, register_method, softmax

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LinearProbeConfig(Config):
    C: float | None = None
    Cs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    folds: int = 5
    class_weight: Literal["balanced", "none"] = "balanced"
    normalize: Literal["l2", "standard", "none"] = "l2"
    max_iter: int = 2000

    help: ClassVar[dict[str, str]] = {
        "C": "inverse L2 strength; None = choose from Cs by cross-validation",
        "Cs": "grid searched by cross-validation when C is None",
        "folds": "cross-validation folds (fewer when a class has fewer examples)",
        "class_weight": "'balanced' weighs classes inversely to their frequency",
        "normalize": "l2: unit-length features (robust at 1 shot); standard: z-scores from train",
        "max_iter": "L-BFGS iterations",
    }

    def check(self) -> None:
        if self.C is not None:
            check_range("linear-probe", "C", self.C, 1e-8)
        if not self.Cs or min(self.Cs) <= 0:
            check_range("linear-probe", "Cs", min(self.Cs or (0,)), 1e-8)
        check_range("linear-probe", "folds", self.folds, 2, 20)
        check_range("linear-probe", "max_iter", self.max_iter, 10)


class LinearProbeFitted:
    def __init__(self, encoder: Encoder, classes: tuple[str, ...], head: LogisticHead) -> None:
        self.encoder = encoder
        self.classes = classes
        self.head = head

    def predict_proba(self, inputs: Inputs) -> np.ndarray:
        return self.head.predict_proba(self.encoder.encode(inputs))

    def state(self) -> State:
        return self.head.tensors(), dict(self.head.meta)

    @classmethod
    def from_state(
        cls,
        tensors: dict[str, np.ndarray],
        meta: dict[str, Any],
        encoder: Encoder,
        classes: tuple[str, ...],
    ) -> LinearProbeFitted:
        return cls(encoder, classes, LogisticHead.from_tensors(tensors, meta))


class LinearProbe:
    spec: MethodSpec

    def __init__(self, config: LinearProbeConfig, encoder: Encoder) -> None:
        self.config = config
        self.encoder = encoder

    def fit(
        self,
        train: LabeledSet,
        *,
        unlabeled: UnlabeledSet | None = None,
        val: LabeledSet | None = None,
        seed: int,
    ) -> LinearProbeFitted:
        feats = self.encoder.encode(train.inputs, desc="encoding training data")
        return self.fit_features(feats, train.y, train.classes, seed=seed)

    def fit_features(
        self, feats: np.ndarray, y: np.ndarray, classes: tuple[str, ...], *, seed: int
    ) -> LinearProbeFitted:
        head = fit_logistic(feats, y, len(classes), self.config, seed=seed)
        return LinearProbeFitted(self.encoder, classes, head)


class LogisticHead:
    """Feature scaling + a softmax-linear layer, as plain arrays."""

    def __init__(
        self,
        coef: np.ndarray,
        intercept: np.ndarray,
        shift: np.ndarray,
        scale: np.ndarray,
        meta: dict[str, Any],
    ) -> None:
        self.coef, self.intercept, self.shift, self.scale, self.meta = (
            coef,
            intercept,
            shift,
            scale,
            meta,
        )

    def tensors(self) -> dict[str, np.ndarray]:
        return {
            "coef": self.coef,
            "intercept": self.intercept,
            "shift": self.shift,
            "scale": self.scale,
        }

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> LogisticHead:
        return cls(tensors["coef"], tensors["intercept"], tensors["shift"], tensors["scale"], meta)

    def predict_proba(self, feats: np.ndarray) -> np.ndarray:
        x = _transform(feats, self.meta["normalize"], self.shift, self.scale)
        return softmax(x @ self.coef.T + self.intercept)


def fit_logistic(
    feats: np.ndarray, y: np.ndarray, n_classes: int, cfg: LinearProbeConfig, *, seed: int
) -> LogisticHead:
    """L2 logistic regression on features; C by stratified CV on log-loss when possible."""
    shift, scale = _fit_transform(feats, cfg.normalize)
    x = _transform(feats, cfg.normalize, shift, scale)
    weight = cfg.class_weight if cfg.class_weight == "balanced" else None
    cv_scores: dict[str, float] = {}
    C = cfg.C
    if C is None:
        min_count = int(np.bincount(y, minlength=n_classes).min())
        folds = min(cfg.folds, min_count)
        if folds >= 2:
            cv_scores = _cv_log_loss(x, y, cfg.Cs, folds, weight, cfg.max_iter, seed)
            # best mean log-loss; on ties the stronger regularization
            tried = [c for c in cfg.Cs if repr(c) in cv_scores]
            C = min(tried, key=lambda c: (round(cv_scores[repr(c)], 6), c))
        else:
            C = 1.0
            log.info(
                "a class has %d example(s): too few to cross-validate C; using C=1.0", min_count
            )
    coef, intercept = _fit_lr(x, y, n_classes, C, weight, cfg.max_iter, seed)
    meta = {"C": C, "cv_log_loss": cv_scores, "normalize": cfg.normalize}
    return LogisticHead(coef, intercept, shift, scale, meta)


def _fit_transform(x: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """(shift, scale). Every option is centred on the training mean: with an unpenalized
    intercept, centring is an exact change of variables (same model, same penalty) that makes
    the problem far better conditioned, so L-BFGS needs several times fewer steps."""
    d = x.shape[1]
    if how == "l2":
        x = _unit(x)
    shift = x.mean(axis=0).astype(np.float32)
    if how == "standard":
        sd = x.std(axis=0)
        return shift, np.where(sd > 1e-6, sd, 1.0).astype(np.float32)
    return shift, np.ones(d, np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _transform(x: np.ndarray, how: str, shift: np.ndarray, scale: np.ndarray) -> np.ndarray:
    if how == "l2":
        x = _unit(x)
    return (x - shift) / scale


def _fit_lr(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    C: float,
    weight: str | None,
    max_iter: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    return _Path(x, y, n_classes, weight, max_iter, seed).fit(C)


class _Path:
    """Logistic regressions on one data set along increasing C, each warm-started from the
    last (the regularization path)."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        n_classes: int,
        weight: str | None,
        max_iter: int,
        seed: int,
        tol: float = 1e-4,
    ) -> None:
        from sklearn.linear_model import LogisticRegression

        # With fewer examples than features (the few-shot case) the L2 solution lies in the
        # span of the examples (representer theorem): solve in those n coordinates, exactly.
        self.basis = None
        if 2 * x.shape[0] < x.shape[1]:  # pays only when n is well below d
            _, _, self.basis = np.linalg.svd(x.astype(np.float64), full_matrices=False)
            x = x @ self.basis.T
        self.x, self.y, self.n_classes = x, y, n_classes
        self.lr = LogisticRegression(
            class_weight=weight, max_iter=max_iter, random_state=seed, warm_start=True, tol=tol
        )

    def fit(self, C: float) -> tuple[np.ndarray, np.ndarray]:
        from threadpoolctl import threadpool_limits

        self.lr.set_params(C=C)
        with threadpool_limits(1):  # BLAS threads only add overhead on problems this small
            self.lr.fit(self.x, self.y)
        return _expand(self.lr, self.basis, self.n_classes)


def _expand(lr: Any, basis: np.ndarray | None, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's fitted model as a full (n_classes, d) softmax layer in feature space."""
    w = lr.coef_ if basis is None else lr.coef_ @ basis
    coef = np.zeros((n_classes, w.shape[1]), np.float32)
    intercept = np.zeros(n_classes, np.float32)
    c = lr.classes_
    if w.shape[0] == 1:  # binary: sigmoid(w.x+b) == softmax of (-w/2, +w/2)
        coef[c[0]], coef[c[1]] = -w[0] / 2, w[0] / 2
        intercept[c[0]], intercept[c[1]] = -lr.intercept_[0] / 2, lr.intercept_[0] / 2
    else:
        coef[c] = w
        intercept[c] = lr.intercept_
    return coef, intercept


PATIENCE = 2  # stop the C search after this many steps without a better held-out loss


def _cv_log_loss(
    x: np.ndarray,
    y: np.ndarray,
    Cs: tuple[float, ...],
    folds: int,
    weight: str | None,
    max_iter: int,
    seed: int,
) -> dict[str, float]:
    """Mean held-out log-loss per C, from strong to weak regularization. The loss is close to
    unimodal in C, so the search stops once it has risen PATIENCE times in a row: the weakly
    regularized fits it skips are also the slowest."""
    from sklearn.model_selection import StratifiedKFold

    n_classes = int(y.max()) + 1
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y))
    # choosing C needs the held-out loss to ~3 digits, not the exact optimum: tol 1e-3
    paths = [_Path(x[tr], y[tr], n_classes, weight, max_iter, seed, tol=1e-3) for tr, _ in splits]
    losses: dict[str, float] = {}
    best, worse = np.inf, 0
    for c in sorted(Cs):
        total = 0.0
        for path, (_, te) in zip(paths, splits, strict=True):
            coef, b = path.fit(c)
            p = softmax(x[te] @ coef.T + b)
            total += float(-np.log(np.clip(p[np.arange(len(te)), y[te]], 1e-12, 1)).mean())
        losses[repr(c)] = total / folds
        if losses[repr(c)] < best - 1e-6:
            best, worse = losses[repr(c)], 0
        else:
            worse += 1
            if worse >= PATIENCE:
                break
    return losses


register_method(
    MethodSpec(
        name="linear-probe",
        modalities=("image", "text"),
        config=LinearProbeConfig,
        method=LinearProbe,
        fitted=LinearProbeFitted,
        summary="frozen encoder features + L2 logistic regression, C by cross-validation",
        paper="Kornblith et al., Do Better ImageNet Models Transfer Better?, CVPR 2019",
    )
)
