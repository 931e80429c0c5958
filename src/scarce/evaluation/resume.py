"""The finished fits of an evaluation, kept until it completes: `scarce eval` stopped part way
(Ctrl-C, a CI job's time limit, a crash) and run again with the same arguments fits only
what was left (walk 28: a SIGTERM after 15 minutes lost 14 finished fits of 30).

One folder per evaluation in the cache, named by everything that decides its fits: the data
(in order: splits are positions), the encoder's weights, the protocol's settings, the seed,
the library versions and scarce's own code. One `.npz` per fit: its arrays and its JSON
record, read back without pickle. The warnings a fit gave are kept with it and given again
when it is reused. The folder is removed when the evaluation completes."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from scarce import __version__
from scarce.core.environment import cache_dir
from scarce.core.hashing import combine, sha256_bytes, sha256_text
from scarce.core.logs import collect_warnings, say_again
from scarce.data.types import LabeledSet, UnlabeledSet

log = logging.getLogger(__name__)

FORMAT = 1
FOLDER = "eval-runs"
KEEP_DAYS = 14  # a run not resumed by then never will be
_ARRAYS = ("_support", "_proba")  # a record's arrays besides its per-item scores


@functools.cache
def code_hash() -> str:
    """scarce's own source: a changed method must not reuse what the old code fitted."""
    root = Path(__file__).resolve().parents[1]
    files = sorted(root.rglob("*.py"))
    return combine(f"{f.relative_to(root)}:{sha256_bytes(f.read_bytes())}" for f in files)


def ordered_hash(data: LabeledSet | UnlabeledSet | None) -> str | None:
    """Content in order, with labels: a data set's `data_hash` ignores order, but the
    splits name positions, so the same rows in another order are another evaluation."""
    if data is None:
        return None
    if isinstance(data, UnlabeledSet):
        return combine(["unlabeled", *data.inputs.hashes])
    return combine(
        ["classes", *map(str, data.classes), "rows"]
        + [f"{h}:{int(c)}" for h, c in zip(data.inputs.hashes, data.y, strict=True)]
    )


