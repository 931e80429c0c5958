"""Content-addressed embedding cache in SQLite.

Key: encoder key (id + weights hash + preprocessing) and the input's content hash. SQLite
commits are atomic, so a crash mid-write loses at most the batch in flight, never the file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import numpy as np

from scarce.core.environment import cache_dir

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS emb (
    encoder TEXT NOT NULL, content TEXT NOT NULL, vec BLOB NOT NULL,
    PRIMARY KEY (encoder, content)
) WITHOUT ROWID
"""
_CHUNK = 500  # SQLite's host-parameter limit is generous, but keep statements small


def _unwritable(path: Path) -> bool:
    """The cache's folder cannot be written (tried by `check_writable`, not read from mode
    bits: root passes those, an immutable or read-only-mounted folder does not), or the
    file cannot."""
    from scarce.core.atomic import check_writable
    from scarce.core.errors import ConfigError

    try:
        check_writable(path, flag="")
    except ConfigError:
        return True
    return path.exists() and not os.access(path, os.W_OK)


class EmbeddingCache:
    _instances: ClassVar[dict[Path, EmbeddingCache]] = {}
    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open(path)
        except (OSError, sqlite3.DatabaseError) as e:
            if _unwritable(path):
                # walk 24: a read-only cache folder was taken for a corrupt database, and
                # moving it aside failed: every fit that encodes crashed
                log.warning(
                    "embedding cache %s cannot be written (%s); using one in memory for this "
                    "run (set SCARCE_CACHE_DIR to a writable folder to keep embeddings "
                    "between runs).",
                    path,
                    e,
                )
                self._db = self._open(Path(":memory:"))
            elif isinstance(e, sqlite3.DatabaseError):  # not a database any more: set aside
                aside = path.with_suffix(f".corrupt-{int(time.time())}")
                path.rename(aside)
                log.warning(
                    "embedding cache %s is unreadable (%s); moved it to %s and started an "
                    "empty one (embeddings will be recomputed).",
                    path,
                    e,
                    aside,
                )
                self._db = self._open(path)
            else:
                raise

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=60, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(_SCHEMA)
        db.commit()
        return db

    @classmethod
    def default(cls) -> EmbeddingCache:
        path = cache_dir() / "embeddings.sqlite"
        with cls._lock:
            if path not in cls._instances:
                cls._instances[path] = cls(path)
            return cls._instances[path]

    def get_many(self, encoder: str, contents: Iterable[str], dim: int) -> dict[str, np.ndarray]:
        keys = list(contents)
        out: dict[str, np.ndarray] = {}
        for s in range(0, len(keys), _CHUNK):
            part = keys[s : s + _CHUNK]
            marks = ",".join("?" * len(part))
            q = f"SELECT content, vec FROM emb WHERE encoder=? AND content IN ({marks})"
            for content, blob in self._db.execute(q, [encoder, *part]):
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape == (dim,):  # a row of the wrong size is ignored and recomputed
                    out[content] = vec
        return out

    def put_many(self, encoder: str, vectors: dict[str, np.ndarray]) -> None:
        rows = [(encoder, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in vectors.items()]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?, ?)", rows)

    def count(self, encoder: str | None = None) -> int:
        if encoder is None:
            return self._db.execute("SELECT COUNT(*) FROM emb").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM emb WHERE encoder=?", [encoder]).fetchone()[0]
