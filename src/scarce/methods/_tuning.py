"""Shared machinery of the methods that change encoder weights (finetune, setfit): which
units train, activations of the frozen units computed once and cached, learning rates per
unit, the L2-SP penalty, and a fitted model that predicts with its own weights."""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from scarce.core.errors import BundleError, ConfigError
from scarce.core.progress import check_time, progress
from scarce.core.threads import ThreadChooser
from scarce.data.types import Inputs
from scarce.encoders.base import Encoder, caching
from scarce.methods.base import State, softmax, torch_unit_rows, with_head

log = logging.getLogger(__name__)

BATCH = 32  # examples per forward pass when nothing trains
TRAIN_CHUNK = 8  # examples per forward pass in a training batch of varying sizes
CHUNK = 2048  # examples whose frozen states are held at once when predicting
PREDICT_BATCH = 64  # images per ONNX Runtime call when a tuned image model predicts
FEW_TO_TUNE = 4  # a smallest class below this, beside a 4x larger one, gets a warning


def warn_small_class(method: str, y: np.ndarray, k: int, measured: str) -> None:
    """Warn where the smallest class is too small, beside a much larger one, for held-out
    examples to see whether tuning the encoder loses it (walk 34: 30 against 3 lost the
    small class the linear probe found). `measured`: what our bench saw there."""
    counts = np.bincount(y, minlength=k)
    few, many = int(counts[counts > 0].min()), int(counts.max())
    if few < FEW_TO_TUNE and many >= 4 * few:
        log.warning(
            "%s: the smallest class has %d example(s) against %d in the largest: too few for "
            "held-out examples to see whether tuning the encoder loses it. %s linear-probe is "
            "the safer choice here; label more of the small class to tune.",
            method,
            few,
            many,
            measured,
        )


def frozen_methods() -> list[str]:
    """The registered methods that use an encoder without changing it and need no other
    data (domain methods need --source, maml/reptile --base)."""
    from scarce.methods import methods as registry  # the registry imports this module

    return [
        s.name
        for s in registry
        if s.uses_encoder and not s.tunes_encoder and not s.domain and s.base != "required"
    ]


def require_trainable(encoder: Encoder, method: str) -> None:
    if not encoder.trainable:
        raise ConfigError(
            f"{method} changes the encoder's weights, and {encoder.spec.name!r} gives frozen "
            f"embeddings only. Use a method that keeps it frozen ({', '.join(frozen_methods())}"
            "; with --base also maml and reptile, with --source the domain methods), or pick a "
            "trainable backbone (see `scarce backbones`)."
        )


def first_trained(net: Any, blocks: int, method: str, encoder: Encoder) -> int:
    """The index of the lowest unit that trains when the top `blocks` do; more than the
    encoder has trains them all, and says so (the knob's range cannot know the encoder)."""
    n_units = len(net.units)
    if blocks > n_units:
        log.warning(
            "%s: blocks=%d but %s has %d units; all %d train.",
            method,
            blocks,
            encoder.spec.name,
            n_units,
            n_units,
        )
    return n_units - min(blocks, n_units)


def token_limit(encoder: Encoder, requested: int, method: str) -> int:
    """Tokens kept per text: `requested`, but no more than the encoder reads (its tokenizer
    cuts there anyway); asking for more says so rather than recording a length never used."""
    limit = int(encoder.preprocessing().get("max_length") or requested)
    if requested > limit:
        log.warning(
            "%s: max_length=%d but %s reads at most %d tokens; texts are cut at %d.",
            method,
            requested,
            encoder.spec.name,
            limit,
            limit,
        )
    return min(requested, limit)


class PrefixCache:
    """States after the first `first` (frozen, hence pretrained) units, by content hash:
    evaluation fits hundreds of models on draws from the same pool, and the frozen part of
    the network would otherwise run again for every one of them."""

    def __init__(self, budget_bytes: int = 1 << 30) -> None:
        self.budget = budget_bytes
        self.used = 0
        self._d: OrderedDict[tuple[str, int, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, str]) -> dict[str, Any] | None:
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key: tuple[str, int, str], state: dict[str, Any]) -> None:
        size = sum(t.numel() * t.element_size() for t in state.values())
        with self._lock:
            if key in self._d or size > self.budget:
                return
            self._d[key] = state
            self.used += size
            while self.used > self.budget:
                _, old = self._d.popitem(last=False)
                self.used -= sum(t.numel() * t.element_size() for t in old.values())


prefix_cache = PrefixCache()


