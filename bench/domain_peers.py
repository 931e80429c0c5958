"""Peer adapter for the domain-adaptation benchmark: skada (0.6.0) running source-only, DANN,
MMD (skada's DAN), Deep CORAL, CDAN and MCC on the same frozen features and the same network
as ours: features -> bottleneck (Linear(d, 256), BatchNorm1d, ReLU, Dropout(0.5)) -> Linear
head. The adaptation loss is taken on the bottleneck output (skada's layer_name="bottleneck", a
forward hook on that Sequential, so after the dropout while training, as in
scarce.methods._domain); MCC acts on the head's logits. standardize=True first applies
(x - mean) / max(std, 1e-3), per column over source + unlabeled target rows, as ours does.

Install (skada's "deep" extra also names torchvision, which is not installed here and not
needed by skada.deep; only skada.datasets.load_mnist_usps uses it):

    .venv/bin/pip install --no-deps tabulate
    .venv/bin/pip install --no-deps pot==0.9.7.post1 skorch==1.4.0 skada==0.6.0

Training (skorch, via skada's DomainAwareNet): Adam(lr), no weight decay, no lr schedule,
train_split=None (skorch would otherwise hold out 20% of the data for validation), target
labels masked with -1 and never passed, sample_domain = +1 source / -2 target. Every method
but source-only uses skada's DomainBalancedDataLoader: each step sees `batch` source and
`batch` target rows (one forward pass through the joint 2*batch, so BatchNorm sees both);
source-only sees `batch` source rows per step. skorch counts epochs, not steps: an epoch is
max(n_s, n_t) // batch steps (source-only: n_s // batch), and epochs = round(steps / that),
at least 1, so the step count is approximate (see planned_steps).

All six are in skada 0.6.0, so none is omitted. Where they differ from the textbook:
- dann, cdan: skada's default DomainClassifier ends in Softmax over ONE output, so it always
  returns 1.0: BCE is constant and its gradient zero, i.e. skada's default DANN/CDAN train
  exactly like source-only. Here the same classifier (GRL, Linear 100, BatchNorm1d, ReLU,
  Linear 1) is built with a Sigmoid as the last layer instead (see _domain_classifier).
  Gradient reversal coefficient fixed at 1 (no warm-up schedule); the adaptation term is
  BCE(source) + BCE(target) (a sum, not the mean), weighted by trade_off.
- cdan: the multilinear map is logits (x) bottleneck features, not softmax probabilities,
  with no detach and no entropy conditioning (so this is CDAN, not CDAN+E). max_features is
  set to bottleneck * n_classes so skada never uses its randomized layer: that layer calls
  torch.random.manual_seed(42) on every forward pass (it reseeds the global RNG).
- mmd (skada's DAN): one layer (the bottleneck), biased (V-statistic) MMD over a sum of 33
  kernels exp(-||x - y|| / s) (exponential of the distance, not of the squared distance),
  s = 2^(-8 + i/2) * median source-source distance in the batch, i = 0..32.
- coral: ||C_s - C_t||_F^2 / (4 d^2) on the bottleneck features (as in the paper).
- mcc: as in the paper (entropy-weighted class correlation, row-normalised, mean off-diagonal
  row sum) with temperature mcc_temperature (2.5, the paper's; skada's default is 1).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import skada
import torch
from skada.deep import CDAN, DAN, DANN, MCC, DeepCoral, SourceOnly
from skada.deep.modules import DomainClassifier
from torch import nn

PEER_METHODS: dict[str, Callable[..., Any]] = {
    "source-only": SourceOnly,
    "dann": DANN,
    "mmd": DAN,
    "coral": DeepCoral,
    "cdan": CDAN,
    "mcc": MCC,
}

SOURCE_DOMAIN = 1
TARGET_DOMAIN = -2
LAYER = "bottleneck"


def skada_version() -> str:
    return str(skada.__version__)


class BottleneckNet(nn.Module):
    """features -> bottleneck (Linear, BatchNorm1d, ReLU, Dropout(0.5)) -> Linear head."""

    def __init__(self, n_features: int, n_classes: int, bottleneck: int = 256) -> None:
        super().__init__()
        self.bottleneck = nn.Sequential(
            nn.Linear(n_features, bottleneck),
            nn.BatchNorm1d(bottleneck),
            nn.ReLU(),
            nn.Dropout(0.5),
        )
        self.head = nn.Linear(bottleneck, n_classes)

    def forward(self, x: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        # skada's DomainAwareModule passes sample_weight at predict time; it is unused here.
        return self.head(self.bottleneck(x))


def _domain_classifier(num_features: int) -> nn.Module:
    """skada's DomainClassifier (gradient reversal, Linear 100, BatchNorm1d, ReLU, Linear 1)
    with its last layer, Softmax over a single logit (constant 1.0), replaced by a Sigmoid."""
    clf = DomainClassifier(num_features=num_features)
    clf.classifier[-1] = nn.Sigmoid()
    return clf


def planned_steps(
    method: str, n_source: int, n_target: int, steps: int, batch: int
) -> tuple[int, int, int]:
    """(epochs, optimizer steps per epoch, batch) as skada's loaders will run them."""
    if method == "source-only":
        batch = min(batch, n_source)
        per_epoch = n_source // batch
    else:
        batch = min(batch, max(n_source, n_target))
        per_epoch = max(n_source // batch, n_target // batch)
    epochs = max(1, round(steps / per_epoch))
    return epochs, per_epoch, batch


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def skada_fit_predict(
    method: str,
    xs: np.ndarray,
    ys: np.ndarray,
    xt: np.ndarray,
    xt_test: np.ndarray,
    *,
    seed: int,
    steps: int = 1000,
    batch: int = 64,
    lr: float = 1e-3,
    trade_off: float = 1.0,
    bottleneck: int = 256,
    mcc_temperature: float = 2.5,
    standardize: bool = False,
) -> np.ndarray:
    """Train skada's `method` on labeled source (xs, ys in 0..k-1) and unlabeled target xt;
    return class probabilities (len(xt_test), k) for xt_test."""
    if method not in PEER_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(PEER_METHODS)}")
    xs = np.ascontiguousarray(xs, dtype=np.float32)
    xt = np.ascontiguousarray(xt, dtype=np.float32)
    xt_test = np.ascontiguousarray(xt_test, dtype=np.float32)
    ys = np.asarray(ys, dtype=np.int64)
    if xs.ndim != 2 or xt.shape[1:] != xs.shape[1:] or xt_test.shape[1:] != xs.shape[1:]:
        raise ValueError("xs, xt, xt_test must be 2-d with the same number of columns")
    if len(ys) != len(xs) or ys.min() < 0:
        raise ValueError("ys must be ints 0..k-1, one per source row")
    n_classes = int(ys.max()) + 1
    if standardize:
        both = np.concatenate([xs, xt])
        shift, scale = both.mean(0), np.maximum(both.std(0), 1e-3)
        xs, xt, xt_test = ((a - shift) / scale for a in (xs, xt, xt_test))
    epochs, _, batch = planned_steps(method, len(xs), len(xt), steps, batch)

    _seed_everything(seed)
    module = BottleneckNet(xs.shape[1], n_classes, bottleneck)
    common: dict[str, Any] = {
        "optimizer": torch.optim.Adam,
        "lr": lr,
        "batch_size": batch,
        "max_epochs": epochs,
        "train_split": None,
        "verbose": 0,
        "device": "cpu",
    }
    factory = PEER_METHODS[method]
    if method == "source-only":
        net = factory(module, layer_name=LAYER, **common)
    elif method == "dann":
        net = factory(
            module,
            LAYER,
            reg=trade_off,
            domain_classifier=_domain_classifier(bottleneck),
            **common,
        )
    elif method == "cdan":
        features = bottleneck * n_classes
        net = factory(
            module,
            LAYER,
            reg=trade_off,
            max_features=features,
            domain_classifier=_domain_classifier(features),
            **common,
        )
    elif method == "mcc":
        net = factory(module, LAYER, reg=trade_off, T=mcc_temperature, **common)
    else:  # mmd, coral
        net = factory(module, LAYER, reg=trade_off, **common)

    x = np.concatenate([xs, xt])
    y = np.concatenate([ys, np.full(len(xt), -1, dtype=np.int64)])
    domain = np.concatenate(
        [np.full(len(xs), SOURCE_DOMAIN), np.full(len(xt), TARGET_DOMAIN)]
    ).astype(np.int64)
    net.fit(x, y, sample_domain=domain)
    proba = net.predict_proba(
        xt_test, sample_domain=np.full(len(xt_test), TARGET_DOMAIN, dtype=np.int64)
    )
    return np.asarray(proba, dtype=np.float64)
