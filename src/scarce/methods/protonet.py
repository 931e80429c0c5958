"""Prototypical networks (Snell, Swersky & Zemel, NeurIPS 2017): each class is the mean of
its examples' embeddings; an input goes to the nearest prototype in squared Euclidean
distance.

Without base data the frozen encoder's features are the embedding. With base data (--base,
other classes), a light residual block on top of the centred, L2-normalized frozen features
is meta-trained episodically with the prototypical loss, and the step that does best on
held-out base classes is kept (the start, i.e. SimpleShot's embedding, included)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np

from scarce.data.types import LabeledSet
from scarce.methods import _episodic as E
from scarce.methods._centroids import CentroidConfig, CentroidFitted, CentroidMethod
from scarce.methods.base import MethodSpec, register_method, torch_unit_rows


@dataclasses.dataclass(frozen=True)
class ProtoNetConfig(E.EpisodicConfig, CentroidConfig):
    meta_steps: int = 300
    meta_lr: float = 1e-4

    method: ClassVar[str] = "protonet"
    help: ClassVar[dict[str, str]] = {
        **CentroidConfig.help,
        **{k: f"with --base: {v}" for k, v in E.EpisodicConfig.help.items()},
        "meta_lr": "with --base: Adam learning rate of the adapter block",
    }


def proto_logits(zs: Any, ys: Any, zq: Any, ways: int, scale: Any) -> Any:
    import torch

    protos = torch.zeros(ways, zs.shape[1]).index_add(0, ys, zs)
    protos = protos / torch.bincount(ys, minlength=ways)[:, None]
    return -scale * torch.cdist(zq, protos).pow(2)


class ProtoNetFitted(CentroidFitted):
    def embed(self, feats: np.ndarray) -> np.ndarray:
        if self.meta_training is None:  # no base data: the frozen features themselves
            return feats
        z = E.cl2n(feats, self.shift)
        # no adapter: meta-training kept its start, the identity block
        return E.adapt_np(self.adapter, z) if self.adapter else z

    def torch_embed(self, t: dict[str, Any], feats: Any) -> Any:
        if self.meta_training is None:
            return feats
        z = torch_unit_rows(feats - t["shift"])
        adapter = {k[8:]: v for k, v in t.items() if k.startswith("adapter.")}
        return E.adapt(adapter, z) if adapter else z


class ProtoNet(CentroidMethod):
    fitted_cls = ProtoNetFitted
    config: ProtoNetConfig

    def meta_train(self, base: LabeledSet, *, seed: int) -> dict[str, Any]:
        import torch

        cfg = self.config
        torch.manual_seed(seed)
        bd = E.base_data(self.encoder, base, cfg.ways, seed)
        params = E.adapter_init(bd.feats.shape[1], seed)
        log_scale = torch.tensor(math.log(10.0), requires_grad=True)
        opt = torch.optim.Adam([*params.values(), log_scale], lr=cfg.meta_lr)

        def update(tasks: list[tuple[Any, ...]], step: int) -> float:
            loss = 0.0
            for zs, ys, zq, yq in tasks:
                ways = int(ys.max()) + 1
                logits = proto_logits(
                    E.adapt(params, zs), ys, E.adapt(params, zq), ways, log_scale.exp()
                )
                loss = loss + torch.nn.functional.cross_entropy(logits, yq)
            loss = loss / len(tasks)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return float(loss.detach())

        def accuracy(p: dict[str, Any], zs: Any, ys: Any, zq: Any, yq: Any) -> float:
            with torch.no_grad():
                ways = int(ys.max()) + 1
                logits = proto_logits(E.adapt(p, zs), ys, E.adapt(p, zq), ways, 1.0)
                return float((logits.argmax(1) == yq).float().mean())

        record = E.meta_loop(
            bd,
            params,
            ways=cfg.ways,
            shots=cfg.shots,
            queries=cfg.queries,
            steps=cfg.meta_steps,
            seed=seed,
            update=update,
            accuracy=accuracy,
            batch=cfg.meta_batch,
        )
        # the start is the identity block: when no step beat it, skip its two matmuls
        self.base_shift = bd.mean
        self.adapter = E.to_numpy(params) if record["best_step"] else {}
        self.meta_training = record
        return record


register_method(
    MethodSpec(
        name="protonet",
        modalities=("image", "text"),
        config=ProtoNetConfig,
        method=ProtoNet,
        fitted=ProtoNetFitted,
        base="optional",
        summary="class prototypes (mean embeddings), nearest in squared Euclidean distance; "
        "frozen encoder, or an adapter block meta-trained on --base episodes",
        paper="Snell et al., Prototypical Networks for Few-shot Learning, NeurIPS 2017",
        torch_seeded=True,
    )
)
