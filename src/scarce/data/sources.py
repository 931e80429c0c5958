"""Reading the user's files into validated Inputs / LabeledSet. Every problem is found here,
before any training, and named by file and row with the fix."""

from __future__ import annotations

import difflib
import io
import json
import logging
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PureWindowsPath
from typing import Any, NoReturn

import numpy as np

from scarce.core.errors import DataError, LayoutError, UnusableImages
from scarce.core.hashing import sha256_bytes
from scarce.data.images import check_image_bytes, is_image_path
from scarce.data.types import Inputs, LabeledSet, Modality, without_lone_surrogates

log = logging.getLogger(__name__)

_PLAIN_INT = re.compile(r"0|-?[1-9][0-9]*")  # '007' is a name, not a number

TEXT_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",  # an array of objects, as pandas' to_json(orient="records") writes
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "lines",
}


def detect_modality(path: str | Path) -> Modality:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder. Check the path.")
    if p.is_dir() or is_image_path(p):
        return "image"
    kind = TEXT_EXTENSIONS.get(p.suffix.lower())
    if kind is None:
        what = f"unknown data format {p.suffix!r}" if p.suffix else "no file extension"
        raise DataError(
            f"{p}: {what}. scarce reads a folder of images (one sub-folder per class), image "
            "files, or a table named .csv, .tsv, .jsonl, .json or .parquet: rename the file to say "
            "which (e.g. data.csv)."
        )
    if kind in ("csv", "tsv"):
        df = _read_table(p, kind)
        header = df.columns
        if "path" in header and "text" not in header:
            return "image"
        if "path" in header:
            log.warning(
                "%s has both a 'text' and a 'path' column: read as text. Pass --modality image "
                "to use the images.",
                p,
            )
        elif "text" in header and (files := _image_file_columns(df)):
            log.warning(  # walk 16: said nothing, unlike 'path'
                "%s has a 'text' column and image files in %r: read as text. To use the images, "
                "rename %r to 'path' and pass --modality image.",
                p,
                files[0],
                files[0],
            )
    return "text"


# ---------------------------------------------------------------- labeled data


FRAME = "<DataFrame>"
STDIN = "-"  # a text file's name that reads standard input (scarce predict MODEL -)


def is_frame(x: Any) -> bool:
    """A pandas DataFrame (checked without importing pandas)."""
    return type(x).__module__.startswith("pandas") and hasattr(x, "columns")


def as_frame(x: Any) -> Any:
    """A Hugging Face `datasets.Dataset` (SetFit's input; walk 19) as the DataFrame it holds;
    anything else as it is."""
    if not type(x).__module__.startswith("datasets"):
        return x
    if isinstance(x, dict):  # a DatasetDict: which split is the user's to say
        raise DataError(
            f"got a {type(x).__name__} of splits {list(x)}: pass one of them, e.g. "
            f"ds[{next(iter(x), 'train')!r}] (and another as test=)."
        )
    features = getattr(x, "features", None)
    if not isinstance(features, dict):  # one column of a Dataset: its items, as they are
        return x
    images = [c for c, f in features.items() if type(f).__name__ == "Image"]
    if images:  # its table would hold encoded bytes; the column itself decodes them
        raise DataError(
            f"this Dataset holds images in column {images[0]!r}: pass them with their labels, "
            f"e.g. scarce.fit(ds[{images[0]!r}], ds['label'])."
        )
    if not hasattr(x, "to_pandas"):
        return x
    df = x.to_pandas()
    for c, f in features.items():  # a ClassLabel column holds ints; its names are the classes
        if type(f).__name__ == "ClassLabel" and c in df.columns:
            df[c] = [_class_label_name(f, v) for v in df[c]]
    return df


def _class_label_name(feature: Any, value: Any) -> str | None:
    """A ClassLabel's name for `value`; None (a missing label) for -1, HF's "no label"."""
    try:
        i = int(value)
    except (TypeError, ValueError):
        return None
    return feature.int2str(i) if 0 <= i < feature.num_classes else None


def load_labeled(
    path: str | Path | Any,
    *,
    modality: Modality | None = None,
    text_column: str = "text",
    label_column: str = "label",
    partial: bool = False,
) -> LabeledSet:
    """A labeled folder or table file, or a pandas DataFrame with the same columns (image
    paths in a DataFrame are relative to the working directory). `partial`: rows without a
    label are left out (a table's other label column, for multitask), not an error."""
    if is_frame(path):
        return _labeled_frame(
            _partial(path, label_column, partial), modality, text_column, label_column
        )
    p = Path(path)
    forced = modality is not None
    modality = modality or detect_modality(p)
    if modality == "image":
        if p.is_dir():
            return _image_folder(p)
        return _image_table(p, label_column, partial)
    df = _partial(_read_table(p, _text_kind(p)), label_column, partial)
    if not forced:
        _not_file_names(df, p, text_column, ("--text-column", "--modality text"))
    return _labeled_texts(df, p, text_column, label_column)


