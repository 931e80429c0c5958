"""Encoder specs, the registry, and the shared encode path (cache -> ONNX Runtime or torch).

A spec is light (no torch import) so that `scarce backbones` is instant; the factory named in
the spec builds the real encoder on demand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from scarce.core.errors import EncoderUnavailable
from scarce.core.progress import progress
from scarce.core.registry import Registry
from scarce.data.scripts import (
    ACCENTED,
    LANGUAGE_NAMES,
    accent_share,
    language_mix,
    likely_language,
    share_mostly_in,
)
from scarce.data.types import Inputs, Modality

log = logging.getLogger(__name__)

# Held while an encoder builds its torch module. Parallel fits (eval --jobs) reach it at once,
# and transformers' lazy import is not thread-safe ("has no attribute 'AutoModel'"); one
# load also keeps stdout redirections (efficientnet prints on load) from interleaving.
LOAD_LOCK = threading.RLock()


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
    name: str
    modality: Modality
    dim: int
    params: int
    licence: str
    requires: tuple[str, ...]  # import names that must be present
    pip: str  # the line that installs it
    factory: str  # "module:function" building the Encoder
    description: str = ""
    languages: tuple[str, ...] = ()
    default: bool = False
    distributions: tuple[str, ...] = ()  # installed packages that cannot be imported (data)
    size_mb: float | None = None  # on disk, when not float32 weights (params * 4 bytes)
    language_note: str = ""  # when `languages` lists only some of what it covers
    trainable: bool = True  # False: frozen embeddings only (finetune, setfit refuse it)

    @property
    def disk_mb(self) -> float:
        return self.size_mb if self.size_mb is not None else self.params * 4 / 1e6

    def installed(self) -> bool:
        import importlib.metadata as md

        if not all(importlib.util.find_spec(m) is not None for m in self.requires):
            return False
        try:
            for d in self.distributions:
                md.distribution(d)
        except md.PackageNotFoundError:
            return False
        return True


encoders: Registry[EncoderSpec] = Registry("encoder")


def register_encoder(spec: EncoderSpec) -> EncoderSpec:
    return encoders.register(spec.name, spec)


def default_encoder(modality: Modality) -> str:
    for spec in encoders:
        if spec.modality == modality and spec.default:
            return spec.name
    raise EncoderUnavailable(f"no default encoder for {modality}")


_live: dict[str, Encoder] = {}
_local = threading.local()


@contextlib.contextmanager
def transient() -> Iterator[None]:
    """In this block, on this thread, embeddings skip the on-disk cache and tuned networks'
    frozen states the in-memory one: a service's inputs would grow them without end.
    (Encoders are shared within a process, so this cannot be a flag on the encoder.)"""
    before = getattr(_local, "transient", False)
    _local.transient = True
    try:
        yield
    finally:
        _local.transient = before


def caching() -> bool:
    """May embeddings and frozen states be kept for later (False inside `transient`)?"""
    return not getattr(_local, "transient", False)


def create_encoder(name: str) -> Encoder:
    """Build (once per process) the encoder registered as `name`."""
    spec = encoders.get(name)
    if name not in _live:
        if not spec.installed():
            raise EncoderUnavailable(
                f"encoder {name!r} is not installed. Install it with: {spec.pip}"
            )
        mod, fn = spec.factory.split(":")
        _live[name] = getattr(importlib.import_module(mod), fn)(spec)
    return _live[name]


_bundled: dict[str, Encoder] = {}


def can_bundle(name: str) -> bool:
    """Whether a standalone bundle can carry this encoder (its module rebuilds it from files)."""
    return hasattr(importlib.import_module(encoders.get(name).factory.split(":")[0]), "from_files")


def encoder_from_files(name: str, files: dict[str, bytes], weights_sha256: str) -> Encoder:
    """The encoder registered as `name`, rebuilt from the files a standalone bundle holds
    (once per process and weights); its code packages must be installed, its weights
    package need not be."""
    spec = encoders.get(name)
    key = f"{name}:{weights_sha256}"
    if key not in _bundled:
        if not can_bundle(name):
            raise EncoderUnavailable(f"{name} cannot be rebuilt from a bundle's files.")
        mod = importlib.import_module(spec.factory.split(":")[0])
        _bundled[key] = mod.from_files(spec, files, weights_sha256)
    return _bundled[key]


class Encoder:
    """A frozen pretrained encoder. Subclasses provide the torch module and the preprocessing;
    this class owns batching, the embedding cache and the choice of ONNX Runtime or torch."""

    batch_size = 32

    @property
    def trainable(self) -> bool:
        """False where there is no torch module to update (finetune refuses)."""
        return self.spec.trainable

    def __init__(self, spec: EncoderSpec) -> None:
        self.spec = spec
        self.forward_calls = 0  # batches actually run through a network (tests count them)
        self._backend: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None
        self.backend_name = ""
        self._memo: _Memo | None = None

    @contextlib.contextmanager
    def memoized(self) -> Iterator[None]:
        """Keep embeddings in memory for the block: evaluation asks for the same examples
        hundreds of times, and even an SQLite lookup per example adds up."""
        outer = self._memo
        self._memo = _Memo(self.spec.dim) if outer is None else outer
        try:
            yield
        finally:
            self._memo = outer

    # --- to implement -------------------------------------------------------------
    def weights_sha256(self) -> str:
        raise NotImplementedError

    def preprocessing(self) -> dict[str, Any]:
        """JSON-able description of the preprocessing; part of the cache key and the bundle."""
        raise NotImplementedError

    def torch_module(self) -> Any:
        """An nn.Module in eval mode mapping the prepared batch (as tensors) to embeddings."""
        raise NotImplementedError

    def prepare(self, items: tuple[Any, ...]) -> dict[str, np.ndarray]:
        """Preprocess a batch of raw items into named model inputs."""
        raise NotImplementedError

    def staged(self) -> Any:
        """A trainable deep copy of the network cut into units (see encoders/staged.py)."""
        raise NotImplementedError(f"{self.spec.name} cannot be fine-tuned")

    def onnx_dynamic_axes(self) -> dict[str, dict[int, str]]:
        raise NotImplementedError

    def example_items(self) -> tuple[Any, ...]:
        """A few varied raw inputs for the ONNX export and its check against torch."""
        raise NotImplementedError

    def bundle_files(self) -> dict[str, bytes]:
        """The files that rebuild this encoder without its weights package (`scarce fit
        --standalone`), read back by its module's `from_files`."""
        raise EncoderUnavailable(
            f"{self.spec.name}'s weights cannot be copied into a bundle: save without "
            "--standalone (the bundle then records their sha256 and its pip line)."
        )

    def order(self, items: tuple[Any, ...]) -> np.ndarray:
        """Processing order (text sorts by length to pad less); identity by default."""
        return np.arange(len(items))

    # --- shared -------------------------------------------------------------------
    @property
    def key(self) -> str:
        """Cache namespace: encoder id + weights + preprocessing."""
        from scarce.core.hashing import combine

        pre = combine(sorted(f"{k}={v}" for k, v in self.preprocessing().items()))
        return f"{self.spec.name}:{self.weights_sha256()[:16]}:{pre[:12]}"

    def backend(self) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
        if self._backend is None:
            from scarce.encoders.onnx import make_backend

            self._backend, self.backend_name = make_backend(self)
        return self._backend

    def encode(self, inputs: Inputs, *, use_cache: bool = True, desc: str = "") -> np.ndarray:
        """Embeddings (n, dim) float32; cached examples are not encoded again."""
        if inputs.modality != self.spec.modality:
            from scarce.core.errors import DataError

            raise DataError(
                f"encoder {self.spec.name!r} takes {self.spec.modality} inputs, got "
                f"{inputs.modality}. Pick a {inputs.modality} encoder with --backbone."
            )
        out = np.empty((len(inputs), self.spec.dim), dtype=np.float32)
        cache = None
        memo = self._memo
        if memo is not None and len(inputs):
            known = memo.get(inputs.hashes)
            if known is not None:
                return known
        found: dict[str, np.ndarray] = {}
        if use_cache and caching():
            from scarce.encoders.cache import EmbeddingCache

            cache = EmbeddingCache.default()
            found = cache.get_many(self.key, set(inputs.hashes), self.spec.dim)
        todo: dict[str, Any] = {}
        for h, item in zip(inputs.hashes, inputs.items, strict=True):
            if h not in found and h not in todo:
                todo[h] = item
        if todo:
            found.update(self._run(todo, desc or f"encoding with {self.spec.name}", cache))
        for i, h in enumerate(inputs.hashes):
            out[i] = found[h]
        if memo is not None:
            memo.add(found)
        return out

    def _run(self, todo: dict[str, Any], desc: str, cache: Any) -> dict[str, np.ndarray]:
        hashes = list(todo)
        items = tuple(todo.values())
        order = self.order(items)
        run = self.backend()
        result: dict[str, np.ndarray] = {}
        chunks = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        unit = "image" if self.spec.modality == "image" else "text"

        def prepare(idx: np.ndarray) -> dict[str, np.ndarray]:
            return self.prepare(tuple(items[i] for i in idx))

        # Decode/tokenize the next batch in a thread while the network runs on this one
        # (PIL and tokenizers release the GIL).
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(prepare, chunks[0])
            sizes = [len(c) for c in chunks]
            for k in progress(range(len(chunks)), desc=desc, unit=unit, sizes=sizes):
                batch_in = pending.result()
                if k + 1 < len(chunks):
                    pending = pool.submit(prepare, chunks[k + 1])
                emb = run(batch_in)
                self.forward_calls += 1
                batch = {hashes[i]: emb[j] for j, i in enumerate(chunks[k])}
                if cache is not None:
                    cache.put_many(self.key, batch)  # per batch: a crash keeps what was done
                result.update(batch)
        return result


