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
from scarce.core.errors import BundleError
from scarce.core.seeding import derive
from scarce.data.balance import class_weights
from scarce.data.splits import copy_groups, distinct_per_class, stratified_folds
from scarce.data.types import Inputs, LabeledSet, UnlabeledSet
from scarce.encoders.base import Encoder
from scarce.methods import _self_training as ST
from scarce.methods.base import (
    MethodSpec,
    State,
    register_method,
    softmax,
    torch_head,
    torch_softmax,
    torch_unit_rows,
    unit_rows,
    with_head,
)

log = logging.getLogger(__name__)

# C where a class has one example and nothing is left to cross-validate on, for unit-length
# encoder features. Test log-loss at 1 shot (8 draws each) was lowest near 3,000 on fortunes
# (1.425), Fashion-MNIST (1.385) and digits (1.219); C = 1 gave near-uniform answers (mean
# top probability 0.11-0.18 at 0.47-0.59 accuracy; log-loss 1.73, 2.18, 2.23)
SINGLE_SHOT_C = 3000.0
# Unit-length features need large weights for confident answers: with the grid ending at 100,
# cross-validation chose 100 in every draw (fortunes, Fashion-MNIST, digits; K = 2 to 10) and
# the probabilities came out far too timid; it now chooses 100 to 30,000.
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4, 3e4, 1e5)
# the grid as it was, for heads the long one made overconfident (the baseline's sparse or raw
# features; setfit, whose encoder saw the held-out folds)
SHORT_C_GRID = tuple(c for c in C_GRID if c <= 100)
# logit adjustments tried on held-out logits (chosen: 0.25 to 2 on 4 data sets, 3 imbalance
# profiles). DEFAULT_PRIOR_SHIFT where a class is too small to hold any out: one class of 60
# beside 1 of each other, balanced accuracy at 0 / 1 / 1.25 / 2 was 0.17 / 0.30 / 0.37 / 0.46
# (fortunes), 0.49 / 0.64 / 0.64 / 0.59 (digits), 0.41 / 0.56 / 0.57 / 0.53 (Fashion-MNIST)
PRIOR_SHIFTS = tuple(np.round(np.arange(0.0, 2.01, 0.25), 2))
DEFAULT_PRIOR_SHIFT = 1.25


@dataclasses.dataclass(frozen=True)
class LinearProbeConfig(Config):
    C: float | None = None
    Cs: tuple[float, ...] = C_GRID
    folds: int = 5
    class_weight: Literal["balanced", "none"] = "balanced"
    prior_shift: float | None = None
    normalize: Literal["l2", "standard", "none"] = "l2"
    max_iter: int = 2000
    self_training: Literal["auto", "on", "off"] = "auto"
    pseudo_fraction: float = 0.5

    help: ClassVar[dict[str, str]] = {
        "C": "inverse L2 strength; None = choose from Cs by cross-validation",
        "Cs": "grid searched by cross-validation when C is None",
        "folds": "cross-validation folds (fewer when a class has fewer examples)",
        "class_weight": "'balanced' weighs classes inversely to their frequency",
        "prior_shift": "with class_weight=balanced and unequal classes, logits - prior_shift * "
        "log(class share), so that a large class is not over-predicted; None = chosen on the "
        f"cross-validation's held-out logits ({DEFAULT_PRIOR_SHIFT} where a class has 1 "
        "example), 0 = off",
        "normalize": "l2: unit-length features (robust at 1 shot); standard: z-scores from train",
        "max_iter": "L-BFGS iterations",
        "self_training": "with --unlabeled: the head labels the unlabeled inputs it is surest "
        "of and is fitted again with them, in rounds; auto = only where cross-validation on "
        "the labels (2 shuffles of up to 5 folds, paired) finds it more accurate, which needs "
        f"2+ labels per class and {ST.MIN_CHECKED}+ in all; on = always; off = ignore "
        "--unlabeled",
        "pseudo_fraction": "share of the unlabeled inputs pseudo-labeled in the last of "
        f"{ST.ROUNDS} rounds (the surest first; each round takes an even step more)",
    }

    def check(self) -> None:
        if self.C is not None:
            check_range("linear-probe", "C", self.C, 1e-8)
        if not self.Cs or min(self.Cs) <= 0:
            check_range("linear-probe", "Cs", min(self.Cs or (0,)), 1e-8)
        check_range("linear-probe", "folds", self.folds, 2, 20)
        if self.prior_shift is not None:
            check_range("linear-probe", "prior_shift", self.prior_shift, 0.0, 10.0)
        check_range("linear-probe", "max_iter", self.max_iter, 10)
        check_range("linear-probe", "pseudo_fraction", self.pseudo_fraction, 0.01, 1.0)