def _not_file_names(df: Any, p: Path, text_column: str, flags: tuple[str, str]) -> None:
    """Refuse a text column of image file names unless text was asked for: a text model on
    'img/circle_003.png' reads the label from the name (walk 29: test accuracy 1.000)."""
    if text_column in _image_file_columns(df):
        raise DataError(
            f"{p}: column {text_column!r} ({flags[0]}) holds image file names, not texts: a "
            f"text model would learn from the names. For an image model, rename "
            f"{text_column!r} to 'path' (paths relative to the table's folder) and drop "
            f"{flags[0]}; to read the names as texts after all, add {flags[1]}."
        )


def _partial(df: Any, label_column: str, partial: bool) -> Any:
    """`df` without its rows that have no label in `label_column` (when `partial`). Row
    numbers in later messages count the rows kept."""
    if not partial or label_column not in df.columns:
        return df
    keep = [not is_missing(v) for v in df[label_column].tolist()]
    if not any(keep):
        raise DataError(
            f"no row has a label in column {label_column!r}: label some rows, or leave "
            f"{label_column!r} out of the label columns."
        )
    return df[keep].reset_index(drop=True) if not all(keep) else df


def _labeled_frame(
    df: Any, modality: Modality | None, text_column: str, label_column: str
) -> LabeledSet:
    p = Path(FRAME)
    if len(df) == 0:
        raise DataError(f"{FRAME}: the DataFrame has no rows. Add examples.")
    if not df.columns.is_unique:
        dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise DataError(f"{FRAME}: columns {dup} appear more than once. Rename them.")
    df = df.reset_index(drop=True)
    if modality is None:
        modality = "image" if "path" in df.columns and text_column not in df.columns else "text"
        if modality == "text":
            _not_file_names(df, p, text_column, ("text_column=", "modality='text'"))
    numeric = label_column in df.columns and label_kind(df[label_column]) in ("int", "float")
    if modality == "image":
        labels = _clean_labels(_column(df, p, label_column, "label_column="), p, label_column)
        return labeled_set(image_inputs(_table_paths(p, df)), labels, FRAME, numeric=numeric)
    return _labeled_texts(
        df, p, text_column, label_column, flags=("text_column=", "label_column="), numeric=numeric
    )


def _labeled_texts(
    df: Any,
    p: Path,
    text_column: str,
    label_column: str,
    flags: tuple[str, str] = ("--text-column", "--label-column"),
    numeric: bool | None = None,
) -> LabeledSet:
    if p.suffix.lower() == ".txt":
        raise DataError(
            f"{p}: a .txt file is read as one text per line, without labels (it is for "
            "predicting on). Labeled texts go in a table with text and label columns: if this "
            "file holds such rows, rename it to .csv (commas) or .tsv (tabs)."
        )
    if text_column not in df.columns:
        _refuse_tabular(df, p, label_column)
    # walk 27: a missing text column, then a missing label column (or an empty text, then
    # an empty label) took a run each to learn about: each pair is reported at once
    texts, labels = _both(
        lambda: _column(df, p, text_column, flags[0], texts=True),
        lambda: _column(df, p, label_column, flags[1]),
    )
    texts, labels = _both(
        lambda: _clean_texts(texts, p, text_column), lambda: _clean_labels(labels, p, label_column)
    )
    inputs = Inputs.from_texts(texts, names=_row_names(len(texts)))
    return labeled_set(inputs, labels, p, numeric=numeric)