class _Memo:
    """Embeddings held in memory as rows of one matrix: a lookup is one fancy index, not a
    stack of arrays (an episodic evaluation looks up ~100 examples thousands of times)."""

    def __init__(self, dim: int) -> None:
        self.index: dict[str, int] = {}
        self.matrix = np.empty((0, dim), np.float32)

    def add(self, found: dict[str, np.ndarray]) -> None:
        new = [h for h in found if h not in self.index]
        if new:
            start = len(self.matrix)
            self.index.update((h, start + i) for i, h in enumerate(new))
            self.matrix = np.concatenate([self.matrix, np.stack([found[h] for h in new])])

    def get(self, hashes: tuple[str, ...]) -> np.ndarray | None:
        """The rows of these examples, or None when any is not held."""
        try:
            rows = [self.index[h] for h in hashes]
        except KeyError:
            return None
        return self.matrix[rows]


def language_gap(
    spec: EncoderSpec, texts: Sequence[str], sample: int = 500, tunes: bool = False
) -> str | None:
    """A warning when many of the texts are mostly outside the Latin script and the encoder
    was trained on English alone (walk 9: Chinese topics, minilm-l6 0.32 against 0.74 with
    multilingual-e5-small, and nothing said so); None otherwise. Counted per text, so that
    half-English, half-Chinese data warns too. `tunes`: the method changes the encoder, so
    the encoder advised must be trainable, or the method changed."""
    if spec.modality != "text" or set(spec.languages) != {"en"}:
        return None
    share = share_mostly_in(texts[:sample], _non_latin)
    # "may": walk 9 measured 0.32 against 0.74 on Chinese chat topics, walk 25 0.700 against
    # 0.658 the other way on classical Chinese poetry
    if share >= 0.3:
        what = f"{round(100 * share)}% of these texts are mostly in a script other than Latin"
        expect = "little"
    elif (lang := likely_language(texts[:sample])) not in (None, "en"):
        # walk 17: Italian targets on minilm-l6 scored 0.455, 0.931 on multilingual-e5-small
        what = f"these texts look {LANGUAGE_NAMES[lang]} (by their commonest words)"
        others = [
            f"{LANGUAGE_NAMES[k]} {round(100 * v)}%"
            for k, v in language_mix(texts[:sample]).items()
            if v >= 0.1
        ]
        if len(others) > 1:
            what = (
                "these texts look like several languages ("
                + ", ".join(others)
                + " of those whose commonest words tell)"
            )
        expect = "less"
    elif lang is None and (accented := accent_share(texts[:sample]))[0] >= ACCENTED:
        # only where the words cannot tell: English sentences signed José or Zoë are English
        # (walk 30)
        # walk 29: addresses in 5 European languages (too few words to tell which) scored
        # 0.869 on minilm-l6 and 0.994 on multilingual-e5-small, with no word of it
        what = (
            f"{round(100 * accented[0])}% of these texts hold letters that English rarely "
            f"uses ({', '.join(accented[1])}), so they may not be English"
        )
        expect = "less"
    else:
        return None
    multi = [e for e in encoders if e.modality == "text" and len(e.languages) > 1 and e.installed()]
    fit = [e for e in multi if e.trainable or not tunes]
    if fit:
        then = (
            f"; pass --backbone {fit[0].name} (Python: backbone={fit[0].name!r}), trained on "
            "many languages (`scarce backbones` lists them)"
        )
    elif multi:  # walk 17: the advised backbone then refused finetune and setfit
        then = (
            f"; the encoder trained on many languages, {multi[0].name}, gives frozen embeddings "
            f"only, so methods that change the encoder (finetune, setfit) cannot use it: use "
            f"linear-probe --backbone {multi[0].name} (or another method that keeps the "
            "encoder frozen)"
        )
    else:
        then = "; `scarce backbones` lists the encoders and their languages"
    # walk 34: on Chinese chat topics, e5 + linear-probe lost to the character n-gram
    # baseline (0.704 against 0.773 at 30 per class), so the advice alone could mislead
    return (
        f"{what}, and {spec.name} was trained on English only: it may understand "
        f"{expect} of them{then}. Whichever encoder, compare it with the from-scratch baseline "
        "(scarce eval runs it beside every method): on some sets it does better."
    )


def _non_latin(text: str) -> int:
    """Letters outside the Latin script: ASCII, Latin-1, Extended-A/B, IPA, Extended
    Additional."""
    return sum(c.isalpha() and not (ord(c) < 0x2B0 or 0x1E00 <= ord(c) <= 0x1EFF) for c in text)
