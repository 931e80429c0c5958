"""Write files so that a crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from scarce.core.errors import ConfigError


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Yield a temporary file beside `path`; rename it into place only if the block succeeds.
    (User-named outputs are checked first with `check_writable`; caches need no probe.)"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a saved file should not be
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _sweep_stale(path)


STALE_SECONDS = 24 * 3600  # no write of ours takes a day: such a temporary was orphaned


def _sweep_stale(path: Path) -> None:
    """Remove the temporaries a killed write (kill -9, power loss) left beside `path`: a
    91 MB model.onnx copy stayed for good (walk 16). Young ones may be another writer's."""
    now = time.time()
    for old in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > STALE_SECONDS:
                old.unlink()


def check_writable(
    path: str | Path,
    *,
    inputs: tuple[str | Path | None, ...] = (),
    flag: str = "--out",
    example: str = "out",
    ours: bytes | re.Pattern[bytes] | None = None,
) -> Path:
    """Raise ConfigError now if `path` cannot be written or would replace an input, so that
    a bad name fails before the work rather than after it (and never eats the user's data).
    With `ours`, an existing file is replaced only when its start holds those bytes, or
    begins with what that pattern matches (what this command writes): a typo must not
    replace some other file."""
    path = Path(path)
    name = f"{flag} {path}" if flag else str(path)
    if path.is_dir():
        raise ConfigError(f"{name} is a folder; give a file name such as {path / example}.")
    for given in inputs:
        if (
            given is not None
            and path.exists()
            and Path(given).exists()
            and os.path.samefile(path, given)
        ):
            raise ConfigError(
                f"{name} is also an input; writing it would replace your data. Choose another name."
            )
    if ours is not None and path.is_file() and not _starts_with_ours(path, ours):
        raise ConfigError(
            f"{name} exists and is not a file that scarce wrote; refusing to overwrite it. "
            f"Choose another name, such as {path.with_name(example)}."
        )
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"{name}: {folder} is a file, not a folder.")
    try:  # os.access says yes to root even on read-only or virtual file systems
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError("permission denied")
        fd, probe = tempfile.mkstemp(prefix=".scarce-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(
            f"{name}: cannot write in {folder} ({e.strerror or e}). "
            "Choose a folder you can write to."
        ) from None
    return path


def _starts_with_ours(path: Path, ours: bytes | re.Pattern[bytes]) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return True  # unreadable: the write itself will say why
    if not head.strip():
        return True
    if isinstance(ours, re.Pattern):  # walk 27: a word anywhere in a data set is no mark
        return ours.match(head) is not None
    return ours in head


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)
