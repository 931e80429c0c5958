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
import os
import shutil
import tempfile
import time
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
ONNX = "model.onnx"  # from `scarce export`, with the tokenizer of a text model
ONNX_TOKENIZER = "model.tokenizer.json"
# checked by their hash on every load, but not held in memory: loading never uses them
_NOT_LOADED = frozenset({ONNX, ONNX_TOKENIZER})
_GRAPH_HINT = (
    " The model itself is intact: `scarce export` on this bundle puts a new graph in its place."
)
# what file managers drop into any folder they show: never part of a folder bundle
_DESKTOP_JUNK = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
_MAX_MANIFEST = 16 << 20
_MAX_TOTAL = 8 << 30
# keys the writer sets itself; any value a caller passes (e.g. from a loaded manifest) is replaced
_OWN = (
    "format",
    "format_version",
    "scarce_version",
    "created",
    "modified",
    "files",
    "checksum",
)


def _checksum(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def write(
    path: str | Path,
    manifest: dict[str, Any],
    tensors: dict[str, np.ndarray],
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Write a new bundle zip atomically: a crash leaves the old file or none, never half."""
    from safetensors.numpy import save

    path = check_target(path)
    files = {WEIGHTS: save({k: np.ascontiguousarray(v) for k, v in tensors.items()})}
    files.update(extra_files or {})
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "scarce_version": __version__,
        "created": _now(),
        **{k: v for k, v in manifest.items() if k not in _OWN},
    }
    if ONNX not in files:  # a loaded model saved anew: its graph was not carried over
        manifest.pop("onnx", None)
    _pack_zip(path, manifest, files)
    return path


def add_files(
    path: str | Path,
    files: dict[str, bytes],
    manifest_update: dict[str, Any],
    *,
    expect_weights: str | None = None,
) -> Path:
    """Add (or replace) `files` in an existing bundle, zip or folder, and merge
    `manifest_update` into its manifest; everything else stays as it was. The bundle is
    checked first, and with `expect_weights` (a sha256) it must still hold those weights. A
    zip is rewritten atomically, a folder whole beside itself and swapped in."""
    if WEIGHTS in files or MANIFEST in files:
        raise ValueError("add_files does not replace the weights or the manifest")
    check_can_add(path)
    path = Path(os.path.realpath(path))  # through a link, the bundle it names is updated
    # a damaged graph is what this call replaces: it must not stop it
    manifest, raw = _read_files(path, keep_all=True, spare_graph=True)
    if expect_weights is not None and manifest["files"].get(WEIGHTS) != expect_weights:
        raise BundleError(
            f"{path} changed while it was being read (its weights are not the ones loaded); "
            "nothing was added. Run the command again."
        )
    manifest = {k: v for k, v in manifest.items() if k not in ("files", "checksum")}
    manifest.update({k: v for k, v in manifest_update.items() if k not in _OWN})
    manifest["modified"] = _now()
    if path.is_dir():
        _swap_dir(path, manifest, {**raw, **files})
    else:
        mode = path.stat().st_mode & 0o7777
        _pack_zip(path, manifest, {**raw, **files})
        path.chmod(mode)  # a private bundle stays private
    return path


def check_can_add(path: str | Path, doing: str = "add files to") -> None:
    """ConfigError unless files can be added to the bundle at `path`: it is rewritten beside
    itself, so its folder must take a new file, and a read-only bundle stays as it is (by
    its mode bits: root may write anything, but they still say what the owner meant)."""
    real = Path(os.path.realpath(path))
    try:
        check_writable(real.parent / f".{real.name}.probe", flag="")
        if not (real.stat().st_mode & 0o222) or (
            real.is_dir() and any(not (f.stat().st_mode & 0o222) for f in real.iterdir())
        ):
            raise ConfigError(f"{path} is read-only")
    except ConfigError as e:
        raise ConfigError(f"cannot {doing} {path} ({str(e).rstrip('.')}).") from None


def _swap_dir(path: Path, manifest: dict[str, Any], files: dict[str, bytes]) -> None:
    """A folder bundle rewritten whole beside itself, then swapped in by two renames: files
    replaced one by one would leave a bundle whose hashes disagree if cut short."""
    for name in files:
        _check_member(name, path)
    _seal(manifest, files)
    new = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    old = new.with_name(new.name + ".old")
    try:
        for name, data in {MANIFEST: _dumps(manifest), **files}.items():
            (new / name).parent.mkdir(parents=True, exist_ok=True)
            (new / name).write_bytes(data)
            if (path / name).is_file():  # each file keeps its mode
                (new / name).chmod((path / name).stat().st_mode & 0o7777)
        new.chmod(path.stat().st_mode & 0o7777)
        os.replace(path, old)
        try:
            os.replace(new, path)
        except BaseException:
            os.replace(old, path)  # the bundle as it was
            raise
        _rmtree(old)
    finally:
        _rmtree(new)


def _rmtree(folder: Path) -> None:
    """Remove a folder we made, read-only copies included."""

    def writable_then_again(func: Any, p: str, _exc: Any) -> None:
        os.chmod(os.path.dirname(p), 0o700)
        os.chmod(p, 0o700)
        func(p)

    if folder.exists():
        shutil.rmtree(folder, onerror=writable_then_again)  # onexc: 3.12+


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _dumps(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, indent=2, sort_keys=True).encode()


def _seal(manifest: dict[str, Any], files: dict[str, bytes]) -> None:
    """List every file's sha256 in `manifest`, then its own checksum."""
    manifest["files"] = {n: hashlib.sha256(b).hexdigest() for n, b in sorted(files.items())}
    manifest["checksum"] = _checksum(manifest)


def _pack_zip(path: Path, manifest: dict[str, Any], files: dict[str, bytes]) -> None:
    """Write a bundle zip atomically: a crash leaves the old file or none, never half."""
    for name in files:
        _check_member(name, path)
    _seal(manifest, files)
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in {MANIFEST: _dumps(manifest), **files}.items():
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.external_attr = 0o644 << 16  # unzipped: readable like any saved file, not 0600
            # a graph is mostly float weights: deflate saves ~9% and costs every load a pass
            info.compress_type = zipfile.ZIP_STORED if name == ONNX else zipfile.ZIP_DEFLATED
            z.writestr(info, data)


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


def member_names(path: str | Path) -> list[str]:
    """The names of the files in a bundle, unchecked ([] when it is none)."""
    path = Path(path)
    if path.is_dir():
        return [f.relative_to(path).as_posix() for f in path.rglob("*") if f.is_file()]
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError):
        return []


def read(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(manifest, tensors) after every check; BundleError with the reason otherwise."""
    path = Path(path)
    manifest, files = _read_files(path)
    return manifest, _tensors(files[WEIGHTS], path)


def read_files(
    path: str | Path, prefix: str, *, spare_graph: bool = False
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, bytes]]:
    """`read`, plus the other files under `prefix/` (a standalone bundle's backbone), keyed by
    their names inside that folder. `spare_graph`: see `_read_files`."""
    path = Path(path)
    manifest, files = _read_files(path, spare_graph=spare_graph)
    extra = {n[len(prefix) + 1 :]: b for n, b in files.items() if n.startswith(prefix + "/")}
    return manifest, _tensors(files[WEIGHTS], path), extra


def _tensors(data: bytes, path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    try:
        return load(data)
    except Exception as e:  # safetensors raises its own error types
        raise BundleError(f"{path}: weights.safetensors is unreadable ({e}).") from None


class _Digest(str):
    """A member's sha256, read in place of its bytes (see _NOT_LOADED)."""


def _read_files(
    path: Path, keep_all: bool = False, spare_graph: bool = False
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(manifest, member bytes) after every check. `keep_all`: the graph's bytes too.
    `spare_graph`: a damaged, missing or unlisted graph is left out (with its manifest
    entries) instead of refused, for the export that replaces it."""
    if not path.exists():
        raise BundleError(f"{path}: no such model bundle. Check the path (made by `scarce fit`).")
    skip = frozenset() if keep_all else _NOT_LOADED
    spare = _NOT_LOADED if spare_graph else frozenset()
    raw = _read_dir(path, skip) if path.is_dir() else _read_zip(path, skip, spare)
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
    spared = []
    for name in raw:
        if name not in listed:
            if name in spare:
                spared.append(name)
                continue
            raise BundleError(
                f"{path}: unexpected file {name!r} not listed in the manifest (a write that "
                "was cut short, or a file put there by hand); remove it, or re-create the bundle."
                + (_GRAPH_HINT if name in _NOT_LOADED else "")
            )
    for name, digest in listed.items():
        got = raw.get(name)
        bad = got is None or (
            (got if isinstance(got, _Digest) else hashlib.sha256(got).hexdigest()) != digest
        )
        if bad and name in spare:
            spared.append(name)
        elif got is None:
            raise BundleError(
                f"{path}: {name} is missing; the bundle is incomplete or truncated."
                + (_GRAPH_HINT if name in _NOT_LOADED else "")
            )
        elif bad:
            raise BundleError(
                f"{path}: {name} does not match its sha256 in the manifest; the file was "
                "changed or damaged. "
                + (_GRAPH_HINT.strip() if name in _NOT_LOADED else "Re-create the bundle.")
            )
    if spared:
        manifest = {**manifest, "files": {n: h for n, h in listed.items() if n not in spared}}
        manifest.pop("onnx", None)
        raw = {n: b for n, b in raw.items() if n not in spared}
    if WEIGHTS not in raw:
        raise BundleError(f"{path}: no {WEIGHTS} inside.")
    return manifest, {n: b for n, b in raw.items() if not isinstance(b, _Digest)}


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


def _sha256(f: Any) -> _Digest:
    h = hashlib.sha256()
    while chunk := f.read(1 << 20):
        h.update(chunk)
    return _Digest(h.hexdigest())


def _read_zip(
    path: Path, skip: frozenset[str], spare: frozenset[str] = frozenset()
) -> dict[str, bytes]:
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
        # a bundle unzipped to look at and zipped again by a file manager (walk 31): its
        # desktop junk is not the bundle's, and one folder around it all is not either
        infos = [i for i in infos if not i.is_dir() and not _junk(i.filename)]
        prefix = _one_folder([i.filename for i in infos])
        for info in infos:
            name = info.filename[len(prefix) :]
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise BundleError(f"{path}: refusing symbolic link {info.filename!r}.")
            if name == MANIFEST and info.file_size > _MAX_MANIFEST:
                raise BundleError(f"{path}: manifest.json is implausibly large; refusing.")
            try:
                if name in skip:
                    with z.open(info) as member:
                        out[name] = _sha256(member)
                else:
                    out[name] = z.read(info)
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
                if name in spare:
                    continue  # left out: the caller replaces it
                fix = _GRAPH_HINT.strip() if name in _NOT_LOADED else "Re-create the bundle."
                raise BundleError(f"{path}: {info.filename} is damaged ({e}). {fix}") from None
    return out


def _junk(name: str) -> bool:
    """What a desktop adds to a folder or a zip of it: macOS's resource forks (__MACOSX/,
    ._*), .DS_Store, Thumbs.db, desktop.ini."""
    base = name.rsplit("/", 1)[-1]
    return name.startswith("__MACOSX/") or base.startswith("._") or base in _DESKTOP_JUNK


def _one_folder(names: list[str]) -> str:
    """'X/' when every member lies in one folder X that holds the manifest (a zip of the
    bundle's folder, not of its contents), else ''."""
    if not names or MANIFEST in names:
        return ""
    tops = {n.split("/", 1)[0] for n in names}
    top = tops.pop() + "/"
    if tops or not all(n.startswith(top) for n in names) or top + MANIFEST not in names:
        return ""
    return top


def _read_dir(path: Path, skip: frozenset[str]) -> dict[str, bytes]:
    out = {}
    root = path.resolve()
    for f in path.rglob("*"):
        if f.is_symlink() or not f.resolve().is_relative_to(root):
            raise BundleError(f"{path}: refusing {f}: it points outside the bundle.")
        if f.is_file() and not _junk(f.relative_to(path).as_posix()):
            name = f.relative_to(path).as_posix()
            if name in skip:
                with open(f, "rb") as member:
                    out[name] = _sha256(member)
            else:
                out[name] = f.read_bytes()
    return out
