"""The method interface every transfer method implements, and the method registry.

A method is built from (config, encoder); `fit` gets validated data types, never paths or
flags, and returns a Fitted that predicts and exports its state as arrays + JSON metadata.
Only the bundle module touches files.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Protocol

import numpy as np

from scarce.core.config import Config
from scarce.core.errors import BundleError, ConfigError
from scarce.core.registry import Registry
from scarce.data.episodes import check_base
from scarce.data.types import Inputs, LabeledSet, UnlabeledSet
from scarce.encoders.base import Encoder

State = tuple[dict[str, np.ndarray], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    name: str
    modalities: tuple[str, ...]
    config: type[Config]
    method: type[Any]  # a class implementing Method
    fitted: type[Any]  # a class implementing Fitted
    summary: str
    paper: str = ""
    needs_unlabeled: bool = False
    # True: fit(..., unlabeled=...) makes use of extra unlabeled inputs (--unlabeled)
    uses_unlabeled: bool = False
    # knobs that act only on those inputs: set without them, they are said to do nothing
    unlabeled_knobs: tuple[str, ...] = ()
    uses_encoder: bool = True  # False: the method ignores pretrained encoders (baseline)
    tunes_encoder: bool = False  # True: changes encoder weights (slow; needs a torch encoder)
    # base data of other classes (--base): "no", "optional" or "required"; a method that takes
    # it implements meta_train(base, seed=...), called once before its fits
    base: str = "no"
    # True: adapts from a labeled source domain (--source) to the target data; implements
    # fit_domain(source, target, labeled_target=..., seed=...)
    domain: bool = False
    auto: bool = True  # False: --method auto does not try it (needs a teacher or other tasks)
    # True: a fit seeds torch's process-wide generator (dropout, initial weights, shuffles):
    # two at once on threads would draw from it in turn, and one seed would not give one
    # result, so an evaluation's parallel fits (--jobs) run these one at a time
    torch_seeded: bool = False


class Fitted(Protocol):
    classes: tuple[str, ...]

    def predict_proba(self, inputs: Inputs) -> np.ndarray:
        """(n, n_classes), rows sum to 1."""
        ...

    def state(self) -> State:
        """(tensors, meta). meta["validation"], when the fit held examples out to choose
        with, is what it measured on them: {"accuracy": ..., "n": ..., "how": ...}."""
        ...

    @classmethod
    def from_state(
        cls,
        tensors: dict[str, np.ndarray],
        meta: dict[str, Any],
        encoder: Encoder,
        classes: tuple[str, ...],
    ) -> Fitted: ...


class MetaLearner(Protocol):
    """A method that learns from base classes before it fits the user's (novel) classes."""

    def meta_train(self, base: LabeledSet, *, seed: int) -> dict[str, Any]: ...

    # what meta_train learned, as arrays and its record, and back (_meta_cache stores it)
    def meta_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]: ...

    def use_meta_state(self, tensors: dict[str, np.ndarray], record: dict[str, Any]) -> None: ...


class DomainLearner(Protocol):
    """A method that trains on a labeled source domain for an unlabeled (or barely labeled)
    target domain."""

    def fit_domain(
        self,
        source: LabeledSet,
        target: UnlabeledSet,
        *,
        labeled_target: LabeledSet | None = None,
        seed: int,
    ) -> Fitted: ...


class Method(Protocol):
    spec: ClassVar[MethodSpec]

    def __init__(self, config: Any, encoder: Encoder) -> None: ...

    def fit(
        self,
        train: LabeledSet,
        *,
        unlabeled: UnlabeledSet | None = None,
        val: LabeledSet | None = None,
        seed: int,
    ) -> Fitted: ...


methods: Registry[MethodSpec] = Registry("method")


def register_method(spec: MethodSpec) -> MethodSpec:
    spec.method.spec = spec  # type: ignore[misc]
    return methods.register(spec.name, spec)


