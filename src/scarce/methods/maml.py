"""MAML (Finn, Abbeel & Levine, ICML 2017) on a pretrained encoder: meta-learns a start for
the adapter block (the head starts at zero, see `_episodic.head_init`) such that a few
gradient steps on a new task's support set give a good classifier. The inner loop adapts
the head and the block on top of the frozen features (functional parameters, torch.func);
the outer loop differentiates through it, second-order by default or first-order (FOMAML).
Needs base data (--base)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

from scarce.methods import _episodic as E
from scarce.methods.base import MethodSpec, register_method


@dataclasses.dataclass(frozen=True)
class MAMLConfig(E.HeadConfig):
    meta_steps: int = 200
    meta_lr: float = 3e-4
    first_order: bool = False

    method: ClassVar[str] = "maml"
    help: ClassVar[dict[str, str]] = {
        **E.HeadConfig.help,
        "meta_lr": "Adam learning rate of the outer loop",
        "first_order": "drop the second-order terms (FOMAML): faster, usually a little worse",
    }


class MAML(E.HeadMethod):
    config: MAMLConfig

    def updater(self, p: dict[str, Any]) -> Callable[[list[tuple[Any, ...]], int], float]:
        """One outer step: Adam on the query loss after the inner loop, averaged over tasks."""
        import torch

        cfg = self.config
        opt = torch.optim.Adam([v for v in p.values() if v.requires_grad], lr=cfg.meta_lr)

        def update(tasks: list[tuple[Any, ...]], step: int) -> float:
            loss = 0.0
            for zs, ys, zq, yq in tasks:
                ways = int(ys.max()) + 1
                fast = E.inner_adapt(
                    p, zs, ys, ways, cfg.inner_steps, cfg.inner_lr, not cfg.first_order, self.logits
                )
                loss = loss + torch.nn.functional.cross_entropy(self.logits(fast, zq), yq)
            loss = loss / len(tasks)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return float(loss.detach())

        return update


register_method(
    MethodSpec(
        name="maml",
        modalities=("image", "text"),
        config=MAMLConfig,
        method=MAML,
        fitted=E.HeadFitted,
        base="required",
        summary="meta-learned start of a head + block on frozen features, adapted to your "
        "labels by a few gradient steps (second- or first-order); needs --base",
        paper="Finn et al., Model-Agnostic Meta-Learning for Fast Adaptation of Deep "
        "Networks, ICML 2017",
        torch_seeded=True,
    )
)
