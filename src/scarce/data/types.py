"""The validated data types that methods and encoders see. Labels are ints inside; the class
names live beside them (and in the bundle), in a fixed order."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from scarce.core.hashing import combine, sha256_bytes, sha256_file, sha256_text

log = logging.getLogger(__name__)

Modality = Literal["image", "text"]
MODALITIES: tuple[str, ...] = ("image", "text")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(text: str) -> tuple[str, int]:
    """`text` with each lone UTF-16 surrogate (half an emoji, as JSON "\\ud800" from an
    exporter that cut one in two) made U+FFFD, and how many there were: no UTF-8 can hold
    them, so hashing, tokenizing and writing would all fail. JSON joins whole pairs into one
    character before this sees them."""
    return _LONE_SURROGATE.subn("\ufffd", text)


@dataclasses.dataclass(frozen=True, eq=False)
class Inputs:
    """Examples of one modality with a content hash each (the embedding-cache key).

    Images are file paths or uint8 arrays (H, W) / (H, W, C); texts are strings.
    """

    modality: Modality
    items: tuple[Any, ...]
    hashes: tuple[str, ...]
    names: tuple[str, ...]  # what a person calls each item: its path, or its row number

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, idx: Sequence[int] | np.ndarray) -> Inputs:
        idx = [int(i) for i in idx]
        return Inputs(
            self.modality,
            tuple(self.items[i] for i in idx),
            tuple(self.hashes[i] for i in idx),
            tuple(self.names[i] for i in idx),
        )

    @classmethod
    def from_texts(cls, texts: Sequence[str], names: Sequence[str] | None = None) -> Inputs:
        texts = tuple(texts)
        fixed = [without_lone_surrogates(t) if isinstance(t, str) else (t, 0) for t in texts]
        bad = [i for i, (_, n) in enumerate(fixed) if n]
        if bad:
            texts = tuple(t for t, _ in fixed)
            log.warning(
                "%d text(s) held lone UTF-16 surrogates (half an emoji, e.g. text %s); each "
                "became U+FFFD. Re-export the data with whole characters to keep them.",
                len(bad),
                names[bad[0]] if names is not None else bad[0],
            )
        return cls(
            "text",
            texts,
            tuple(sha256_text(t) for t in texts),
            tuple(names) if names is not None else tuple(str(i) for i in range(len(texts))),
        )

    @classmethod
    def from_images(cls, images: Sequence[Any]) -> Inputs:
        """Paths are hashed by file content, arrays by shape, dtype and bytes."""
        items: list[Any] = []
        hashes: list[str] = []
        names: list[str] = []
        for i, im in enumerate(images):
            if isinstance(im, str | Path):
                items.append(str(im))
                hashes.append(sha256_file(im))
                names.append(str(im))
            else:
                arr = np.ascontiguousarray(np.asarray(im))
                items.append(arr)
                hashes.append(sha256_bytes(f"{arr.shape}{arr.dtype}".encode() + arr.tobytes()))
                names.append(str(i))
        return cls("image", tuple(items), tuple(hashes), tuple(names))


@dataclasses.dataclass(frozen=True, eq=False)
class LabeledSet:
    inputs: Inputs
    y: np.ndarray  # int64, values index into `classes`
    classes: tuple[str, ...]
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.y)

    @property
    def modality(self) -> Modality:
        return self.inputs.modality

    def subset(self, idx: Sequence[int] | np.ndarray) -> LabeledSet:
        idx = np.asarray(idx, dtype=np.int64)
        return LabeledSet(self.inputs.subset(idx), self.y[idx], self.classes, self.source)

    def join(self, other: LabeledSet) -> LabeledSet:
        """Both sets' examples; `other` must use the same classes (see align_to)."""
        if other.classes != self.classes or other.modality != self.modality:
            raise ValueError("join needs sets with the same classes and modality")
        a, b = self.inputs, other.inputs
        inputs = Inputs(a.modality, a.items + b.items, a.hashes + b.hashes, a.names + b.names)
        return LabeledSet(inputs, np.concatenate([self.y, other.y]), self.classes, self.source)

    def counts(self) -> dict[str, int]:
        c = np.bincount(self.y, minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, c, strict=True)}

    def data_hash(self) -> str:
        """Order-independent hash of (content, label) pairs and the class list."""
        pairs = sorted(
            f"{h}:{self.classes[int(c)]}" for h, c in zip(self.inputs.hashes, self.y, strict=True)
        )
        return combine(["classes", *self.classes, "pairs", *pairs])

    def hash_record(self) -> dict[str, str]:
        """The content hash, and one of the examples in their order: with the seed, the order
        decides which examples each fold, split and batch draws (walk 41: the same target
        in another order chose step 900, not 1000, under the same record)."""
        pairs = zip(self.inputs.hashes, self.y, strict=True)
        order = [f"{h}:{self.classes[int(c)]}" for h, c in pairs]
        return {"sha256": self.data_hash(), "order_sha256": combine(["order", *order])}


@dataclasses.dataclass(frozen=True, eq=False)
class UnlabeledSet:
    inputs: Inputs
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.inputs)

    def record(self) -> dict[str, Any]:
        """Where it came from, its size, an order-independent hash of its contents and one of
        them in their order."""
        return {
            "source": self.source,
            "n": len(self),
            "sha256": combine(["unlabeled", *sorted(self.inputs.hashes)]),
            "order_sha256": combine(["unlabeled order", *self.inputs.hashes]),
        }