def prefix_states(
    net: Any,
    encoder: Encoder,
    items: Sequence[Any],
    hashes: Sequence[str] | None,
    first: int,
    *,
    max_tokens: int | None = None,
    desc: str = "",
) -> list[dict[str, Any]]:
    """Per example, the state after units [0, first) (no gradients). `hashes` (content
    hashes of unaugmented inputs) lets frozen results be shared across fits. Text is cut to
    `max_tokens` tokens (batches pad only to their longest example)."""
    import torch

    from scarce.encoders.staged import to_tensors

    out: list[dict[str, Any] | None] = [None] * len(items)
    todo = list(range(len(items)))
    if hashes is not None:
        keys = [(f"{encoder.key}:{max_tokens}", first, h) for h in hashes]
        for i, k in enumerate(keys):
            out[i] = prefix_cache.get(k)
        todo = [i for i in todo if out[i] is None]
    todo = [todo[j] for j in encoder.order(tuple(items[i] for i in todo))]  # pad less
    chunks = [todo[s : s + BATCH] for s in range(0, len(todo), BATCH)]
    was_training = net.training
    net.eval()
    # not inference_mode: training reads these tensors
    with torch.no_grad(), ThreadChooser() as threads:
        for idx in progress(chunks, desc=desc or "frozen layers", unit="batch"):
            batch = encoder.prepare(tuple(items[i] for i in idx))
            if max_tokens is not None:
                batch = {k: v[:, :max_tokens] if v.ndim == 2 else v for k, v in batch.items()}
            # text runs shortest first: time per padded token, not per example (review 37)
            work = int(batch["input_ids"].size) if "input_ids" in batch else len(idx)
            with threads.step(work):
                state = net.start(to_tensors(batch))
                for u in range(first):
                    state = net.run(state, u)
            for i, s in zip(idx, net.split(state), strict=True):
                s = {k: v.clone() for k, v in s.items()}  # own memory, not a view of the batch
                out[i] = s
                if hashes is not None and caching():
                    prefix_cache.put(keys[i], s)
    net.train(was_training)
    return [s for s in out if s is not None]


def embed_states(net: Any, states: list[dict[str, Any]], first: int) -> Any:
    """(n, dim) embeddings of cached states, in eval mode (batch norm must not update its
    statistics) and batches of BATCH. Call under no_grad / inference_mode."""
    import torch

    net.eval()
    return forward_sorted(net, states, first, BATCH) if states else torch.zeros((0, 0))


def forward_sorted(
    net: Any, states: list[dict[str, Any]], first: int, chunk: int | None = None
) -> Any:
    """Embeddings of `states`, in their order, computed in chunks of examples of similar
    size, so that text pads only to the longest of its chunk (a random batch of reviews
    pads to its longest, doing 2-3x the work). Gradients flow; the mode is the caller's.
    chunk None: a training batch, in chunks of TRAIN_CHUNK where sizes vary, else whole."""
    import torch

    sizes = [net.size(s) for s in states]
    whole = chunk is not None  # a pass over many examples, not one training batch
    if chunk is None:
        chunk = TRAIN_CHUNK if len(set(sizes)) > 1 else len(states)
    order = np.argsort(sizes, kind="stable")
    out = []
    # a training loop chooses its own thread count; a long pass (validation, prediction)
    # chooses here, per chunk
    with ThreadChooser(enabled=whole) as threads:
        for s in range(0, len(states), chunk):
            rows = order[s : s + chunk]
            picked = [states[i] for i in rows]
            work = len(picked) * max(1, max(sizes[i] for i in rows))  # text: padded tokens
            with threads.step(work):
                out.append(net.forward_from(net.collate(picked), first))
    return torch.cat(out)[torch.from_numpy(np.argsort(order))]


def freeze_batchnorm(net: Any) -> None:
    """Keep running statistics (and dropout-free BN behaviour) from pretraining: batches of a
    few examples would give useless estimates."""
    import torch

    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def set_trainable(net: Any, first: int) -> list[Any]:
    """Units [first, end) train; the rest are frozen. Returns the trainable parameters."""
    for i, unit in enumerate(net.units):
        for p in unit.parameters():
            p.requires_grad_(i >= first)
    return [p for u in net.units[first:] for p in u.parameters()]


def param_groups(
    net: Any,
    first: int,
    lr: float,
    decay: float,
    head: Any = None,
    head_lr: float = 0.0,
    wd: float = 0.0,
) -> list[dict[str, Any]]:
    """Discriminative learning rates: the top unit gets lr, each unit below decay times the
    one above (Howard & Ruder, ULMFiT, 2018); a new head its own rate and weight decay."""
    n = len(net.units)
    groups: list[dict[str, Any]] = [
        {"params": list(net.units[i].parameters()), "lr": lr * decay ** (n - 1 - i), "wd": 0.0}
        for i in range(first, n)
    ]
    if head is not None:
        groups.append({"params": list(head.parameters()), "lr": head_lr, "wd": wd})
    for g in groups:
        g["weight_decay"] = g.pop("wd")
        g["initial_lr"] = g["lr"]
    return groups