class LinearProbeFitted:
    def __init__(self, encoder: Encoder, classes: tuple[str, ...], head: LogisticHead) -> None:
        self.encoder = encoder
        self.classes = classes
        self.head = head

    @property
    def meta(self) -> dict[str, Any]:
        return self.head.meta

    def predict_proba(self, inputs: Inputs) -> np.ndarray:
        return self.head.predict_proba(self.encoder.encode(inputs))

    def export_module(self) -> Any:
        head = torch_head(self.head.tensors(), self.head.torch_proba)
        return with_head(self.encoder.torch_module(), head, self.encoder.spec.modality)

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
        return cls(encoder, classes, LogisticHead.from_tensors(tensors, meta, len(classes)))


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
        fitted = self.fit_features(feats, train.y, train.classes, seed=seed)
        if unlabeled is not None:
            fitted.head = self._self_train(fitted.head, feats, train, unlabeled, seed)
        return fitted

    def _self_train(
        self,
        head: LogisticHead,
        feats: np.ndarray,
        train: LabeledSet,
        unlabeled: UnlabeledSet,
        seed: int,
    ) -> LogisticHead:
        """The head refitted with pseudo-labeled unlabeled inputs, where allowed and (in
        auto) where cross-validation finds it better; else `head`. Either way its meta says
        what happened to the unlabeled inputs."""
        cfg, y, k = self.config, train.y, len(train.classes)
        labeled = set(train.inputs.hashes)
        # an input that is also labeled would be pseudo-labeled against its own label, and
        # in the check it would carry a held-out example's answer into training
        keep = [i for i, h in enumerate(unlabeled.inputs.hashes) if h not in labeled]
        record: dict[str, Any] = {
            "mode": cfg.self_training,
            "unlabeled": len(unlabeled),
            "also_labeled": len(unlabeled) - len(keep),
            "used": False,
            "pseudo_labeled": 0,
        }
        head.meta["self_training"] = record
        smallest = int(np.bincount(y, minlength=k).min())
        if cfg.self_training == "off":
            record["why"] = "self_training=off"
            return head
        if not keep:
            record["why"] = "every unlabeled input is also a labeled example"
            log.warning("--unlabeled: %s; nothing to self-train on.", record["why"])
            return head
        if cfg.self_training == "auto" and (smallest < 2 or len(y) < ST.MIN_CHECKED):
            few = (
                f"a class has {smallest} labeled example"
                if smallest < 2
                else f"{len(y)} labeled examples ({ST.MIN_CHECKED}+ needed)"
            )
            record["why"] = (
                f"{few}: too few to check by cross-validation that pseudo-labels help (they "
                "can also hurt)"
            )
            log.warning(
                "--unlabeled not used: %s. `--set self_training=on` (Python: config="
                "{'self_training': 'on'}) uses them unchecked.",
                record["why"],
            )
            return head
        xu = self.encoder.encode(unlabeled.inputs.subset(keep), desc="encoding unlabeled data")
        fixed = dataclasses.replace(cfg, C=head.meta["C"], prior_shift=head.meta["prior_shift"])

        def fit(x: np.ndarray, labels: np.ndarray) -> LogisticHead:
            return fit_logistic(x, labels, k, fixed, seed=seed)

        shares = ST.shares(cfg.pseudo_fraction)
        weights = class_weights(y, k)
        if cfg.self_training == "auto":
            found = ST.check(
                fit,
                feats,
                y,
                xu,
                shares,
                seed=derive(seed, "self-training"),
                weights=None if weights is None else weights[y],
            )
            what = "balanced accuracy" if weights is not None else "accuracy"
            record.update(
                check=found,
                metric=what,
                # walk 18: beside the probe's own validation score (other folds) a bare
                # "0.833 without" read as a second score of the same model
                why=f"a paired check on its own folds ({found['folds']}): {what} "
                f"{found['with']:.3f} with pseudo-labels, {found['without']:.3f} without",
            )
            if found["gain"] <= found["gain_se"]:
                if found["gain"] > 0:
                    record["why"] += (
                        f" (a gain within its standard error, {found['gain_se']:.3f}: a tie)"
                    )
                return head
        # `head` is what fit(feats, y) gives (the same C and shift): start from it
        new, pick = ST.pseudo_label(fit, feats, y, xu, shares, head)
        record.update(used=True, pseudo_labeled=len(pick))
        new.meta = {k_: v for k_, v in head.meta.items() if k_ != "validation"}
        if "check" in record:  # the probe's own estimate no longer describes this head
            new.meta["validation"] = {
                record["metric"].replace(" ", "_"): record["check"]["with"],
                "n": len(y),
                "how": f"{record['check']['folds']}, inside the labeled data, each fold "
                "self-trained on the unlabeled inputs at the C chosen on all labels (which "
                "leans it high; each fold's fewer labels lean it low, and at few per class "
                "more so)",
            }
        else:
            record["why"] = "self_training=on, unchecked"
        return new

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
    def from_tensors(
        cls, tensors: dict[str, np.ndarray], meta: dict[str, Any], n_classes: int
    ) -> LogisticHead:
        """The head a bundle holds, its shapes checked against each other and the labels (walk
        31: a bundle's rows cut to 2 failed at prediction with numpy's broadcast error)."""
        coef, intercept = tensors["coef"], tensors["intercept"]
        shift, scale = tensors["shift"], tensors["scale"]
        if (
            coef.ndim != 2
            or coef.shape[0] != n_classes
            or intercept.shape != (n_classes,)
            or shift.shape not in ((), (coef.shape[1],))
            or scale.shape not in ((), (coef.shape[1],))
        ):
            raise BundleError(
                f"the head's arrays do not fit together or the {n_classes} labels (coef "
                f"{coef.shape}, intercept {intercept.shape}, shift {shift.shape}, scale "
                f"{scale.shape})."
            )
        return cls(coef, intercept, shift, scale, meta)

    def predict_proba(self, feats: np.ndarray) -> np.ndarray:
        x = _transform(feats, self.meta["normalize"], self.shift, self.scale)
        return softmax(x @ self.coef.T + self.intercept)

    def torch_proba(self, t: dict[str, Any], feats: Any) -> Any:
        """`predict_proba` in torch, for ONNX export."""
        how = self.meta["normalize"]
        x = torch_unit_rows(feats) if how == "l2" else feats
        x = (x - t["shift"]) / t["scale"] if how == "standard" else x - t["shift"]
        return torch_softmax(x @ t["coef"].T + t["intercept"])


