"""`scarce export`: a bundle as one ONNX graph, from the encoder's prepared input to class
probabilities, checked against the bundle's own predictions before it is written.

Inputs are what the encoder's `prepare` makes: `pixels` float32 (batch, 3, S, S) for image
models (resized and normalised as the graph's `scarce.preprocessing` metadata says), or
`input_ids` and `attention_mask` int64 (batch, tokens) for text models, with the tokenizer
written beside the graph. The graph (and tokenizer) can also be put into the bundle itself.
The output is `probabilities` (batch, classes), in the order of the `scarce.classes`
metadata.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from scarce import __version__, bundle
from scarce.api import Model, as_inputs
from scarce.core.atomic import atomic_write_bytes
from scarce.core.errors import ScarceError
from scarce.core.progress import status
from scarce.encoders.base import transient
from scarce.encoders.onnx import ort_backend, to_onnx
from scarce.methods.base import not_exportable

TOLERANCE = 1e-4  # largest difference from the bundle's own probabilities
# in every graph's doc string, near the file's start (older exports' too): how `scarce
# export --onnx` knows a file it may replace
ONNX_MARK = b"Output probabilities: (batch, classes)."
# JPEG files are decoded at a reduced scale before the resize (fast, and what `scarce
# predict` does); up to 0.03 apart in probability without it on photos of 2x S and more
JPEG_DRAFT = "Image.draft('RGB', (S, S)) on a JPEG file right after opening it"


ONNX, TOKENIZER = bundle.ONNX, bundle.ONNX_TOKENIZER  # their names inside a bundle


def export_onnx(
    model: Model, out: str | Path | None = None, *, into: str | Path | None = None
) -> dict[str, Any]:
    """Write `model` as ONNX to `out` (and, for text, `<out stem>.tokenizer.json` beside it)
    and/or into the bundle `into` (as `model.onnx` and `model.tokenizer.json`, listed in its
    manifest under `onnx`); returns what was written. Nothing is written when the graph
    disagrees with the model."""
    import torch

    if out is None and into is None:
        raise ValueError("export_onnx needs `out`, `into` or both")
    fitted, enc, m = model.fitted, model.encoder, model.manifest
    make = getattr(fitted, "export_module", None)
    if enc is None or make is None:
        why = "it uses no pretrained encoder" if enc is None else "it has no graph form"
        raise not_exportable(m["method"], why)
    module = make().eval()
    sample = enc.example_items()
    example = {k: torch.from_numpy(v) for k, v in enc.prepare(sample[:2]).items()}
    with (
        tempfile.TemporaryDirectory(prefix="scarce-export-") as work,
        status("building the ONNX graph, checking it and writing it"),
    ):
        tmp = Path(work) / ONNX
        try:
            to_onnx(module, example, enc.onnx_dynamic_axes(), tmp, output_names=["probabilities"])
        except Exception as e:  # torch.onnx raises many kinds; the user needs one message
            raise ScarceError(
                f"ONNX export of this {m['method']} model failed ({type(e).__name__}: "
                f"{str(e)[:300]}); nothing was written. `scarce predict` and `scarce serve` "
                "still work; please report this with the bundle."
            ) from e
        with transient():  # the check's inputs are no user's data: keep them out of the cache
            want = fitted.predict_proba(as_inputs(list(sample), model.modality))
        got = ort_backend(tmp)(enc.prepare(sample))
        diff = float(np.abs(got - want).max())
        if not diff <= TOLERANCE:
            raise ScarceError(
                f"the exported graph's probabilities differ from the model's by {diff:.1e} "
                f"(> {TOLERANCE}); nothing was written. Please report this with the bundle."
            )
        text = enc.spec.modality == "text"
        tok_bytes = enc.tokenizer.to_str().encode() if text else b""
        graphs: dict[str | None, bytes] = {}  # by tokenizer name: an image graph is made once

        def graph(tokenizer: str | None) -> bytes:
            if tokenizer not in graphs:
                graphs[tokenizer] = _with_metadata(tmp, model, tokenizer)
            return graphs[tokenizer]

        written: dict[str, Any] = {"onnx": None, "tokenizer": None, "bundle": None}
        inside = TOKENIZER if text else None  # the tokenizer's name in the bundle
        inputs = _inputs_note(model, inside)
        if out is not None:
            out = Path(out)
            tok = out.with_name(out.stem + ".tokenizer.json") if text else None
            inputs = _inputs_note(model, tok.name if tok else None)
            atomic_write_bytes(out, graph(tok.name if tok else None))
            written.update(onnx=str(out), bytes=out.stat().st_size)
            if tok is not None:
                atomic_write_bytes(tok, tok_bytes)
                written["tokenizer"] = str(tok)
        if into is not None:
            files = {ONNX: graph(inside), **({TOKENIZER: tok_bytes} if text else {})}
            note = {
                "file": ONNX,
                "tokenizer": inside,
                "inputs": _inputs_note(model, inside),
                "max_abs_diff": diff,
                "scarce_version": __version__,
            }
            bundle.add_files(into, files, {"onnx": note}, expect_weights=_weights_sha(m))
            written.update(bundle=str(into), bundle_onnx_bytes=len(files[ONNX]))
    return {
        **written,
        "inputs": inputs,
        "max_abs_diff": diff,
        "checked_on": len(sample),
    }


def _weights_sha(manifest: dict[str, Any]) -> str:
    return str(manifest.get("files", {}).get(bundle.WEIGHTS, ""))


def _with_metadata(graph: Path, model: Model, tokenizer: str | None) -> bytes:
    """The graph with scarce's metadata: classes, method, backbone, preprocessing, inputs."""
    import onnx

    m, enc = model.manifest, model.encoder
    if enc is None:  # export_onnx refused it already
        raise ValueError("a model without an encoder has no graph")
    proto = onnx.load(str(graph))
    pre = dict(m.get("preprocessing", {}))
    if tokenizer is not None:  # walk 14: it named the bundle's file, not the one beside
        pre["tokenizer"] = tokenizer
    else:
        pre["jpeg_draft"] = JPEG_DRAFT
    meta = {
        "scarce.classes": json.dumps(list(model.fitted.classes)),
        "scarce.method": m["method"],
        "scarce.backbone": enc.spec.name,
        "scarce.version": str(m.get("scarce_version", "")),
        # the trained weights' sha256 in the bundle's manifest (stays when the graph is
        # put into the bundle, which changes the manifest's own checksum)
        "scarce.weights_sha256": _weights_sha(m),
        "scarce.preprocessing": json.dumps(pre),
        "scarce.inputs": _inputs_note(model, tokenizer),
    }
    if len(model.tasks) > 1:
        meta["scarce.tasks"] = f"the primary task only ({next(iter(model.tasks))})"
    for k, v in meta.items():
        p = proto.metadata_props.add()
        p.key, p.value = k, v
    # written before the graph (fields go in number order), so ONNX_MARK is near the start
    proto.doc_string = f"Exported by scarce {meta['scarce.version']}: {meta['scarce.inputs']}"
    return proto.SerializeToString()


def _inputs_note(model: Model, tokenizer: str | None) -> str:
    pre = model.manifest.get("preprocessing", {})
    if tokenizer is None:
        s = pre.get("size", "S")
        return (
            f"pixels: float32 (batch, 3, {s}, {s}), RGB (a JPEG file decoded with "
            f"Image.draft('RGB', ({s}, {s})) right after opening it; EXIF orientation applied, "
            "transparent pixels put on white, 16/32-bit integer images min-max scaled per "
            "image to 0..255 and truncated to uint8 first); "
            f"the centre square resized to {s} (PIL bicubic, reducing_gap=3; s = min(w, h), "
            "box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2) in floats, not "
            "rounded), scaled to "
            f"[0, 1], then (x - {pre.get('mean')}) / "
            f"{pre.get('std')} per channel. {ONNX_MARK.decode()}"
        )
    return (
        f"input_ids, attention_mask: int64 (batch, tokens) from {tokenizer} (the "
        "tokenizers library; it cuts at the model's length), padded with the pad id and mask "
        f"0. {ONNX_MARK.decode()}"
    )
