"""Multi-task learning: one shared trunk (the frozen encoder plus a trained shared layer) and
one head per task, so a scarce task borrows from related tasks with more labels (Caruana,
1997). Task losses are weighted by learned homoscedastic uncertainty (Kendall et al., CVPR
2018: exp(-s_t) * L_t + s_t / 2, s_t = log sigma_t^2) or equally; every step draws one batch
from every task, so a small task is not drowned by a large one.

The first task is the primary one: `predict_proba` answers it (so the bundle works wherever
a single-task model does); `predict_tasks` answers every task.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import numpy as np

from scarce.core.config import Config, check_range
from scarce.core.errors import BundleError, ConfigError, DataError
from scarce.core.seeding import derive
from scarce.data.balance import class_weights
from scarce.data.types import Inputs, LabeledSet, UnlabeledSet
from scarce.encoders.base import Encoder
from scarce.methods.base import (
    ArrayFitted,
    MethodSpec,
    register_method,
    softmax,
    torch_softmax,
    torch_unit_rows,
    unit_rows,
)


@dataclasses.dataclass(frozen=True)
class MultitaskConfig(Config):
    hidden: int = 256
    weighting: Literal["uncertainty", "equal"] = "uncertainty"
    sampling: Literal["balanced", "proportional"] = "balanced"
    steps: int = 600
    batch_size: int = 32
    lr: float = 0.01
    weight_decay: float = 1e-3
    dropout: float = 0.3
    activation: Literal["relu", "none"] = "relu"

    help: ClassVar[dict[str, str]] = {
        "hidden": "width of the shared layer every task's head reads",
        "weighting": "uncertainty: task weights learned as in Kendall et al. 2018; equal",
        "sampling": "balanced: every step one batch from every task; proportional: batches "
        "drawn from the pooled examples (a small task is then rarely seen)",
        "steps": "Adam steps (cosine-decayed learning rate)",
        "batch_size": "examples per task per step (balanced) or in all (proportional)",
        "lr": "Adam learning rate",
        "weight_decay": "L2 on the shared layer and the heads",
        "dropout": "dropout on the shared layer's output while training",
        "activation": "after the shared layer: relu, or none (a shared linear projection)",
    }

    def check(self) -> None:
        check_range("multitask", "hidden", self.hidden, 2, 65536)
        check_range("multitask", "steps", self.steps, 1, 1_000_000)
        check_range("multitask", "batch_size", self.batch_size, 1, 4096)
        check_range("multitask", "lr", self.lr, 1e-6, 10)
        check_range("multitask", "weight_decay", self.weight_decay, 0, 10)
        check_range("multitask", "dropout", self.dropout, 0, 0.95)


def ordered_tasks(meta: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Task name -> classes, primary first, in head order. The order is kept as a list,
    `task_order`: the manifest is written with sorted keys, so the dict's own order is lost."""
    tasks, order = meta.get("tasks"), meta.get("task_order")
    if not isinstance(tasks, dict) or not tasks:
        raise BundleError("the multitask bundle does not list its tasks.")
    if not isinstance(order, list) or sorted(order) != sorted(tasks):
        raise BundleError(
            "the multitask bundle does not say which head answers which task (task_order); "
            "re-create it with this version of scarce."
        )
    return {t: tuple(tasks[t]) for t in order}


class MultitaskFitted(ArrayFitted):
    def __init__(
        self,
        encoder: Encoder,
        classes: tuple[str, ...],
        tensors: dict[str, np.ndarray],
        meta: dict[str, Any],
    ) -> None:
        super().__init__(encoder, classes, tensors, meta)
        self.tasks = ordered_tasks(meta)

    def _trunk(self, feats: np.ndarray) -> np.ndarray:
        t = self.tensors
        x = (unit_rows(feats) - t["shift"]) / t["scale"]
        h = x @ t["shared.w"].T + t["shared.b"]
        return np.maximum(h, 0) if self.meta.get("activation", "relu") == "relu" else h

    def proba_tasks_from_features(self, feats: np.ndarray) -> dict[str, np.ndarray]:
        h = self._trunk(feats)
        return {
            task: softmax(h @ self.tensors[f"head.{i}.w"].T + self.tensors[f"head.{i}.b"])
            for i, task in enumerate(self.tasks)
        }

    def proba_from_features(self, feats: np.ndarray) -> np.ndarray:
        return self.proba_tasks_from_features(feats)[next(iter(self.tasks))]

    def torch_proba(self, t: dict[str, Any], feats: Any) -> Any:
        """The primary task's probabilities (head 0), in torch, for ONNX export."""
        x = (torch_unit_rows(feats) - t["shift"]) / t["scale"]
        h = x @ t["shared.w"].T + t["shared.b"]
        h = h.clamp(min=0) if self.meta.get("activation", "relu") == "relu" else h
        return torch_softmax(h @ t["head.0.w"].T + t["head.0.b"])

    def predict_tasks(self, inputs: Inputs) -> dict[str, np.ndarray]:
        """Every task's probabilities (columns in that task's class order)."""
        return self.proba_tasks_from_features(self.encoder.encode(inputs))

    @classmethod
    def tensor_names(cls, meta: dict[str, Any]) -> tuple[str, ...]:
        heads = [f"head.{i}.{p}" for i in range(len(ordered_tasks(meta))) for p in ("w", "b")]
        return ("shift", "scale", "shared.w", "shared.b", *heads)

    @classmethod
    def check_state(
        cls, tensors: dict[str, np.ndarray], meta: dict[str, Any], classes: tuple[str, ...]
    ) -> None:
        if next(iter(ordered_tasks(meta).values())) != tuple(classes):
            raise BundleError("the bundle's labels are not its primary task's classes.")


