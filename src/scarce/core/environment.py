"""What a run records about the software it ran on."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import sys
from pathlib import Path

_TRACKED = (
    "scarce",
    "numpy",
    "scikit-learn",
    "torch",
    "onnxruntime",
    "onnx",
    "transformers",
    "tokenizers",
    "safetensors",
    "pillow",
    "pandas",
)


def library_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _TRACKED:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def cache_dir() -> Path:
    """Where scarce keeps its caches: $SCARCE_CACHE_DIR, else $XDG_CACHE_HOME/scarce."""
    if d := os.environ.get("SCARCE_CACHE_DIR"):
        return Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "scarce"
