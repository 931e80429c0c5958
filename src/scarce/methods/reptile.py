"""Reptile (Nichol, Achiam & Schulman, On First-Order Meta-Learning Algorithms, 2018): train
on a base task for a few steps, then move the start toward the weights reached. Same
parameters as maml (a block on the frozen features; the head starts at zero); needs base
data (--base)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

from scarce.methods import _episodic as E
from scarce.methods.base import MethodSpec, register_method


@dataclasses.dataclass(frozen=True)
class ReptileConfig(E.HeadConfig):
    meta_steps: int = 200
    meta_lr: float = 0.2

    method: ClassVar[str] = "reptile"
    help: ClassVar[dict[str, str]] = {
        **E.HeadConfig.help,
        "meta_lr": "outer step size: the share of the way toward the task's weights, "
        "annealed linearly to 0",
    }


class Reptile(E.HeadMethod):
    config: ReptileConfig

    def updater(self, p: dict[str, Any]) -> Callable[[list[tuple[Any, ...]], int], float]:
        """One outer step: move the start toward the weights each task reached."""
        import torch

        cfg = self.config

        def update(tasks: list[tuple[Any, ...]], step: int) -> float:
            eps = cfg.meta_lr * (1 - step / cfg.meta_steps)
            deltas = {k: torch.zeros_like(v) for k, v in p.items()}
            losses = []
            for zs, ys, zq, yq in tasks:
                ways = int(ys.max()) + 1
                start = {k: v.detach() for k, v in p.items()}
                # Reptile trains on all of the task's examples
                z, y = torch.cat([zs, zq]), torch.cat([ys, yq])
                fast = E.inner_adapt(
                    start, z, y, ways, cfg.inner_steps, cfg.inner_lr, False, self.logits
                )
                with torch.no_grad():
                    losses.append(float(torch.nn.functional.cross_entropy(self.logits(fast, z), y)))
                    for k in p:
                        if p[k].requires_grad:  # not the shared head row (head_init)
                            deltas[k] += (fast[k] - p[k]) / len(tasks)
            with torch.no_grad():
                for k, v in p.items():
                    v.add_(eps * deltas[k])
            return float(sum(losses) / len(losses))

        return update


register_method(
    MethodSpec(
        name="reptile",
        modalities=("image", "text"),
        config=ReptileConfig,
        method=Reptile,
        fitted=E.HeadFitted,
        base="required",
        summary="first-order meta-learning (Reptile) of a head + block on frozen features, "
        "adapted to your labels by a few gradient steps; needs --base",
        paper="Nichol et al., On First-Order Meta-Learning Algorithms, arXiv 1803.02999, 2018",
        torch_seeded=True,
    )
)