def _both(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    """Both results, or one error that holds what went wrong in either."""
    try:
        a = first()
    except DataError as e:
        try:
            second()
        except DataError as other:
            where = str(e).split(": ", 1)[0] + ": "  # named once when both are in one place
            said = str(other)[len(where) :] if str(other).startswith(where) else str(other)
            if isinstance(e, LayoutError) and isinstance(other, LayoutError):
                bare = other.bare[len(where) :] if other.bare.startswith(where) else other.bare
                hints = str(e)[len(e.bare) :] + str(other)[len(other.bare) :]
                raise LayoutError(f"{e.bare} Also {bare}", hints) from None
            raise type(e)(f"{e} Also {said}") from None
        raise
    return a, second()


def _image_folder(root: Path) -> LabeledSet:
    # __MACOSX: the resource forks a zip made on macOS unpacks beside the real folders
    subdirs = sorted(
        d
        for d in root.iterdir()
        if d.is_dir() and not d.name.startswith(".") and d.name != "__MACOSX"
    )
    if not subdirs:
        loose = [f for f in root.iterdir() if is_image_path(f)]
        what = f"{len(loose)} images but no class sub-folders" if loose else "no class sub-folders"
        raise LayoutError(
            f"{root}: {what}. Put each class's images in a sub-folder named after the class "
            f"({root}/<class>/1.jpg), or give a CSV with columns path,label."
        )
    loose = [f for f in root.iterdir() if f.is_file() and is_image_path(f)]
    if loose:
        log.warning(
            "%s: ignored %d image(s) outside the class sub-folders (%s%s); move each into its "
            "class's folder to use it.",
            root,
            len(loose),
            ", ".join(f.name for f in sorted(loose)[:3]),
            " ..." if len(loose) > 3 else "",
        )
    paths: list[Path] = []
    labels: list[str] = []
    empty: list[Path] = []
    folders: dict[str, list[str]] = {}
    for d in subdirs:
        images = folder_images(d)
        if not images:
            empty.append(d)
        paths += images
        # trimmed, as a table's labels are (walk 32: a folder ' food ' and a CSV's ' food '
        # were two classes, 'food' and ' food ')
        name = class_name(d.name.strip())
        labels += [name] * len(images)
        folders.setdefault(name, []).append(d.name)
    for name, names in folders.items():
        if len(names) > 1:
            log.warning(
                "%s: the folders %s are one class, %r: a class name's surrounding spaces and "
                "Unicode form do not count. Rename them to one folder if that is not meant.",
                root,
                ", ".join(map(repr, names)),
                name,
            )
    if empty:
        said = (
            f"class {empty[0].name!r} ({empty[0]}) has no images. Add images to it or remove "
            "the folder."
            if len(empty) == 1
            else f"classes {', '.join(repr(d.name) for d in empty)} (in {root}) have no images. "
            "Add images to them or remove those folders."
        )
        _fault_with(said, lambda: paths and image_inputs(paths))
    return labeled_set(image_inputs(paths), labels, root)


def folder_images(d: Path) -> list[Path]:
    """The image files under folder `d`, sorted, hidden ones aside. Other files and broken
    links are named in a warning: predict left out an SVG without a word (walk 27)."""
    found = sorted(
        f
        for f in d.rglob("*")
        if (f.is_file() or (f.is_symlink() and not f.exists())) and _visible(f, d)
    )
    images = [f for f in found if f.is_file() and is_image_path(f)]
    other = [f for f in found if not (f.is_file() and is_image_path(f))]
    if other:
        shown = [
            str(f.relative_to(d)) + ("" if f.exists() else " (a broken link)") for f in other[:3]
        ]
        log.warning(
            "%s: ignored %d file(s) that are not images scarce reads (%s%s). It reads PNG, "
            "JPEG, BMP, GIF, TIFF and WebP: convert the others (an SVG must be rendered, e.g. "
            "to PNG) or move them out.",
            d,
            len(other),
            ", ".join(shown),
            " ..." if len(other) > 3 else "",
        )
    return images


def _visible(f: Path, root: Path) -> bool:
    """Not hidden, nor inside a hidden folder (.thumbnails, .git) or a macOS zip's
    __MACOSX: fit and predict read the same files of a folder (walk 16)."""
    return not any(part.startswith(".") or part == "__MACOSX" for part in f.relative_to(root).parts)


def _fault_with(said: str, check: Callable[[], object]) -> NoReturn:
    """Raise `said`, with the faults that `check` (reading the other images) finds in the
    same message: one run names every fault to fix (walks 29 and 30: a folder or table
    took a run per fault)."""
    try:
        check()
    except DataError as e:
        raise DataError(f"{said} Also: {e}") from None
    raise DataError(said)


def _image_table(csv: Path, label_column: str, partial: bool = False) -> LabeledSet:
    df = _partial(_read_table(csv, _text_kind(csv)), label_column, partial)
    column = _column(df, csv, label_column, "--label-column")  # a LayoutError: another reading
    try:
        labels = _clean_labels(column, csv, label_column)
    except DataError as e:  # a bad label, and the images' faults with it (walk 30)
        _fault_with(str(e), lambda: image_inputs(_table_paths(csv, df)))
    return labeled_set(image_inputs(_table_paths(csv, df)), labels, csv)


def _table_paths(csv: Path, df: Any = None, missing_ok: bool = False) -> list[Path]:
    """The `path` column of a table, resolved relative to the table's folder. `missing_ok`:
    a file that is not there is kept, for `image_inputs` to report in its row (--skip-bad)."""
    if df is None:
        df = _read_table(csv, _text_kind(csv))
    if "path" not in df.columns and (hint := _rename_to_path(df)):
        # a DataError: the fix is known, no other reading of the table is to be offered
        raise DataError(
            f"{csv}: missing column 'path'; columns are {list(map(str, df.columns))}.{hint}"
        )
    paths = []
    missing: list[tuple[int, str]] = []
    for i, r in enumerate(_column(df, csv, "path", "")):
        f = (csv.parent / str(r)) if not Path(str(r)).is_absolute() else Path(str(r))
        if r and not f.is_file() and "\\" in str(r) and os.sep == "/":
            # written on Windows: img\cat\1.jpg is img/cat/1.jpg here
            f = csv.parent / PureWindowsPath(str(r)).as_posix()
        if r and missing_ok and not f.is_file():  # image_inputs names it in its row
            f = Path(str(r)) if _is_url(str(r)) else f
        elif not r or not f.is_file():
            missing.append((i, str(r)))
        paths.append(f)
    if missing:

        def what(j: int, q: str) -> str:  # an empty cell names no image (walk 30: image '')
            return f"row {j + 1} ({q!r})" if q else f"row {j + 1} (no path)"

        i, r = missing[0]
        here = (
            f" It is there relative to the current folder: write paths relative to "
            f"{csv.parent} (or absolute)."
            if r and not Path(r).is_absolute() and Path(r).is_file()
            else _offline(r)
        )
        # every missing row in one message: one run to fix them all (walk 29)
        more = (
            f" {len(missing) - 1} more row(s) name images that are not there: "
            + ", ".join(what(j, q) for j, q in missing[1:6])
            + (" ..." if len(missing) > 6 else "")
            + "."
            if len(missing) > 1
            else ""
        )
        said = (
            f"{csv}, row {i + 1}: image {r!r} not found (paths are relative to the CSV's "
            f"folder).{here} Fix the path or remove the row.{more}"
            if r
            else f"{csv}, row {i + 1}: no image path in column 'path'. Fill it in or remove "
            f"the row.{more}"
        )
        gone = {j for j, _ in missing}
        there = [f for j, f in enumerate(paths) if j not in gone]
        _fault_with(said, lambda: there and image_inputs(there))
    return paths


def _is_url(name: str) -> bool:
    # one slash too: a Path keeps "http:/x" of "http://x"; a drive letter ("C:/") is no scheme
    return re.match(r"[a-zA-Z][a-zA-Z0-9+.-]+:/", name) is not None


def _shown(path: Path) -> str:
    """A path as the user wrote it: a URL kept as a Path has lost a slash ('http:/x')."""
    name = str(path)
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]+):/(?!/)", r"\1://", name) if _is_url(name) else name


