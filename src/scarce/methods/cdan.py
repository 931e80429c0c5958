"""CDAN+E (Long et al., NeurIPS 2018): adversarial alignment conditioned on the classifier's
predictions. The discriminator sees the multilinear map f (x) g of bottleneck features and
class probabilities (randomised when that is too wide), and entropy conditioning weighs
confident examples more (1 + exp(-H(g)))). The probabilities in the map and the weights are
constants to the gradient, as in TLlib (the original code also sends the reversed gradient
through the entropy)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from scarce.core.config import check_range
from scarce.methods._domain import Batch, DomainConfig, DomainFitted, DomainMethod
from scarce.methods.base import MethodSpec, register_method
from scarce.methods.dann import discriminator, domain_loss, grad_reverse, grl_coefficient


@dataclasses.dataclass(frozen=True)
class CDANConfig(DomainConfig):
    owner: ClassVar[str] = "cdan"
    discriminator: int = 256
    entropy: bool = True
    max_map: int = 4096

    help: ClassVar[dict[str, str]] = {
        **DomainConfig.help,
        "discriminator": "hidden width of the two-layer domain discriminator",
        "entropy": "entropy conditioning (CDAN+E): confident examples weigh more",
        "max_map": "widest exact multilinear map; above it a randomised map of this width",
    }

    def check(self) -> None:
        super().check()
        check_range("cdan", "discriminator", self.discriminator, 2, 65536)
        check_range("cdan", "max_map", self.max_map, 16, 1 << 20)


def entropy_weights(p: Any) -> Any:
    """1 + exp(-H(p)) per example, normalised to mean 1."""
    import torch

    h = -(p * torch.log(p + 1e-8)).sum(1)
    w = 1 + torch.exp(-h)
    return w / w.mean()


class _Conditioned:
    """The discriminator on top of the (possibly randomised) multilinear map."""

    def __init__(self, dim: int, k: int, cfg: CDANConfig, seed: int) -> None:
        import torch

        self.exact = dim * k <= cfg.max_map
        width = dim * k if self.exact else cfg.max_map
        self.disc = discriminator(width, cfg.discriminator)
        if not self.exact:
            gen = torch.Generator().manual_seed(seed % 2**63)
            self.rf = torch.randn(dim, width, generator=gen)
            self.rg = torch.randn(k, width, generator=gen)
            self.scale = float(width) ** 0.5

    def map(self, f: Any, g: Any) -> Any:
        if self.exact:
            return (g.unsqueeze(2) * f.unsqueeze(1)).flatten(1)
        return (f @ self.rf) * (g @ self.rg) / self.scale

    def parameters(self) -> Any:
        return self.disc.parameters()

    def train(self) -> None:
        self.disc.train()


class CDAN(DomainMethod):
    config: CDANConfig

    def transfer_module(self, dim: int, n_classes: int, seed: int) -> Any:
        return _Conditioned(dim, n_classes, self.config, seed)

    def transfer_loss(self, batch: Batch, module: Any) -> Any:
        import torch

        f = torch.cat([batch.f_s, batch.f_t])
        g = torch.softmax(torch.cat([batch.logits_s, batch.logits_t]), 1).detach()
        z = grad_reverse(module.map(f, g), grl_coefficient(batch.progress))
        n = len(batch.f_s)
        w_s = w_t = None
        if self.config.entropy:
            w_s, w_t = entropy_weights(g[:n]), entropy_weights(g[n:])
        return domain_loss(module.disc, z[:n], z[n:], w_s, w_t)


register_method(
    MethodSpec(
        name="cdan",
        modalities=("image", "text"),
        config=CDANConfig,
        method=CDAN,
        fitted=DomainFitted,
        summary="conditional adversarial alignment with entropy conditioning (CDAN+E)",
        paper="Long et al., Conditional Adversarial Domain Adaptation, NeurIPS 2018",
        domain=True,
        needs_unlabeled=True,
        torch_seeded=True,
    )
)
