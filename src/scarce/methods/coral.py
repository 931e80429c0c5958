"""Deep CORAL (Sun & Saenko, ECCV-W 2016): align the second-order statistics (covariances)
of source and target bottleneck features."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from scarce.methods._domain import Batch, DomainConfig, DomainFitted, DomainMethod
from scarce.methods.base import MethodSpec, register_method


@dataclasses.dataclass(frozen=True)
class CORALConfig(DomainConfig):
    owner: ClassVar[str] = "coral"


def coral_loss(x: Any, y: Any) -> Any:
    """||C_s - C_t||_F^2 / (4 d^2) plus the distance of the means (as TLlib adds): 0 for
    identical batches, growing with the shift."""
    mx, my = x.mean(0, keepdim=True), y.mean(0, keepdim=True)
    cx = (x - mx).T @ (x - mx) / max(len(x) - 1, 1)
    cy = (y - my).T @ (y - my) / max(len(y) - 1, 1)
    d = x.shape[1]
    return (cx - cy).pow(2).sum() / (4 * d * d) + (mx - my).pow(2).mean()


class CORAL(DomainMethod):
    def transfer_loss(self, batch: Batch, module: Any) -> Any:
        return coral_loss(batch.f_s, batch.f_t)


register_method(
    MethodSpec(
        name="coral",
        modalities=("image", "text"),
        config=CORALConfig,
        method=CORAL,
        fitted=DomainFitted,
        summary="Deep CORAL: match source and target feature covariances",
        paper="Sun & Saenko, Deep CORAL, ECCV Workshops 2016",
        domain=True,
        needs_unlabeled=True,
        torch_seeded=True,
    )
)