def _offline(name: str | Path) -> str:
    """What to do about a URL given as a file (nothing is fetched); '' for anything else."""
    if not _is_url(str(name)):
        return ""
    return " scarce works offline and fetches no URL: download the image and give its path."


BAD_SHOWN = 10  # unreadable images listed by name in one error


def raise_bad_images(bad: Sequence[str], total: int) -> None:
    """One DataError for every unusable image (each message names its file), not one per run."""
    if len(bad) == 1:
        raise UnusableImages(bad[0])
    if bad:
        shown = "\n  ".join(bad[:BAD_SHOWN])
        more = f"\n  ... and {len(bad) - BAD_SHOWN} more" if len(bad) > BAD_SHOWN else ""
        raise UnusableImages(
            f"{len(bad)} of {total} images cannot be used; remove or replace them:\n  {shown}{more}"
        )


def check_images(
    named: Iterable[tuple[str, bytes | None]],
) -> tuple[list[int], list[str], list[tuple[int, str]]]:
    """Each image (where it is named from, its bytes; None: no such file) checked fully and
    hashed from the same bytes: the positions and hashes of the usable ones, and (position,
    why) of the others. The one check that files (`image_inputs`) and uploads (serve) go
    through."""
    good: list[int] = []
    hashes: list[str] = []
    bad: list[tuple[int, str]] = []
    for i, (where, data) in enumerate(named):
        if data is None:
            bad.append((i, f"{where}: no such image file. Check the path.{_offline(where)}"))
            continue
        try:
            check_image_bytes(data, where)
        except DataError as e:  # every bad file in one message, not one per run
            bad.append((i, str(e)))
            continue
        good.append(i)
        hashes.append(sha256_bytes(data))
    return good, hashes, bad


def image_inputs(
    paths: Sequence[Path], skipped: list[tuple[int, str, str]] | None = None
) -> Inputs:
    """Image files as Inputs, each read once: checked fully and hashed from the same bytes.
    Unusable files are an error naming them all, or, given `skipped`, are left out and
    listed there as (position in `paths`, path, why) (unless every file is unusable)."""
    from scarce.core.progress import progress

    good, hashes, bad = check_images(
        (_shown(f), f.read_bytes() if f.is_file() else None)
        for f in progress(paths, desc="checking images", unit="img")
    )
    if skipped is None or len(bad) == len(paths):
        raise_bad_images([why for _, why in bad], len(paths))
    else:
        skipped += [(i, _shown(paths[i]), why) for i, why in bad]
    names = tuple(str(paths[i]) for i in good)
    return Inputs("image", names, tuple(hashes), names)