class L2SP:
    """lambda * ||theta - theta_pretrained||^2 over the transferred weights that train (Li et
    al., Explicit Inductive Bias for Transfer Learning with CNNs, ICML 2018)."""

    def __init__(self, params: list[Any], lam: float) -> None:
        self.params = params
        self.start = [p.detach().clone() for p in params]
        self.lam = lam

    def __call__(self) -> Any:
        total = sum(
            ((p - p0) ** 2).sum()
            for p, p0 in zip(self.params, self.start, strict=True)
            if p.requires_grad
        )
        return self.lam * total


def warmup_cosine(step: int, total: int, warmup: float) -> float:
    """Learning-rate factor: linear warm-up over the first `warmup` share of steps, then a
    cosine decay to zero."""
    w = max(1, round(total * warmup))
    if step < w:
        return (step + 1) / w
    return 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, total - w)))


def schedule(opt: Any, step: int, total: int, warmup: float) -> None:
    """Set every parameter group's rate to its initial rate times warmup_cosine."""
    factor = warmup_cosine(step, total, warmup)
    for g in opt.param_groups:
        g["lr"] = g["initial_lr"] * factor


def batches(
    n: int, size: int, rng: np.random.Generator, weights: np.ndarray | None
) -> Iterator[np.ndarray]:
    """One epoch of index batches: a shuffle, or with `weights` a class-balanced draw with
    replacement (as many examples as there are)."""
    order = rng.choice(n, n, replace=True, p=weights) if weights is not None else rng.permutation(n)
    for s in range(0, n, size):
        check_time()  # --method auto's budget
        yield order[s : s + size]


