"""The model bundle (`*.scarce`): the only code that writes or reads model files.

A zip (or a directory) holding `manifest.json` and `weights.safetensors` (plus optional
files such as `model.onnx`). The manifest records the sha256 of every other file and a
checksum of itself; loading verifies all of them, the format version and the member names,
and never unpickles anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from scarce import __version__
from scarce.core.atomic import atomic_write, check_writable
from scarce.core.errors import BundleError, ConfigError

FORMAT = "scarce-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
_MAX_MANIFEST = 16 << 20
_MAX_TOTAL = 8 << 30
# keys the writer sets itself; any value a caller passes (e.g. from a loaded manifest) is replaced
_OWN = ("format", "format_version", "scarce_version", "created", "files", "checksum")


def _checksum(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def write(
    path: str | Path,
    manifest: dict[str, Any],
    tensors: dict[str, np.ndarray],
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Write a bundle zip atomically: a crash leaves the old file or none, never half."""
    from safetensors.numpy import save

    path = check_target(path)
    files = {WEIGHTS: save({k: np.ascontiguousarray(v) for k, v in tensors.items()})}
    files.update(extra_files or {})
    for name in files:
        _check_member(name, path)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "scarce_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **{k: v for k, v in manifest.items() if k not in _OWN},
        "files": {n: hashlib.sha256(b).hexdigest() for n, b in sorted(files.items())},
    }
    manifest["checksum"] = _checksum(manifest)
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        for name, data in files.items():
            z.writestr(name, data)
    return path


def check_target(
    path: str | Path, inputs: tuple[str | Path | None, ...] = (), flag: str = ""
) -> Path:
    """Raise ConfigError if a bundle cannot be written at `path`: an unwritable place, one of
    the `inputs`, or an existing file that is not a bundle (a typo must not eat data)."""
    path = check_writable(path, inputs=inputs, flag=flag, example="model.scarce")
    # a .scarce file is ours even when damaged (re-creating it is the fix we advise)
    if path.is_file() and path.suffix.lower() != ".scarce" and not is_bundle(path):
        raise ConfigError(
            f"{path} exists and is not a scarce bundle; refusing to overwrite it. "
            "Choose another name, such as model.scarce."
        )
    return path


def is_bundle(path: str | Path) -> bool:
    """Whether `path` looks like a bundle (a zip or folder with a manifest); no checks."""
    path = Path(path)
    if path.is_dir():
        return (path / MANIFEST).is_file()
    try:
        with zipfile.ZipFile(path) as z:
            return MANIFEST in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def read(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(manifest, tensors) after every check; BundleError with the reason otherwise."""
    path = Path(path)
    manifest, files = _read_files(path)
    return manifest, _tensors(files[WEIGHTS], path)


def read_files(
    path: str | Path, prefix: str
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, bytes]]:
    """`read`, plus the other files under `prefix/` (a standalone bundle's backbone), keyed by
    their names inside that folder."""
    path = Path(path)
    manifest, files = _read_files(path)
    extra = {n[len(prefix) + 1 :]: b for n, b in files.items() if n.startswith(prefix + "/")}
    return manifest, _tensors(files[WEIGHTS], path), extra


def _tensors(data: bytes, path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    try:
        return load(data)
    except Exception as e:  # safetensors raises its own error types
        raise BundleError(f"{path}: weights.safetensors is unreadable ({e}).") from None


def _read_files(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    if not path.exists():
        raise BundleError(f"{path}: no such model bundle. Check the path (made by `scarce fit`).")
    raw = _read_dir(path) if path.is_dir() else _read_zip(path)
    if MANIFEST not in raw:
        raise BundleError(f"{path}: no manifest.json inside; this is not a scarce bundle.")
    try:
        manifest = json.loads(raw.pop(MANIFEST))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(
            f"{path}: manifest.json is corrupt ({e}). Re-create the bundle."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: not a scarce bundle (manifest has no format {FORMAT!r}).")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise BundleError(
            f"{path}: bundle format version {version!r} is not supported by scarce {__version__} "
            f"(reads 1..{FORMAT_VERSION}). Upgrade scarce (pip install -U scarce) or re-fit."
        )
    if manifest.get("checksum") != _checksum(manifest):
        raise BundleError(
            f"{path}: manifest.json was modified after the bundle was written "
            "(checksum mismatch). Re-create the bundle with `scarce fit`."
        )
    listed = manifest.get("files", {})
    for name in raw:
        if name not in listed:
            raise BundleError(f"{path}: unexpected file {name!r} not listed in the manifest.")
    for name, digest in listed.items():
        if name not in raw:
            raise BundleError(f"{path}: {name} is missing; the bundle is incomplete or truncated.")
        if hashlib.sha256(raw[name]).hexdigest() != digest:
            raise BundleError(
                f"{path}: {name} does not match its sha256 in the manifest; the "
                "file was changed or damaged. Re-create the bundle."
            )
    if WEIGHTS not in raw:
        raise BundleError(f"{path}: no {WEIGHTS} inside.")
    return manifest, raw


def _check_member(name: str, where: Path) -> None:
    p = PurePosixPath(name)
    if (
        not name
        or name.startswith(("/", "\\"))
        or "\\" in name
        or ".." in p.parts
        or p.is_absolute()
        or ":" in name
    ):
        raise BundleError(f"{where}: refusing member {name!r}: it points outside the bundle.")


def _read_zip(path: Path) -> dict[str, bytes]:
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        try:
            with open(path, "rb") as f:
                zip_like = f.read(2) == b"PK"
        except OSError:
            zip_like = True
        if not zip_like:
            raise BundleError(
                f"{path}: not a scarce bundle (not a zip file). Give the .scarce file that "
                "`scarce fit` wrote."
            ) from None
        raise BundleError(
            f"{path}: not a readable bundle ({e}); the file is truncated or "
            "corrupt. Re-create it with `scarce fit`."
        ) from None
    out: dict[str, bytes] = {}
    with z:
        infos = z.infolist()
        if sum(i.file_size for i in infos) > _MAX_TOTAL:
            raise BundleError(f"{path}: unpacks to more than {_MAX_TOTAL >> 30} GiB; refusing.")
        for info in infos:
            _check_member(info.filename, path)
            if info.is_dir():
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise BundleError(f"{path}: refusing symbolic link {info.filename!r}.")
            if info.filename == MANIFEST and info.file_size > _MAX_MANIFEST:
                raise BundleError(f"{path}: manifest.json is implausibly large; refusing.")
            try:
                out[info.filename] = z.read(info)
            # a damaged header can also name an unknown compression method
            # (NotImplementedError) or set the encryption flag (RuntimeError)
            except (
                zipfile.BadZipFile,
                OSError,
                EOFError,
                zlib.error,
                NotImplementedError,
                RuntimeError,
            ) as e:
                raise BundleError(
                    f"{path}: {info.filename} is damaged ({e}). Re-create the bundle."
                ) from None
    return out


def _read_dir(path: Path) -> dict[str, bytes]:
    out = {}
    root = path.resolve()
    for f in path.rglob("*"):
        if f.is_symlink() or not f.resolve().is_relative_to(root):
            raise BundleError(f"{path}: refusing {f}: it points outside the bundle.")
        if f.is_file():
            out[f.relative_to(path).as_posix()] = f.read_bytes()
    return out
