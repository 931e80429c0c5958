"""DANN: domain-adversarial training (Ganin et al., JMLR 2016). A discriminator learns to
tell source from target bottleneck features; a gradient-reversal layer makes the bottleneck
learn to fool it, with the reversal coefficient warmed up as 2 / (1 + exp(-10 p)) - 1."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from scarce.core.config import check_range
from scarce.methods._domain import Batch, DomainConfig, DomainFitted, DomainMethod
from scarce.methods.base import MethodSpec, register_method


@dataclasses.dataclass(frozen=True)
class DANNConfig(DomainConfig):
    owner: ClassVar[str] = "dann"
    discriminator: int = 256

    help: ClassVar[dict[str, str]] = {
        **DomainConfig.help,
        "discriminator": "hidden width of the two-layer domain discriminator",
    }

    def check(self) -> None:
        super().check()
        check_range("dann", "discriminator", self.discriminator, 2, 65536)


def grl_coefficient(progress: float, alpha: float = 10.0) -> float:
    """Ganin's schedule: 0 at the start (the discriminator is random), 1 at the end."""
    return 2.0 / (1.0 + math.exp(-alpha * progress)) - 1.0


def grad_reverse(x: Any, coeff: float) -> Any:
    """Identity forward; the gradient multiplied by -coeff backward."""
    import torch

    class _Reverse(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, t: Any) -> Any:
            return t.view_as(t)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return -coeff * g

    return _Reverse.apply(x)


def discriminator(dim: int, hidden: int) -> Any:
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(dim, hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(hidden, 1),
    )


def domain_loss(
    disc: Any, z_s: Any, z_t: Any, w_s: Any | None = None, w_t: Any | None = None
) -> Any:
    """Binary cross-entropy of the discriminator: source = 1, target = 0 (optionally
    weighted per example, as CDAN+E does)."""
    import torch

    logits = disc(torch.cat([z_s, z_t])).squeeze(1)
    labels = torch.cat([torch.ones(len(z_s)), torch.zeros(len(z_t))])
    w = None if w_s is None else torch.cat([w_s, w_t])
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, weight=w)


class DANN(DomainMethod):
    config: DANNConfig

    def transfer_module(self, dim: int, n_classes: int, seed: int) -> Any:
        return discriminator(dim, self.config.discriminator)

    def transfer_loss(self, batch: Batch, module: Any) -> Any:
        import torch

        coeff = grl_coefficient(batch.progress)
        f = grad_reverse(torch.cat([batch.f_s, batch.f_t]), coeff)
        return domain_loss(module, f[: len(batch.f_s)], f[len(batch.f_s) :])


register_method(
    MethodSpec(
        name="dann",
        modalities=("image", "text"),
        config=DANNConfig,
        method=DANN,
        fitted=DomainFitted,
        summary="domain-adversarial training with gradient reversal (unlabeled target)",
        paper="Ganin et al., Domain-Adversarial Training of Neural Networks, JMLR 2016",
        domain=True,
        needs_unlabeled=True,
        torch_seeded=True,
    )
)
