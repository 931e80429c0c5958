"""MAML (Finn, Abbeel & Levine, ICML 2017) on a pretrained encoder: meta-learns a start for
the adapter block and the head such that a few gradient steps on a new task's support set
give a good classifier. The inner loop adapts the head and the block on top of the frozen
features (functional parameters, torch.func); the outer loop differentiates through it,
second-order by default or first-order (FOMAML). Needs base data (--base)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

from scarce.core.config import Config, check_range
from scarce.methods import _episodic as E
from scarce.methods.base import MethodSpec, register_method
from scarce.methods.protonet import check_meta

META_HELP = {
    "meta_steps": "meta-training steps on base episodes",
    "meta_batch": "episodes per meta-step",
    "ways": "classes per training episode",
    "shots": "support examples per class in training episodes",
    "queries": "query examples per class in training episodes",
    "inner_lr": "step size of the inner (per-task) gradient steps",
    "inner_steps": "inner steps during meta-training",
    "test_steps": "inner steps when adapting to your labeled examples",
}


@dataclasses.dataclass(frozen=True)
class MAMLConfig(Config):
    meta_steps: int = 200
    meta_lr: float = 3e-4
    meta_batch: int = 4
    ways: int = 5
    shots: int = 5
    queries: int = 10
    inner_lr: float = 0.1
    inner_steps: int = 5
    test_steps: int = 10
    first_order: bool = False

    help: ClassVar[dict[str, str]] = {
        **META_HELP,
        "meta_lr": "Adam learning rate of the outer loop",
        "first_order": "drop the second-order terms (FOMAML): faster, usually a little worse",
    }

    def check(self) -> None:
        check_meta(self, "maml")
        check_range("maml", "inner_lr", self.inner_lr, 1e-6, 100.0)
        check_range("maml", "inner_steps", self.inner_steps, 1, 100)
        check_range("maml", "test_steps", self.test_steps, 1, 1000)


class MAML(E.HeadMethod):
    config: MAMLConfig

    def updater(self, p: dict[str, Any]) -> Callable[[list[tuple[Any, ...]], int], float]:
        """One outer step: Adam on the query loss after the inner loop, averaged over tasks."""
        import torch

        cfg = self.config
        opt = torch.optim.Adam(p.values(), lr=cfg.meta_lr)

        def update(tasks: list[tuple[Any, ...]], step: int) -> float:
            loss = 0.0
            for zs, ys, zq, yq in tasks:
                ways = int(ys.max()) + 1
                fast = E.inner_adapt(
                    p, zs, ys, ways, cfg.inner_steps, cfg.inner_lr, not cfg.first_order
                )
                loss = loss + torch.nn.functional.cross_entropy(E.head_logits(fast, zq), yq)
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
    )
)