def label_kind(y: Any) -> str | None:
    """'int', 'float' or 'bool' when every label, as given in memory or in a DataFrame's
    column, is one (ints mixed with floats are 'float'): predictions then come back in that
    type, and numbers sort as numbers. None for names (strings) or a mix."""
    values = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y, dtype=object).ravel()
    if len(values) == 0:
        return None
    if all(isinstance(v, bool | np.bool_) for v in values):
        return "bool"
    if any(isinstance(v, bool | np.bool_) for v in values):
        return None
    if all(isinstance(v, int | np.integer) for v in values):
        return "int"
    if all(isinstance(v, int | float | np.integer | np.floating) for v in values):
        return "float"
    return None


def label_name(value: Any) -> str:
    """A label given in memory or in a table as the class name it trains: 2.0 is '2' (as a
    numeric column with a gap reads) and surrounding spaces go."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    return class_name(str(value).strip())


def class_name(name: str) -> str:
    """Unicode NFC: 'café' typed on one system and spelt as e + combining accent by another
    (macOS folder names) is one class, not two that print alike (walk 15)."""
    return unicodedata.normalize("NFC", name)


def labeled_set(
    inputs: Inputs, labels: Sequence[str], source: str | Path, *, numeric: bool | None = None
) -> LabeledSet:
    """Inputs + label names as a LabeledSet, classes in sorted order: as numbers when
    `numeric` (numeric labels, so that they line up with scikit-learn's np.unique(y)), or,
    when None (labels read from files), when every name is a plain integer (0, 1, ..., 10)."""
    if len(inputs) == 0:
        raise DataError(f"{source}: no examples found. Add labeled examples.")
    names = set(labels)
    if numeric is None:
        numeric = all(_PLAIN_INT.fullmatch(c) for c in names)
    classes = tuple(sorted(names, key=(lambda c: (float(c), c)) if numeric else None))
    index = {c: i for i, c in enumerate(classes)}
    y = np.fromiter((index[lab] for lab in labels), dtype=np.int64, count=len(labels))
    return LabeledSet(inputs, y, classes, str(source))


# ---------------------------------------------------------------- inputs to predict


def load_inputs(
    paths: Sequence[str | Path],
    *,
    modality: Modality | None = None,
    text_column: str = "text",
    fallback_to_text: bool = False,
    allow_empty: bool = False,
    skipped: list[tuple[int, str, str]] | None = None,
) -> Inputs:
    """Image files/folders (or a table with a `path` column), or one text table, as Inputs.
    `fallback_to_text`: read a `text` column when `text_column` (the model's, not one the
    user named) is absent. `allow_empty`: empty texts are predicted, with a warning (to
    predict on); otherwise, as in any training data, they are an error. `skipped`: see
    `image_inputs`."""
    if not paths:
        raise DataError("no inputs given. Pass image files, a folder, or a text file.")
    modality = modality or detect_modality(paths[0])
    if modality == "image":
        files: list[Path] = []
        if STDIN in map(str, paths):
            raise DataError(f"{STDIN} (standard input) is for text models; give image files.")
        for p in map(Path, paths):
            if p.is_dir():
                files += folder_images(p)
            elif p.is_file() and not is_image_path(p) and p.suffix.lower() in TEXT_EXTENSIONS:
                df = _read_table(p, _text_kind(p))
                if "path" not in df.columns:
                    raise LayoutError(
                        f"{p}: this is an image model: give image files or folders, or a table "
                        f"with a 'path' column of image files (this one has "
                        f"{[str(c) for c in df.columns]}).{_rename_to_path(df)}"
                    )
                files += _table_paths(p, df, missing_ok=skipped is not None)
            elif p.is_file() or skipped is not None:  # --skip-bad: a missing file gets a row
                files.append(p)
            else:
                raise DataError(f"{p}: no such file or folder. Check the path.{_offline(p)}")
        if not files:
            raise DataError(
                f"no images found in {', '.join(map(str, paths))}. Give image files (.jpg, "
                ".png, ...) or folders that hold them."
            )
        return image_inputs(files, skipped)
    if len(paths) != 1 or Path(paths[0]).is_dir() or is_image_path(paths[0]):
        raise LayoutError(
            "this is a text model: give one text file (CSV, TSV, JSONL or "
            "Parquet with a text column, or .txt with one text per line) to predict on."
        )
    p = Path(paths[0])
    if str(p) == STDIN:  # texts piped in, one per line, read as a .txt file is
        p, kind = Path("<stdin>"), "lines"
        df = _read_table(p, kind, keep_blank=allow_empty, data=sys.stdin.buffer.read())
    else:
        kind = _text_kind(p)
        df = _read_table(p, kind, keep_blank=allow_empty)
    if kind == "lines":  # no header: --text-column names DATA's column (walk 27)
        text_column = "text"
    if fallback_to_text and text_column not in df.columns and "text" in df.columns:
        text_column = "text"  # the model's own column name, else the default
    if text_column not in df.columns and (files := _image_file_columns(df)):
        raise LayoutError(  # walk 16: it offered the image paths as the text column
            f"{p}: column {files[0]!r} holds image files, but this is a text model: give a "
            "table of texts (or a .txt file, one text per line)."
        )
    values = _column(df, p, text_column, "--text-column", texts=True)
    blank = [i + 1 for i, v in enumerate(values) if _missing(v)]
    if blank and allow_empty:  # one blank row must not cost the whole file its predictions
        log.warning(
            "%s: %d empty text(s) (row %s%s); each is predicted as an empty text.",
            p,
            len(blank),
            ", ".join(map(str, blank[:5])),
            " ..." if len(blank) > 5 else "",
        )
        values = ["" if _missing(v) else v for v in values]
    texts = _clean_texts(values, p, text_column, allow_empty=allow_empty)
    return Inputs.from_texts(texts, names=_row_names(len(texts)))


def _refuse_tabular(df: Any, p: Path, label_column: str) -> None:
    """A table of numbers, not texts: say what scarce reads instead of 'missing column'."""
    import pandas as pd

    features = [c for c in df.columns if c != label_column]
    if not features:
        return
    paths = [c for c in _image_file_columns(df) if c != label_column]
    if paths:  # walk 15: 'Path,Label' or 'file,label' was called tabular
        also = "" if label_column in df.columns else " (and its labels 'label')"
        raise LayoutError(
            f"{p}: column {str(paths[0])!r} holds image files, but an image table names that "
            f"column 'path'{also}: rename {str(paths[0])!r} to 'path'."
        )
    numeric = [c for c in features if pd.to_numeric(df[c], errors="coerce").notna().mean() > 0.9]
    if len(numeric) * 2 > len(features) or not any(_wordy(df[c]) for c in features):
        shown = ", ".join(repr(str(c)) for c in (numeric or features)[:3])
        raise LayoutError(  # a layout: another reading (other column names) may still work
            f"{p}: looks like tabular data (feature columns such as {shown}, {len(numeric)} of "
            f"{len(features)} numeric, no column of texts). scarce reads images and text; "
            "tabular data is not supported yet.",
            " If one column holds text, name it with --text-column.",
        )


def _wordy(values: Any) -> bool:
    """A column of texts: mostly several words, or long (Chinese)."""
    v = values.dropna().astype(str).str.strip()
    texty = v.str.contains(r"\s") | (v.str.len() >= 15)
    return len(v) > 0 and float(texty.mean()) > 0.5


def _image_file_columns(df: Any) -> list[str]:
    """Columns whose values are mostly image file names: a `path` column by another name."""
    out = []
    for c in df.columns:
        if c in ("text", "label"):  # named for what they hold, whatever it looks like
            continue
        v = df[c].head(1000).dropna().astype(str).str.strip()  # a sample tells
        v = v[v != ""]
        if len(v) > 0 and float(v.map(is_image_path).mean()) > 0.9:
            out.append(str(c))
    return out


def _rename_to_path(df: Any) -> str:
    """' Rename 'file' to 'path'.' when a column holds image files, else ''."""
    files = [c for c in _image_file_columns(df) if c != "path"]
    return f" Column {files[0]!r} holds image files: rename it to 'path'." if files else ""


def table_columns(p: Path | Any, *, filled: bool = False) -> list[str]:
    """The column names of a table file or DataFrame ([] for anything else); `filled`: only
    the columns that hold a value in some row (walk 26: an all-blank 'label' column is not
    labels)."""
    return [c for c, has in column_fill(p).items() if has or not filled]


def column_fill(p: Path | Any) -> dict[str, bool]:
    """Each column of a table file or DataFrame, and whether some row holds a value in it
    ({} for anything else)."""
    if is_frame(p):
        df = p
    elif p.is_dir() or p.suffix.lower() not in TEXT_EXTENSIONS or is_image_path(p):
        return {}
    else:
        df = _read_table(p, _text_kind(p))
    return {str(c): not all(map(is_missing, df[c])) for c in df.columns}


def _row_names(n: int) -> list[str]:
    """Data rows numbered from 1 (header excluded), as in every error message."""
    return [str(i + 1) for i in range(n)]


# ---------------------------------------------------------------- tables


def _text_kind(p: Path) -> str:
    if p.is_dir():
        raise LayoutError(
            f"{p}: is a folder, but text data is one file (CSV, TSV, JSONL or Parquet). "
            "Give that file; a folder of images needs an image model (drop --modality text)."
        )
    if not p.is_file():
        raise DataError(f"{p}: no such file. Check the path.")
    kind = TEXT_EXTENSIONS.get(p.suffix.lower())
    if kind is None:
        what = f"unknown table format {p.suffix!r}" if p.suffix else "no file extension"
        raise LayoutError(
            f"{p}: {what}; name it .csv, .tsv, .jsonl, .json or .parquet (or .txt: one text per "
            "line)."
        )
    return kind


def _decode_utf8(p: Path, kind: str, data: bytes | None = None) -> str:
    data = p.read_bytes() if data is None else data
    if not data.strip():
        what = "one text per line" if kind == "lines" else "a header row and examples"
        raise DataError(f"{p}: the file is empty. Add {what}.")
    for bom, enc in (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):  # what Excel's "Unicode text" writes
            raise DataError(
                f"{p}: the file is {enc.upper()} (it starts with a {enc.upper()} byte-order "
                f"mark); scarce reads UTF-8. Re-save it as UTF-8 (in Excel: CSV UTF-8), or "
                f"`iconv -f {enc} -t utf-8 {p.name} > fixed{p.suffix}`."
            )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(
            f"{p}, line {line}: not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}). "
            "Re-save the file as UTF-8, e.g. "
            f"`iconv -f latin1 -t utf-8 {p.name} > fixed{p.suffix}`."
        ) from None


_JSON_KINDS = {dict: "object", str: "string", int: "number", float: "number", bool: "boolean"}


def _json_records(p: Path, text: str) -> list | None:
    """A .json file's array of records, or None when it holds one object per line."""
    try:
        found = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # JSON Lines under a .json name
            return None
        line = text[: e.pos].count("\n") + 1
        raise DataError(f"{p}, line {line}: invalid JSON ({e.msg}). Fix the file.") from None
    if not isinstance(found, list):
        raise DataError(
            f"{p}: a .json file must hold an array of objects, one per example "
            '([{"text": ..., "label": ...}, ...]), or one object per line (JSON Lines); '
            f"this one holds a JSON {_JSON_KINDS.get(type(found), 'value')}. In pandas: "
            'df.to_json(path, orient="records").'
        )
    return found


def _read_table(
    p: Path, kind: str, *, keep_blank: bool = False, data: bytes | None = None
):  # -> pandas.DataFrame
    """`keep_blank`: blank lines inside the table stay as empty rows (files to predict on:
    each row gets an answer under its own number); trailing ones still go. `data`: the
    file's bytes, read elsewhere (standard input)."""
    import pandas as pd

    if kind == "parquet":
        try:
            df = pd.read_parquet(p)
        except Exception as e:  # pyarrow raises several unrelated types
            raise DataError(f"{p}: cannot read this Parquet file ({e}).") from None
        if len(df) == 0:
            raise DataError(f"{p}: the table has no rows. Add examples.")
        return df
    text = _decode_utf8(p, kind, data)
    if kind == "json":  # walk 27: a JSON array of records was refused as an unknown format
        records = _json_records(p, text)
        if records is None:  # one object per line, under a .json name
            kind = "jsonl"
        else:
            numbered = list(enumerate(records, 1))
            where = "item"
    if kind == "jsonl":
        numbered, where = [], "line"
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                numbered.append((i, json.loads(line)))
            except json.JSONDecodeError as e:
                raise DataError(
                    f"{p}, line {i}: invalid JSON ({e.msg}). Fix or remove the line."
                ) from None
    if kind in ("json", "jsonl"):
        rows, halves = [], []
        for i, row in numbered:
            if not isinstance(row, dict):
                raise DataError(
                    f'{p}, {where} {i}: expected a JSON object like {{"text": ..., "label": ...}}.'
                )
            for key, value in row.items():
                if isinstance(value, str):
                    row[key], n = without_lone_surrogates(value)
                    if n:
                        halves.append(i)
            rows.append(row)
        if halves:
            log.warning(
                "%s: %d %s(s) held lone UTF-16 surrogates (half an emoji, e.g. %s %d); "
                "each became U+FFFD. Re-export the file with whole characters to keep them.",
                p,
                len(set(halves)),
                where,
                where,
                halves[0],
            )
        return pd.DataFrame(rows)
    if kind == "lines":
        lines = text.splitlines()
        if keep_blank:
            while lines and not lines[-1].strip():
                lines.pop()
            return pd.DataFrame({"text": lines})
        return pd.DataFrame({"text": [t for t in lines if t.strip()]})
    sep = _separator(text, "\t" if kind == "tsv" else ",", p)
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=not keep_blank,
        )
        if keep_blank:
            filled = (df.astype(str) != "").any(axis=1).to_numpy()
            df = df.iloc[: int(np.flatnonzero(filled)[-1]) + 1 if filled.any() else 0]
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        what = {",": "a comma", ";": "a semicolon", "\t": "a tab"}[sep]
        raise DataError(
            f"{p}: cannot parse as {kind.upper()} ({str(e).strip()}). A row with more fields "
            f"than the header usually holds {what} inside a text: put such texts in double "
            'quotes ("...").'
        ) from None
    if len(df) == 0:
        raise DataError(f"{p}: the table has a header but no rows. Add examples.")
    return df