def fit_logistic(
    feats: np.ndarray, y: np.ndarray, n_classes: int, cfg: LinearProbeConfig, *, seed: int
) -> LogisticHead:
    """L2 logistic regression on features; C by stratified CV on log-loss when possible."""
    shift, scale = _fit_transform(feats, cfg.normalize)
    x = _transform(feats, cfg.normalize, shift, scale)
    weight = cfg.class_weight if cfg.class_weight == "balanced" else None
    cv_scores: dict[str, float] = {}
    validation = None
    C, tau = cfg.C, cfg.prior_shift
    unequal = class_weights(y, n_classes) is not None
    groups = copy_groups(x)  # copies of an input have equal features: one fold holds them
    folds = min(cfg.folds, int(distinct_per_class(y, groups, n_classes).min()))
    # held-out logits choose C and, on unequal classes, the prior shift (for a given C too)
    choose_tau = tau is None and weight == "balanced" and unequal
    if folds >= 2 and (C is None or choose_tau):
        Cs = cfg.Cs if C is None else (C,)
        cv_scores, held_out = _cv_log_loss(x, y, Cs, folds, weight, cfg.max_iter, seed, groups)
        # best mean log-loss; on ties the stronger regularization
        tried = [c for c in Cs if repr(c) in cv_scores]
        C = min(tried, key=lambda c: (round(cv_scores[repr(c)], 6), c))
        z = held_out[repr(C)]
        if choose_tau:
            tau = _prior_shift(z, y, n_classes)
        if tau and unequal:
            z = z - tau * log_prior(y, n_classes)
        validation = {
            "accuracy": round(float((z.argmax(1) == y).mean()), 5),
            "balanced_accuracy": round(_balanced_accuracy(z, y, n_classes), 5),
            "log_loss": round(_mean_log_loss(z, y, weight, n_classes), 5),
            "n": len(y),
            # walk 43: read as a ceiling, where at 2-16 per class it fell below the test
            # accuracy in 18 of 20 fits (by 0.108 on average)
            "how": f"{folds}-fold cross-validation inside the training data, at the C it "
            f"chose; each fold trained on {folds - 1}/{folds} of the examples, so with few "
            "per class it tends to read low (choosing C on the same folds leans it a little "
            "high)",
        }
    elif C is None:
        C = SINGLE_SHOT_C
        log.info("a class has %d example(s): too few to cross-validate C; using C=%g", folds, C)
    if tau is None:
        tau = DEFAULT_PRIOR_SHIFT if weight == "balanced" else 0.0
    if not unequal:
        tau = 0.0  # a shift of every logit alike: nothing to record
    coef, intercept = _fit_lr(x, y, n_classes, C, weight, cfg.max_iter)
    # the logit adjustment is a shift of the intercepts: bundles and ONNX carry it as is
    intercept = intercept - np.float32(tau) * log_prior(y, n_classes).astype(np.float32)
    meta = {"C": C, "cv_log_loss": cv_scores, "normalize": cfg.normalize, "prior_shift": tau}
    if validation is not None:
        meta["validation"] = validation
    return LogisticHead(coef, intercept, shift, scale, meta)