class Multitask:
    spec: ClassVar[MethodSpec]

    def __init__(self, config: MultitaskConfig, encoder: Encoder) -> None:
        self.config = config
        self.encoder = encoder
        self.aux: dict[str, LabeledSet] = {}  # the other tasks, set by the API (--task)
        self.primary = "label"

    def add_tasks(self, tasks: dict[str, LabeledSet], primary: str = "label") -> None:
        if primary in tasks:
            raise ConfigError(f"the primary task and another task are both named {primary!r}.")
        self.aux, self.primary = dict(tasks), primary

    def fit(
        self,
        train: LabeledSet,
        *,
        unlabeled: UnlabeledSet | None = None,
        val: LabeledSet | None = None,
        seed: int,
    ) -> MultitaskFitted:
        return self.fit_tasks({self.primary: train, **self.aux}, seed=seed)

    def fit_tasks(self, tasks: dict[str, LabeledSet], *, seed: int) -> MultitaskFitted:
        import torch

        cfg = self.config
        if not tasks:
            raise ConfigError("multitask needs at least one task.")
        modalities = {t.modality for t in tasks.values()}
        if len(modalities) > 1:
            raise DataError(
                f"multitask tasks mix {' and '.join(sorted(modalities))} data; one shared "
                "encoder needs one kind of input."
            )
        feats = {
            n: self.encoder.encode(t.inputs, desc=f"encoding task {n}") for n, t in tasks.items()
        }
        # as the linear probe: unit-length features, centred (robust with few labels)
        feats = {n: unit_rows(f) for n, f in feats.items()}
        allx = np.concatenate(list(feats.values()))
        shift = allx.mean(0).astype(np.float32)
        scale = np.ones_like(shift)
        xs = {
            n: torch.from_numpy(((f - shift) / scale).astype(np.float32)) for n, f in feats.items()
        }
        ys = {n: torch.from_numpy(t.y.astype(np.int64)) for n, t in tasks.items()}
        names = list(tasks)
        gen = torch.Generator().manual_seed(derive(seed, "multitask") % 2**63)
        d = allx.shape[1]
        shared = torch.nn.Linear(d, cfg.hidden)
        heads = torch.nn.ModuleList(
            torch.nn.Linear(cfg.hidden, len(tasks[n].classes)) for n in names
        )
        for lin in [shared, *heads]:
            bound = 1 / np.sqrt(lin.in_features)
            with torch.no_grad():
                lin.weight.uniform_(-bound, bound, generator=gen)
                lin.bias.zero_()
        log_var = torch.nn.Parameter(torch.zeros(len(names)))
        params = [*shared.parameters(), *heads.parameters()]
        if cfg.weighting == "uncertainty":
            params.append(log_var)
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
        weights = {}
        for n in names:
            task_w = class_weights(tasks[n].y, len(tasks[n].classes))
            weights[n] = None if task_w is None else torch.tensor(task_w, dtype=torch.float32)
        sizes = np.array([len(tasks[n]) for n in names], dtype=np.float64)
        rng = np.random.default_rng(derive(seed, "batches"))
        for _ in range(cfg.steps):
            if cfg.sampling == "balanced":
                picks = {n: rng.integers(0, len(tasks[n]), cfg.batch_size) for n in names}
            else:
                who = rng.choice(len(names), cfg.batch_size, p=sizes / sizes.sum())
                picks = {
                    n: rng.integers(0, len(tasks[n]), int((who == i).sum()))
                    for i, n in enumerate(names)
                }
            loss = torch.zeros(())
            for i, n in enumerate(names):
                idx = picks[n]
                if not len(idx):
                    continue
                h = shared(xs[n][idx])
                if cfg.activation == "relu":
                    h = torch.relu(h)
                if cfg.dropout:
                    keep = (torch.rand(h.shape, generator=gen) >= cfg.dropout).float()
                    h = h * keep / (1 - cfg.dropout)
                task_loss = torch.nn.functional.cross_entropy(
                    heads[i](h), ys[n][idx], weight=weights[n]
                )
                if cfg.weighting == "uncertainty":
                    loss = loss + torch.exp(-log_var[i]) * task_loss + log_var[i] / 2
                else:
                    loss = loss + task_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()

        def a(t: Any) -> np.ndarray:
            return t.detach().numpy().astype(np.float32).copy()

        tensors = {
            "shift": shift,
            "scale": scale,
            "shared.w": a(shared.weight),
            "shared.b": a(shared.bias),
        }
        for i, head in enumerate(heads):
            tensors[f"head.{i}.w"], tensors[f"head.{i}.b"] = a(head.weight), a(head.bias)
        meta = {
            "tasks": {n: list(tasks[n].classes) for n in names},
            "task_order": list(names),
            "activation": cfg.activation,
            "task_sizes": {n: len(tasks[n]) for n in names},
            "task_weights": {
                n: round(float(torch.exp(-log_var[i].detach())), 4)
                if cfg.weighting == "uncertainty"
                else 1.0
                for i, n in enumerate(names)
            },
        }
        primary = names[0]
        return MultitaskFitted(self.encoder, tasks[primary].classes, tensors, meta)


register_method(
    MethodSpec(
        name="multitask",
        modalities=("image", "text"),
        config=MultitaskConfig,
        method=Multitask,
        fitted=MultitaskFitted,
        summary="shared layer + one head per task (--task name=DATA); uncertainty-weighted",
        auto=False,
        paper="Kendall et al., Multi-Task Learning Using Uncertainty to Weigh Losses, CVPR 2018",
    )
)