def _separator(text: str, expected: str, p: Path) -> str:
    """The header's separator: `expected` (comma for .csv, tab for .tsv) unless the header
    holds none of it but one of the others (a CSV from a locale whose Excel writes ';', a
    .csv that holds tabs), which is then used, and said."""
    line = text.split("\n", 1)[0]
    if expected in line:
        return expected
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), (",", "commas")):
        if sep != expected and sep in line:
            log.info("%s: the header is separated by %s; reading the file that way.", p, name)
            return sep
    return expected


def _column(df, p: Path, name: str, flag: str, texts: bool = False) -> list:
    """The column `name`, or a LayoutError naming the likeliest one (`texts`: among the
    columns that hold texts, so that a label column is not offered as the text)."""
    if name not in df.columns:
        cols = [str(c) for c in df.columns]
        offer = [str(c) for c in df.columns if _wordy(df[c])] if texts else cols
        close = difflib.get_close_matches(name, offer, n=1, cutoff=0.4)
        if texts and not close and len(offer) == 1:
            close = offer  # walk 15: '--text-column nope' offered the label column
        if not flag:  # a fixed name: the column must be renamed
            which = repr(close[0]) if close else "holding it"
            hint = f" Rename the column {which} to {name!r}."
        elif close and flag.endswith("="):
            hint = f" Did you mean {close[0]!r}? Pass {flag}{close[0]!r}."
        elif close:  # the API reads files too: say it both ways (walk 15)
            python = f"{flag[2:].replace('-', '_')}={close[0]!r}"
            hint = f" Did you mean {close[0]!r}? Pass {flag} {close[0]} (Python: {python})."
        else:
            hint = f" Pass {flag} with the name of the column that holds it."
        raise LayoutError(f"{p}: missing column {name!r}; columns are {cols}.", hint)
    return df[name].tolist()