def _fit_transform(x: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """(shift, scale). Every option is centred on the training mean: with an unpenalized
    intercept, centring is an exact change of variables (same model, same penalty) that makes
    the problem far better conditioned, so L-BFGS needs several times fewer steps."""
    d = x.shape[1]
    if how == "l2":
        x = unit_rows(x)
    shift = x.mean(axis=0).astype(np.float32)
    if how == "standard":
        sd = x.std(axis=0)
        return shift, np.where(sd > 1e-6, sd, 1.0).astype(np.float32)
    return shift, np.ones(d, np.float32)


def _transform(x: np.ndarray, how: str, shift: np.ndarray, scale: np.ndarray) -> np.ndarray:
    if how == "l2":
        x = unit_rows(x)
    return (x - shift) / scale if how == "standard" else x - shift


def _fit_lr(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    C: float,
    weight: str | None,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(coef (n_classes, d), intercept) of the L2 logistic regression at C."""
    x = x.astype(np.float64)
    basis = None
    # With fewer examples than features (the few-shot case) the L2 solution lies in the
    # span of the examples (representer theorem): solve in those n coordinates, exactly.
    if 2 * x.shape[0] < x.shape[1]:  # pays only when n is well below d
        gram = x @ x.T
        coords, to_coords = _span(gram)
        basis = to_coords.T @ x  # orthonormal rows spanning the examples
        x = coords
    # along the regularization path, as the cross-validation that chose C solved it: from
    # zero at C=1e5, L-BFGS met its absolute tolerance after 18 iterations, far from the
    # optimum (glyph images, 20 per class: test accuracy 0.946 against 0.977 converged)
    path = _Path([(x, y)], n_classes, weight, max_iter)
    for c in [c for c in C_GRID if c < C] + [C]:
        w, b = path.fit(c)[0]
    coef = w @ basis if basis is not None else w
    return coef.astype(np.float32), b.astype(np.float32)


def _span(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of n examples in an orthonormal basis of their span, from their n x n Gram
    matrix (several times cheaper than an SVD of the n x d data), and the (n, r) map that
    takes Gram rows to those coordinates: coords = gram @ map, for these and other rows."""
    lam, u = np.linalg.eigh(gram)
    keep = lam > max(lam[-1], 1e-30) * 1e-10  # duplicates leave directions empty
    lam, u = lam[keep], u[:, keep]
    root = np.sqrt(lam)
    return u * root, u / root


class _Path:
    """L2 logistic regressions on several data sets at once (the folds of a cross-validation)
    along increasing C, each warm-started from the last (the regularization path).

    Each problem's objective is scikit-learn's (weighted mean log-loss + ||W||^2 / (2 C
    sum(weights)), unpenalized intercept, same L-BFGS stopping rules), solved with scipy
    directly. The problems are independent, so one L-BFGS run on their sum solves them all:
    model selection runs dozens of these tiny solves per fit, and per-call overhead (~7 ms in
    LogisticRegression) was most of the cost of an evaluation (bench/eval_overhead.py)."""

    def __init__(
        self,
        problems: list[tuple[np.ndarray, np.ndarray]],
        n_classes: int,
        weight: str | None,
        max_iter: int,
        tol: float = 1e-4,
    ) -> None:
        k, b = n_classes, len(problems)
        n, p = max(x.shape[0] for x, _ in problems), max(x.shape[1] for x, _ in problems)
        # zero-padded to one (problems, n, p) stack; padded rows weigh nothing and padded
        # columns keep zero weights, so each problem's solution is its own
        self.x = np.zeros((b, n, p))
        self.onehot_w = np.zeros((b, n, k))
        self.sw = np.zeros((b, n, 1))
        self.mask = np.zeros((b, 1, k))  # classes absent from a problem are never predicted
        self.alpha_scale = np.zeros((b, 1, 1))
        self.absent, self.dims = [], []
        for i, (x, y) in enumerate(problems):
            present = np.unique(y)
            cw = class_weights(y, k) if weight == "balanced" else None
            w = cw[y] if cw is not None else np.ones(len(y))
            self.x[i, : len(x), : x.shape[1]] = x
            self.sw[i, : len(y), 0] = w / w.sum()
            self.onehot_w[i, np.arange(len(y)), y] = w / w.sum()
            self.absent.append(np.setdiff1d(np.arange(k), present))
            self.mask[i, 0, self.absent[-1]] = -1e30
            # a 2-class softmax with both rows penalized is sklearn's binary model at 2C
            self.alpha_scale[i] = (2.0 if len(present) == 2 else 1.0) / w.sum()
            self.dims.append(x.shape[1])
        self.shape = (b, p, k)
        self.theta = np.zeros(b * (p + 1) * k)
        self.max_iter, self.tol = max_iter, tol

    def _loss_grad(self, theta: np.ndarray, inv_c: float) -> tuple[float, np.ndarray]:
        b, p, k = self.shape
        w = theta[: b * p * k].reshape(b, p, k)
        z = self.x @ w + theta[b * p * k :].reshape(b, 1, k) + self.mask
        z -= z.max(axis=2, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=2, keepdims=True))
        alpha = self.alpha_scale * inv_c
        loss = -float((logp * self.onehot_w).sum()) + 0.5 * float((alpha * w * w).sum())
        g = np.exp(logp) * self.sw - self.onehot_w
        grad = np.empty_like(theta)
        grad[: b * p * k] = (self.x.transpose(0, 2, 1) @ g + alpha * w).ravel()
        grad[b * p * k :] = g.sum(axis=1).ravel()
        return loss, grad

    def fit(self, C: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per problem, (coef (n_classes, its dims), intercept) in its own coordinates."""
        from scipy.optimize import minimize

        options = {
            "maxiter": self.max_iter,
            "maxls": 50,
            "gtol": self.tol,
            "ftol": 64 * np.finfo(float).eps,
        }
        with _one_blas_thread():  # BLAS threads only add overhead on problems this small
            while True:
                res = minimize(
                    self._loss_grad,
                    self.theta,
                    args=(1.0 / C,),
                    jac=True,
                    method="L-BFGS-B",
                    options=options,
                )
                # a warm start already under the (absolute) tolerance: with many classes the
                # penalty's pull at a larger C is that small, and stopping there scores the
                # previous C again (53 classes: three Cs scored alike, the search stopped at
                # C=10 where the held-out loss is lowest at 1000); tighten until it moves
                if res.nit > 0 or options["gtol"] < 1e-8:
                    break
                options["gtol"] /= 10
        self.theta = res.x
        b, p, k = self.shape
        ws = self.theta[: b * p * k].reshape(b, p, k)
        bs = self.theta[b * p * k :].reshape(b, k)
        out = []
        for i in range(b):
            w, icpt = ws[i, : self.dims[i]].T.copy(), bs[i].copy()
            w[self.absent[i]], icpt[self.absent[i]] = 0.0, 0.0
            out.append((w, icpt))
        return out


def _one_blas_thread() -> Any:
    from threadpoolctl import ThreadpoolController

    global _CONTROLLER
    if _CONTROLLER is None:  # scanning the loaded libraries costs ~1 ms: do it once
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


_CONTROLLER: Any = None


PATIENCE = 2  # stop the C search after this many steps without a better held-out loss


def _cv_log_loss(
    x: np.ndarray,
    y: np.ndarray,
    Cs: tuple[float, ...],
    folds: int,
    weight: str | None,
    max_iter: int,
    seed: int,
    groups: np.ndarray | None = None,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Mean held-out log-loss and the held-out logits per C, from strong to weak
    regularization. The loss is close to unimodal in C, so the search stops once it has risen
    PATIENCE times in a row: the weakly regularized fits it skips are also the slowest. With
    balanced class weights the held-out loss is weighted the same way, as training weighs its
    loss, so that a large class does not choose C alone (one class of 200 beside nineteen of 3: C=30
    rather than 300 to 1000)."""
    n_classes = int(y.max()) + 1
    splits = stratified_folds(y, folds, seed, groups)
    x = x.astype(np.float64)
    if 2 * x.shape[0] < x.shape[1]:
        # every fold in its own span (as _fit_lr does), all from one Gram matrix
        gram = x @ x.T
        train_x, test_x = [], []
        for tr, te in splits:
            coords, to_coords = _span(gram[np.ix_(tr, tr)])
            train_x.append(coords)
            test_x.append(gram[np.ix_(te, tr)] @ to_coords)
    else:
        train_x, test_x = [x[tr] for tr, _ in splits], [x[te] for _, te in splits]
    # choosing C needs the held-out loss to ~3 digits, not the exact optimum: tol 1e-3 (a
    # warm start already under it is solved again, tighter: see _Path.fit)
    problems = [(xt, y[tr]) for xt, (tr, _) in zip(train_x, splits, strict=True)]
    path = _Path(problems, n_classes, weight, max_iter, tol=1e-3)
    losses: dict[str, float] = {}
    held_out: dict[str, np.ndarray] = {}
    best, worse = np.inf, 0
    for c in sorted(Cs):
        z = np.empty((len(y), n_classes))
        total = 0.0
        for (w, b), xte, (_, te) in zip(path.fit(c), test_x, splits, strict=True):
            z[te] = xte @ w.T + b
            total += _mean_log_loss(z[te], y[te], weight, n_classes, counts_of=y)
        losses[repr(c)] = total / folds
        held_out[repr(c)] = z
        if losses[repr(c)] < best - 1e-6:
            best, worse = losses[repr(c)], 0
        else:
            worse += 1
            if worse >= PATIENCE:
                break
    return losses, held_out


def _mean_log_loss(
    z: np.ndarray,
    y: np.ndarray,
    weight: str | None,
    n_classes: int,
    counts_of: np.ndarray | None = None,
) -> float:
    """Mean log-loss of logits `z`; with balanced weights each class counts alike, by its
    frequency in `counts_of` (default: `y`)."""
    p = softmax(z)
    nll = -np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1))
    if weight != "balanced":
        return float(nll.mean())
    cw = class_weights(y if counts_of is None else counts_of, n_classes)
    return float(np.average(nll, weights=None if cw is None else cw[y]))


