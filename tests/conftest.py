"""Fixtures build tiny real data sets in tmp_path, from packages installed on disk."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# One cache per test session: encoders are exported to ONNX once, embeddings are reused.
_SESSION_CACHE = Path(os.environ.get("SCARCE_TEST_CACHE", "/tmp/scarce-test-cache"))
os.environ["SCARCE_CACHE_DIR"] = str(_SESSION_CACHE)


@pytest.fixture(autouse=True)
def _cli_state_does_not_leak():
    """A CLI call sets process-wide state (--quiet, the log level and a log handler on the
    captured stderr); undo it, so that no test depends on which ran before it."""
    import logging

    from scarce.core.progress import set_quiet

    yield
    set_quiet(False)
    logging.getLogger("scarce").setLevel(logging.NOTSET)
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, logging.StreamHandler) and getattr(h.stream, "closed", False):
            root.removeHandler(h)


@pytest.fixture(scope="session")
def fashion() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from scarce.data.public import fashion_mnist

    x, y = fashion_mnist("train")
    xt, yt = fashion_mnist("test")
    return x, y, xt, yt


@pytest.fixture(scope="session")
def fortunes_data() -> tuple[list[str], list[str]]:
    from scarce.data.public import fortunes

    return fortunes()


def write_image_folder(root: Path, images: np.ndarray, labels: list[str]) -> Path:
    for i, (im, lab) in enumerate(zip(images, labels, strict=True)):
        d = root / lab
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(d / f"{i}.png")
    return root


def fortunes_subset(
    fortunes_data: tuple[list[str], list[str]],
    per_class: int,
    seed: int,
    classes: tuple[str, ...] = ("food", "science", "sports"),
) -> tuple[list[str], list[str]]:
    """`per_class` random quotes of each class (texts, labels)."""
    texts, labels = fortunes_data
    g = np.random.default_rng(seed)
    keep = np.concatenate(
        [
            g.choice([i for i, lab in enumerate(labels) if lab == c], per_class, replace=False)
            for c in classes
        ]
    )
    return [texts[i] for i in keep], [labels[i] for i in keep]


def write_text_csv(path: Path, texts: list[str], labels: list[str] | None) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"] if labels is not None else ["text"])
        for i, t in enumerate(texts):
            w.writerow([t, labels[i]] if labels is not None else [t])
    return path


@pytest.fixture
def image_folder(tmp_path: Path, fashion) -> Path:
    """3 Fashion-MNIST classes x 6 images."""
    x, y, _, _ = fashion
    names = {0: "tshirt", 1: "trouser", 7: "sneaker"}
    idx = np.concatenate([np.flatnonzero(y == c)[:6] for c in names])
    return write_image_folder(tmp_path / "imgs", x[idx], [names[int(c)] for c in y[idx]])


@pytest.fixture
def text_csv(tmp_path: Path, fortunes_data) -> Path:
    texts, labels = fortunes_data
    g = np.random.default_rng(0)
    keep = []
    for c in ("science", "food", "sports"):
        keep += list(g.choice([i for i, lab in enumerate(labels) if lab == c], 8, replace=False))
    return write_text_csv(
        tmp_path / "train.csv", [texts[i] for i in keep], [labels[i] for i in keep]
    )