def is_missing(v: Any) -> bool:
    """None, NaN (any float type), pandas NA/NaT, or a blank string: no value."""
    if v is None:
        return True
    if isinstance(v, str):
        return not v.strip()
    import pandas as pd

    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # arrays and other containers: a value, if an odd one
        return False


_missing = is_missing


def _clean_texts(values: list, p: Path, col: str, allow_empty: bool = False) -> list[str]:
    out = []
    for i, v in enumerate(values):
        if _missing(v) and not allow_empty:
            raise DataError(f"{p}, row {i + 1}: empty {col!r}. Fill it in or remove the row.")
        if not isinstance(v, str):
            raise DataError(f"{p}, row {i + 1}: {col!r} is {type(v).__name__}, expected text.")
        out.append(v)
    return out


def check_single_label(value: Any, where: str) -> None:
    """A list (tuple, set, array) as one input's label is multi-label data, which would
    otherwise train a class per combination, named like "['a', 'b']" (walk 19)."""
    if isinstance(value, list | tuple | set | frozenset | dict | np.ndarray):
        raise DataError(
            f"{where} is {type(value).__name__} {str(value)[:60]}: multi-label data (several "
            "labels per input) is not supported; each input takes one class. Keep one label "
            "per input, or make one column per tag (yes/no) and fit them together with "
            "--method multitask --label-column tag1,tag2,..."
        )


def _clean_labels(values: list, p: Path, col: str) -> list[str]:
    """Class names of a label column: a file's trimmed and NFC (label_name); a DataFrame's
    strings as they are, since its owner compares predictions with them (walk 19)."""
    exact = p == Path(FRAME)
    out = []
    for i, v in enumerate(values):
        check_single_label(v, f"{p}, row {i + 1}: the label in column {col!r}")
        if _missing(v):
            raise DataError(
                f"{p}, row {i + 1}: no label in column {col!r}. Label it or remove the row."
            )
        out.append(v if exact and isinstance(v, str) else label_name(v))
    return out