class LinearHead:
    """The classifier on pooled embeddings: L2-normalize, centre, linear (as linear-probe)."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, shift: np.ndarray) -> None:
        import torch

        self.module = torch.nn.Linear(coef.shape[1], coef.shape[0])
        with torch.no_grad():
            self.module.weight.copy_(torch.from_numpy(np.asarray(coef, np.float32)))
            self.module.bias.copy_(torch.from_numpy(np.asarray(intercept, np.float32)))
        self.shift = torch.from_numpy(np.asarray(shift, np.float32))

    def __call__(self, emb: Any) -> Any:

        z = torch_unit_rows(emb) - self.shift
        return self.module(z)

    def parameters(self) -> Iterator[Any]:
        return self.module.parameters()


class TunedFitted:
    """A model whose encoder weights changed: the staged network (pretrained weights from the
    encoder's package + the units that trained, from the bundle) and the linear head."""

    def __init__(
        self,
        encoder: Encoder,
        classes: tuple[str, ...],
        net: Any,
        head: LinearHead,
        first: int,
        meta: dict[str, Any],
    ) -> None:
        self.encoder, self.classes, self.net, self.head = encoder, classes, net, head
        self.first, self.meta = first, meta
        self._onnx: tuple[Any, str] | None = None
        self.deployed = False  # loaded from a bundle: predicts through ONNX Runtime (images)

    def backend(self) -> tuple[Any, str] | None:
        """A loaded image bundle: the whole tuned network through ONNX Runtime, exported once
        per set of weights into the cache and checked against torch (torch's CPU depthwise
        convolutions made a tuned Lite0 2x slower than the frozen Lite2 teacher through ONNX
        Runtime). A model just fitted keeps torch: an export costs ~10 s and a cache file,
        too much for the one prediction an evaluation makes. Text keeps torch, where the
        frozen units' cached states are reused."""
        if self.encoder.spec.modality != "image" or not self.deployed or not self.tuned:
            return None
        if self._onnx is None:
            import hashlib

            from scarce.encoders.onnx import checked_backend, onnx_path
            from scarce.encoders.vision import pixels_module

            h = hashlib.sha256(f"{self.encoder.key}|{self.first}".encode())
            for i in range(self.first, len(self.net.units)):
                for name, p in self.net.units[i].state_dict().items():
                    h.update(f"{i}.{name}".encode())
                    h.update(p.detach().cpu().numpy().tobytes())
            path = onnx_path(self.encoder, tuned=h.hexdigest()[:24])
            self.net.eval()
            module = pixels_module(self.net, staged=True)
            self._onnx = checked_backend(
                lambda: module, self.encoder, path, f"tuned {self.encoder.spec.name}"
            )
        return self._onnx

    @property
    def tuned(self) -> bool:
        """Did any encoder unit train (False: the head alone, on the frozen encoder)?"""
        return self.first < len(self.net.units)

    def deploy(self) -> None:
        """Predict from now on as a loaded bundle does, with the ONNX session built now."""
        self.deployed = True
        self.backend()

    def embed(self, inputs: Inputs) -> np.ndarray:
        """Pooled embeddings with the tuned weights (frozen units' states are shared)."""
        import torch

        if not self.tuned and self.encoder.spec.modality == "image":
            return self.encoder.encode(inputs, desc="predicting")
        self.net.eval()
        fast = self.backend()
        if fast is not None and fast[1] == "onnxruntime":
            run = fast[0]
            out = [
                run(self.encoder.prepare(inputs.items[c : c + PREDICT_BATCH]))
                for c in range(0, len(inputs), PREDICT_BATCH)
            ]
            return (
                np.concatenate(out).astype(np.float32)
                if out
                else np.zeros((0, self.encoder.spec.dim), np.float32)
            )
        out = []
        for c in range(0, len(inputs), CHUNK):  # bounded memory on large prediction sets
            states = prefix_states(
                self.net,
                self.encoder,
                inputs.items[c : c + CHUNK],
                inputs.hashes[c : c + CHUNK],
                self.first,
                max_tokens=self.meta.get("max_tokens"),
                desc="predicting",
            )
            if states:
                with torch.inference_mode():
                    out.append(embed_states(self.net, states, self.first).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.encoder.spec.dim), np.float32)

    def predict_proba(self, inputs: Inputs) -> np.ndarray:
        import torch

        emb = torch.from_numpy(self.embed(inputs))
        with torch.inference_mode():
            logits = self.head(emb).numpy()
        return softmax(logits.astype(np.float64)).astype(np.float32)

    def export_module(self) -> Any:
        """The tuned network and its head as one module of the encoder's prepared batch."""
        import torch

        self.net.eval()
        net, head = self.net, self.head
        if self.encoder.spec.modality == "image":
            from scarce.encoders.vision import pixels_module

            embed = pixels_module(net, staged=True)
        else:

            class Tokens(torch.nn.Module):
                def __init__(self) -> None:
                    super().__init__()
                    self.net = net

                def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
                    return self.net({"input_ids": input_ids, "attention_mask": attention_mask})

            embed = Tokens()

        class Head(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.linear = head.module  # registered, so that export sees its weights

            def forward(self, emb: torch.Tensor) -> torch.Tensor:
                return torch.softmax(head(emb), dim=1)

        return with_head(embed, Head(), self.encoder.spec.modality, self.meta.get("max_tokens"))

    def state(self) -> State:
        tensors = {
            f"units.{i}.{name}": p.detach().numpy().copy()
            for i in range(self.first, len(self.net.units))
            for name, p in self.net.units[i].named_parameters()
        }
        tensors["head.weight"] = self.head.module.weight.detach().numpy().copy()
        tensors["head.bias"] = self.head.module.bias.detach().numpy().copy()
        tensors["head.shift"] = self.head.shift.numpy().copy()
        return tensors, {**self.meta, "first_trained_unit": self.first}

    @classmethod
    def from_state(
        cls,
        tensors: dict[str, np.ndarray],
        meta: dict[str, Any],
        encoder: Encoder,
        classes: tuple[str, ...],
    ) -> TunedFitted:
        import torch

        net = encoder.staged()  # type: ignore[attr-defined]
        first = int(meta["first_trained_unit"])
        expected = {
            f"units.{i}.{name}": p
            for i in range(first, len(net.units))
            for name, p in net.units[i].named_parameters()
        }
        given = {k for k in tensors if k.startswith("units.")}
        if given != set(expected):
            raise BundleError(
                f"the bundle's tuned weights do not match {encoder.spec.name!r}'s layers "
                f"({len(given ^ set(expected))} names differ): it was made with another "
                "version of the encoder. Fit it again."
            )
        with torch.no_grad():
            for k, p in expected.items():
                if tuple(tensors[k].shape) != tuple(p.shape):
                    raise BundleError(
                        f"tuned weight {k} has shape {tensors[k].shape}, the "
                        f"encoder's layer has {tuple(p.shape)}. Fit it again."
                    )
                p.copy_(torch.from_numpy(np.asarray(tensors[k], np.float32)))
        head = LinearHead(tensors["head.weight"], tensors["head.bias"], tensors["head.shift"])
        fitted = cls(encoder, classes, net.eval(), head, first, dict(meta))
        fitted.deployed = True
        return fitted