def _balanced_accuracy(z: np.ndarray, y: np.ndarray, n_classes: int) -> float:
    hit = (z.argmax(1) == y).astype(float)
    return float(np.mean([hit[y == c].mean() for c in range(n_classes) if (y == c).any()]))


def log_prior(y: np.ndarray, n_classes: int) -> np.ndarray:
    """log(class share), centred over the classes present; 0 for absent ones, which the
    shift leaves where they were."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    out = np.zeros(n_classes)
    out[present] = np.log(counts[present])
    out[present] -= out[present].mean()
    return out


def _prior_shift(z: np.ndarray, y: np.ndarray, n_classes: int) -> float:
    """tau of the logit adjustment `logits - tau * log(class prior)` (Menon et al., Long-tail
    learning via logit adjustment, ICLR 2021) with the lowest class-balanced held-out
    log-loss; 0 when the classes are equal, where it changes nothing. Balanced class weights
    alone leave a large class over-predicted: its many examples span a wide region, each
    small class only the few points it has. One class of 60 beside 3 of each other: balanced
    accuracy 0.418 -> 0.598 on fortunes, 0.743 -> 0.778 on digits (5 draws; a long tail from
    60 to 3: 0.604 -> 0.712 and 0.860 -> 0.882; bench/results/imbalance.json)."""
    if class_weights(y, n_classes) is None:  # equal classes
        return 0.0
    prior = log_prior(y, n_classes)
    unshifted = round(_balanced_accuracy(z, y, n_classes), 6)
    best, best_loss = 0.0, np.inf
    for t in PRIOR_SHIFTS:  # ties: the smaller shift
        zt = z - t * prior
        # never a shift that finds fewer of the held-out examples' classes: on a strongly
        # regularized head (logits near 0) the smallest shift flipped every answer to the
        # small class, lowering the loss but not the balanced accuracy (walk 10: the
        # baseline, 190 vs 10, held-out balanced accuracy 0.455)
        if t and round(_balanced_accuracy(zt, y, n_classes), 6) < unshifted:
            continue
        loss = round(_mean_log_loss(zt, y, "balanced", n_classes), 6)
        if loss < best_loss:
            best, best_loss = float(t), loss
    return best


register_method(
    MethodSpec(
        name="linear-probe",
        modalities=("image", "text"),
        config=LinearProbeConfig,
        method=LinearProbe,
        fitted=LinearProbeFitted,
        summary="frozen encoder features + L2 logistic regression, C by cross-validation; "
        "with --unlabeled, self-training where cross-validation finds it helps",
        paper="Kornblith et al., Do Better ImageNet Models Transfer Better?, CVPR 2019",
        uses_unlabeled=True,
        unlabeled_knobs=("self_training", "pseudo_fraction"),
    )
)