def _arrays_hash(arrays: dict[str, np.ndarray]) -> str:
    return combine(
        f"{k}:{a.dtype.str}:{a.shape}:{sha256_bytes(np.ascontiguousarray(a).tobytes())}"
        for k, a in sorted(arrays.items())
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


class FitStore:
    """Where an evaluation keeps its finished fits; `enabled=False` keeps nothing and
    reuses nothing."""

    def __init__(self, identity: dict[str, Any], *, enabled: bool = True) -> None:
        self.enabled = self.wanted = enabled  # `enabled` goes off when keeping fails
        ident = {"format": FORMAT, "scarce": __version__, "code": code_hash(), **identity}
        key = sha256_text(json.dumps(ident, sort_keys=True, default=_jsonable))
        self.folder = cache_dir() / FOLDER / key[:32]
        self.reused = 0
        self.kept = 0
        self.damaged: list[str] = []
        self._keys: list[str] = []
        self._lock = threading.Lock()
        if enabled:
            self._prune()

    @staticmethod
    def job_key(parts: dict[str, Any]) -> str:
        return sha256_text(json.dumps(parts, sort_keys=True, default=_jsonable))[:32]

    def announce(self, keys: list[str]) -> None:
        """This evaluation's fits (what `discard` removes); say how many another run of it
        left (before any is fitted)."""
        self._keys = list(keys)
        if not self.enabled or not self.folder.is_dir():
            return
        found = sum((self.folder / f"{k}.npz").exists() for k in keys)
        if found:
            log.warning(  # walk 30: the other run may still be going
                "resuming: %d of %d fits of this evaluation are kept from another run of it, "
                "stopped or still going (%s); each is reused with the warnings it gave. "
                "--no-resume fits them again.",
                found,
                len(keys),
                self.folder,
            )

    def run(self, key: str, fit: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The stored record under `key`, or `fit()`'s, stored."""
        if not self.enabled:
            return fit()
        path = self.folder / f"{key}.npz"
        if path.exists():
            rec = self._load(path)
            if rec is not None:
                with self._lock:
                    self.reused += 1
                return rec
        with collect_warnings() as said:
            rec = fit()
        self._save(path, rec, said)
        return rec

    def _save(self, path: Path, rec: dict[str, Any], said: list[dict[str, Any]]) -> None:
        plain = {k: v for k, v in rec.items() if not k.startswith("_")}
        arrays: dict[str, np.ndarray] = {}
        keys, scores = rec["_items"]
        arrays["items"] = np.asarray(keys)
        for metric, v in scores.items():
            arrays[f"item:{metric}"] = np.asarray(v)
        for name in _ARRAYS:
            if name in rec:
                arrays[name] = np.asarray(rec[name])
        meta = {
            "record": plain,
            "one_class": rec.get("_one_class"),
            "said": said,
            "sha256": _arrays_hash(arrays),  # a zip that reads well may still be altered
        }
        arrays["meta"] = np.frombuffer(
            json.dumps(meta, default=_jsonable).encode("utf-8"), dtype=np.uint8
        )
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        tmp = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # no fsync: an entry lost to a power cut is fitted again, and hundreds of
            # episode fits of a millisecond each must not wait on the disk
            fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.folder)
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
            os.replace(tmp, path)
        except OSError as e:  # a read-only or full cache costs the resume, not the run
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if self.enabled:
                log.warning(
                    "could not keep finished fits in %s (%s): a stopped run will start over.",
                    self.folder,
                    e,
                )
            self.enabled = False
            return
        with self._lock:
            self.kept += 1

    def _load(self, path: Path) -> dict[str, Any] | None:
        try:
            # our own handle: np.load leaves its file open when the zip is damaged
            with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode("utf-8"))
                rec = dict(meta["record"])
                metrics = [k for k in z.files if k.startswith("item:")]
                rec["_items"] = (z["items"], {k[5:]: z[k] for k in metrics})
                for name in _ARRAYS:
                    if name in z.files:
                        rec[name] = z[name]
                held = {k: z[k] for k in z.files if k != "meta"}
            if not metrics or "metrics" not in rec:
                raise ValueError("an incomplete entry")
            if meta.get("sha256") != _arrays_hash(held):
                raise ValueError("its arrays are not the ones written (sha256)")
            if meta.get("one_class") is not None:
                rec["_one_class"] = int(meta["one_class"])
            else:
                rec["_one_class"] = None
        except Exception as e:  # any damage: fit again, never trust it
            with self._lock:  # said together at the end: warnings_once would fold them
                self.damaged.append(f"{path.name} ({type(e).__name__}: {e})")
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        say_again(meta.get("said") or [])
        return rec

    @contextlib.contextmanager
    def session(self, total: int) -> Iterator[None]:
        """Around the fits: say which kept fits were unreadable (and fitted again), and if
        the fits stop early (Ctrl-C, an error), what is kept."""
        try:
            yield
            self._say_damaged()
        except BaseException:
            self._say_damaged()
            if self.enabled and self.kept + self.reused:
                log.warning(
                    "%d of %d fits are kept in %s: the same evaluation, run again, resumes "
                    "from them.",
                    self.kept + self.reused,
                    total,
                    self.folder,
                )
            raise

    def _say_damaged(self) -> None:
        if self.damaged:
            log.warning(
                "%d kept fit(s) in %s were unreadable and were fitted again: %s%s.",
                len(self.damaged),
                self.folder,
                "; ".join(self.damaged[:3]),
                " ..." if len(self.damaged) > 3 else "",
            )
            self.damaged = []

    def discard(self) -> None:
        """This evaluation's kept fits, and the folder once nothing else is in it: the fits
        of a stopped run with more methods or other settings stay for it (walk 30), until
        KEEP_DAYS. What was kept before a write failed goes too (walk 30: a full disk)."""
        if not self.wanted:
            return
        for k in self._keys:
            with contextlib.suppress(OSError):
                (self.folder / f"{k}.npz").unlink()
        with contextlib.suppress(OSError):
            self.folder.rmdir()

    @staticmethod
    def _prune() -> None:
        """Runs never resumed: left for good otherwise."""
        root = cache_dir() / FOLDER
        if not root.is_dir():
            return
        old = time.time() - KEEP_DAYS * 86400
        for d in root.iterdir():
            with contextlib.suppress(OSError):
                if d.is_dir() and d.stat().st_mtime < old:
                    shutil.rmtree(d, ignore_errors=True)
