"""Frozen feature extraction through ONNX Runtime: export the encoder once, check it against
torch, cache the file; fall back to torch (and say so) when any step fails."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scarce.core.atomic import atomic_write_bytes
from scarce.core.environment import cache_dir
from scarce.core.progress import status
from scarce.core.signals import interrupts_kept
from scarce.encoders.base import LOAD_LOCK

if TYPE_CHECKING:
    from scarce.encoders.base import Encoder

log = logging.getLogger(__name__)

TOLERANCE = 1e-4
Backend = Callable[[dict[str, np.ndarray]], np.ndarray]


def onnx_path(encoder: Encoder, tuned: str | None = None) -> Path:
    """The cached export of the encoder, or (tuned: a digest of its tuned weights) of a tuned
    copy of its network."""
    name = f"tuned-{tuned}" if tuned else encoder.key.replace(":", "-")
    return cache_dir() / "onnx" / f"{name}.onnx"


def make_backend(encoder: Encoder) -> tuple[Backend, str]:
    return checked_backend(encoder.torch_module, encoder, onnx_path(encoder), encoder.spec.name)


def checked_backend(
    module: Callable[[], Any], encoder: Encoder, path: Path, label: str
) -> tuple[Backend, str]:
    """ONNX Runtime for `module()`, a torch module of the encoder's prepared batch (the frozen
    encoder, or a tuned copy of its network): exported once to `path`, checked against torch,
    the outcome recorded beside it; torch (said) when any step fails, without retrying a
    failed export on every load."""
    if os.environ.get("SCARCE_BACKEND", "").lower() == "torch":
        log.info("%s: using torch (SCARCE_BACKEND=torch)", label)
        return _torch_runner(module()), "torch"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        log.warning(
            "%s: onnxruntime is not installed; falling back to torch (slower). "
            "pip install onnxruntime",
            label,
        )
        return _torch_runner(module()), "torch"
    meta_path = path.with_suffix(".json")
    for attempt in range(2):
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if not meta.get("ok"):
                log.warning(
                    "%s: ONNX export failed before (%s); falling back to torch. Delete %s to "
                    "retry.",
                    label,
                    meta.get("reason"),
                    meta_path,
                )
                return _torch_runner(module()), "torch"
        if not path.exists():
            log.info("%s: exporting to ONNX once (cached in %s)", label, path.parent)
            try:
                with status(f"{label}: preparing a fast CPU form, once"):
                    ok, reason, diff = _export_checked(module(), encoder, path)
                digest = hashlib.sha256(path.read_bytes()).hexdigest() if ok else None
                record = {"ok": ok, "reason": reason, "max_abs_diff": diff, "sha256": digest}
                atomic_write_bytes(meta_path, json.dumps(record).encode())
            except OSError as e:  # walk 24: a read-only cache folder crashed every fit
                log.warning(
                    "%s: cannot write the ONNX cache in %s (%s); using torch for this run (set "
                    "SCARCE_CACHE_DIR to a writable folder).",
                    label,
                    path.parent,
                    e,
                )
                return _torch_runner(module()), "torch"
            if not ok:
                log.warning("%s: %s; falling back to torch (slower).", label, reason)
                return _torch_runner(module()), "torch"
        try:
            data = path.read_bytes()
            # the graph that computes every feature is the one checked against torch at
            # export: a cached file changed since (walk 31: a parseable edit moved every
            # prediction, without a word) is exported again
            want = json.loads(meta_path.read_text()).get("sha256")
            if want != hashlib.sha256(data).hexdigest():
                raise _Changed("changed since it was exported" if want else "no sha256 recorded")
            return ort_backend(data), "onnxruntime"
        except Exception as e:  # changed, corrupt or unreadable: export it again, once
            path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            if attempt == 0:
                # a cache from before digests were recorded is no one's fault: said quietly
                old = isinstance(e, _Changed) and "no sha256" in str(e)
                level = logging.INFO if old else logging.WARNING
                log.log(level, "%s: the cached ONNX file cannot be used (%s); exporting it "
                        "again.", label, e)  # fmt: skip
                continue
            log.warning("%s: cannot load cached ONNX file (%s); falling back to torch.", label, e)
    return _torch_runner(module()), "torch"


class _Changed(Exception):
    """A cached graph whose bytes are not those recorded when it was exported and checked."""


def torch_backend(encoder: Encoder) -> Backend:
    return _torch_runner(encoder.torch_module())


def _torch_runner(module: Any) -> Backend:
    import torch

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            out = module(**{k: torch.from_numpy(v) for k, v in batch.items()})
        return out.float().numpy()

    return run


def ort_backend(path: Path | bytes) -> Backend:
    """ONNX Runtime on the graph in the file `path`, or on the graph's bytes."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # OMP_NUM_THREADS, when set, is the user's (or a benchmark's) limit; ONNX Runtime ignores it
    opts.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1
    opts.log_severity_level = 3
    model = path if isinstance(path, bytes) else str(path)
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        return sess.run(None, {k: batch[k] for k in names})[0]

    return run


def _export_checked(module: Any, encoder: Encoder, path: Path) -> tuple[bool, str, float | None]:
    """Export to ONNX and compare with torch on a batch of another size; (ok, reason, diff)."""
    import torch

    sample = encoder.example_items()
    example = {k: torch.from_numpy(v) for k, v in encoder.prepare(sample[:2]).items()}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        to_onnx(module, example, encoder.onnx_dynamic_axes(), tmp)
        check = encoder.prepare(sample)
        got = ort_backend(tmp)(check)
        want = _torch_runner(module)(check)
        diff = float(np.abs(got - want).max())
        if not diff <= TOLERANCE:
            return False, f"ONNX output differs from torch by {diff:.2e} > {TOLERANCE}", diff
        os.replace(tmp, path)
        return True, "", diff
    except Exception as e:
        return False, f"ONNX export failed ({type(e).__name__}: {str(e)[:200]})", None
    finally:
        tmp.unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            Path(str(tmp) + ".data").unlink()


def to_onnx(
    module: Any,
    example: dict[str, Any],
    axes: dict[str, dict[int, str]],
    out: Path,
    output_names: list[str] | None = None,
) -> None:
    """Export `module` (called with the named tensors of `example`) to `out`, the `axes` of
    each input dynamic."""
    import torch

    dims: dict[str, Any] = {}
    shapes = {
        name: {
            ax: dims.setdefault(d, torch.export.Dim(d, min=1, max=4096)) for ax, d in spec.items()
        }
        for name, spec in axes.items()
    }
    loggers = [logging.getLogger(n) for n in ("torch", "onnx_ir", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        # the lock: stdout and the warning filters are process-wide, parallel fits share them
        with (
            interrupts_kept(),
            LOAD_LOCK,
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            prog = torch.onnx.export(
                module,
                (),
                kwargs=example,
                dynamic_shapes=shapes,
                output_names=output_names,
                dynamo=True,
                external_data=False,
                optimize=True,
            )
    finally:
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)
    if prog is None:
        raise RuntimeError("torch.onnx.export returned no program")
    prog.save(str(out))