class ArrayFitted:
    """A model kept as named numpy arrays on top of frozen encoder features: it predicts
    without torch and round-trips through a bundle by tensor name. A subclass gives
    `proba_from_features`, the names it needs (`tensor_names`) and its shape checks."""

    def __init__(
        self,
        encoder: Encoder,
        classes: tuple[str, ...],
        tensors: dict[str, np.ndarray],
        meta: dict[str, Any],
    ) -> None:
        self.encoder, self.classes, self.tensors, self.meta = encoder, classes, tensors, meta

    def proba_from_features(self, feats: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def torch_proba(self, t: dict[str, Any], feats: Any) -> Any:
        """`proba_from_features` in torch (`t`: the tensors), for ONNX export."""
        raise not_exportable(type(self).__name__, "its head has no torch form yet")

    def predict_proba(self, inputs: Inputs) -> np.ndarray:
        return self.proba_from_features(self.encoder.encode(inputs))

    def export_module(self) -> Any:
        head = torch_head(self.tensors, self.torch_proba)
        return with_head(self.encoder.torch_module(), head, self.encoder.spec.modality)

    def state(self) -> State:
        return dict(self.tensors), dict(self.meta)

    @classmethod
    def tensor_names(cls, meta: dict[str, Any]) -> tuple[str, ...]:
        raise NotImplementedError

    @classmethod
    def check_state(
        cls, tensors: dict[str, np.ndarray], meta: dict[str, Any], classes: tuple[str, ...]
    ) -> None:
        """Raise BundleError when the arrays do not fit the labels (all names are present)."""

    @classmethod
    def from_state(
        cls,
        tensors: dict[str, np.ndarray],
        meta: dict[str, Any],
        encoder: Encoder,
        classes: tuple[str, ...],
    ) -> Any:
        need = cls.tensor_names(meta)
        missing = [n for n in need if n not in tensors]
        if missing:
            raise BundleError(f"the bundle lacks the tensors {', '.join(missing)}.")
        cls.check_state(tensors, meta, classes)
        return cls(encoder, classes, {n: tensors[n] for n in need}, meta)


# --------------------------------------------------------------------------- ONNX export
# A Fitted that can be exported gives `export_module()`: one torch module from the encoder's
# prepared batch (pixels, or input_ids + attention_mask) to probabilities. Numpy heads are
# written once more in torch for it, beside their numpy code; `scarce export` checks the
# exported graph against `predict_proba` on sample inputs, so the two cannot drift apart.


def torch_head(tensors: dict[str, np.ndarray], fn: Any) -> Any:
    """A torch module computing `fn(t, features)`, `t` the named arrays as buffers."""
    import torch

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.names = {k: k.replace(".", "_") for k in tensors}
            for k, b in self.names.items():
                self.register_buffer(b, torch.from_numpy(np.asarray(tensors[k], np.float32)))

        def forward(self, feats: torch.Tensor) -> torch.Tensor:
            return fn({k: getattr(self, b) for k, b in self.names.items()}, feats)

    return Head()


def with_head(embed: Any, head: Any, modality: str, max_tokens: int | None = None) -> Any:
    """`head(embed(batch))` as a module with the encoder's named inputs; text is cut to
    `max_tokens` tokens inside the graph, as the model's own prediction cuts it."""
    import torch

    if modality == "image":

        class Image(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.embed, self.head = embed, head

            def forward(self, pixels: torch.Tensor) -> torch.Tensor:
                return self.head(self.embed(pixels=pixels))

        return Image()

    class Text(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed, self.head = embed, head

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            if max_tokens is not None:
                input_ids = input_ids[:, :max_tokens]
                attention_mask = attention_mask[:, :max_tokens]
            return self.head(self.embed(input_ids=input_ids, attention_mask=attention_mask))

    return Text()


def not_exportable(method: str, why: str) -> ConfigError:
    return ConfigError(
        f"{method} models cannot be exported to ONNX: {why}. `scarce predict`, `scarce serve` "
        "and scarce.load use them as they are. Every method with an encoder exports (all but "
        "the from-scratch baseline), on every backbone but multilingual-e5-small."
    )


def torch_softmax(logits: Any) -> Any:
    import torch

    return torch.softmax(logits, dim=1)


def torch_unit_rows(x: Any) -> Any:
    """`unit_rows` in torch (rows shorter than 1e-12 are divided by 1e-12, as there)."""
    import torch

    return torch.nn.functional.normalize(x, p=2.0, dim=1)


def unit_rows(x: np.ndarray, *, copy: bool = True) -> np.ndarray:
    """Each row scaled to unit L2 length (all-zero rows stay zero); copy=False scales x
    itself (a float array), saving an (n, d) temporary."""
    scale = 1 / np.maximum(np.sqrt(np.einsum("ij,ij->i", x, x)), 1e-12)
    if copy:
        return x * scale[:, None]
    x *= scale[:, None].astype(x.dtype, copy=False)
    return x


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def check_base_use(specs: dict[str, MethodSpec], base: LabeledSet | None, pool: LabeledSet) -> None:
    """Base data goes only where a method takes it, and a method that needs it gets it."""
    takers = [n for n, s in specs.items() if s.base != "no"]
    if base is None:
        need = [n for n, s in specs.items() if s.base == "required"]
        if need:
            raise ConfigError(
                f"{', '.join(need)} meta-train(s) on base data: give --base DATA (labeled "
                "examples of other classes than yours)."
            )
        return
    if not takers:
        raise ConfigError(
            "--base is used by protonet, simpleshot, maml and reptile; none of the methods "
            "asked for takes it. Add one of them, or drop --base."
        )
    check_base(base, pool)
