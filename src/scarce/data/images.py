"""Reading images: one place that turns a path or an array into RGB pixels, and that checks
an image file fully (a truncated file must fail here, not in the middle of training)."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from scarce.core.errors import DataError

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
ImageFile.LOAD_TRUNCATED_IMAGES = False

log = logging.getLogger(__name__)
_big_said: set[str] = set()  # files already warned about (an image is read once per use)
# Pillow's own warning names no file, comes per read and ignores --quiet (walk 26: a
# 10561x16000 clip-art PNG): scarce says it once per file instead (_say_if_large). A filter,
# not catch_warnings around each read, which is not thread-safe (review 37)
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _say_if_large(im: Image.Image, where: str) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    pixels = im.size[0] * im.size[1]
    if limit and pixels > limit and where not in _big_said and len(_big_said) < 10_000:
        _big_said.add(where)
        log.warning(
            "%s: a very large image (%s pixels); every read takes seconds. Shrink it (for "
            "example to 4000 pixels on the longer side) to go faster.",
            where,
            f"{pixels:,}",
        )


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def check_image_bytes(data: bytes, where: str) -> None:
    """Decode the whole image; raise DataError naming the file if it cannot be read."""
    if not data:
        raise DataError(f"{where}: the file is empty (0 bytes). Remove it or replace it.")
    try:
        with Image.open(io.BytesIO(data)) as im:
            _say_if_large(im, where)
            if im.format == "PNG":
                im.verify()  # reads every chunk and checks its CRC: catches truncation, no decode
            else:
                if im.format == "JPEG":
                    im.draft(im.mode, (64, 64))  # whole stream read at 1/8 scale: fast
                im.load()
    except UnidentifiedImageError:
        raise DataError(
            f"{where}: cannot read this image: it is not in a format Pillow reads (PNG, "
            "JPEG, BMP, GIF, TIFF, WebP, ...); remove it or replace it with a valid file."
        ) from None
    except Image.DecompressionBombError as e:
        raise DataError(
            f"{where}: this image is too large to read safely ({e}). Shrink it (for example "
            "to 4000 pixels on the longer side) and try again."
        ) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(
            f"{where}: cannot read this image ({e}). It may be truncated or not an image; "
            "remove it or replace it with a valid file."
        ) from None


def to_rgb(im: Image.Image) -> Image.Image:
    """RGB with EXIF orientation applied; transparency composited onto white (clip-art)."""
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, im).convert("RGB")
    if im.mode.startswith("I"):  # 16/32-bit integers: their range is the file's, min-max it
        arr = np.asarray(im, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo or 1.0) * 255.0
        im = Image.fromarray(arr.astype(np.uint8))
    elif im.mode == "F":  # floats: convert() would clip [0, 1] to black
        im = Image.fromarray(to_uint8(np.asarray(im)))
    return im.convert("RGB")


FLOAT_SLACK = 0.05  # how far a [0, 1] float image may overshoot and still be one


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Pixels as uint8. Floats in [0, 1] (give or take FLOAT_SLACK) are scaled by 255, the
    float-image convention; uint16 by its range; values already in 0..255 are kept; any
    other range is min-max scaled, per image; NaN is 0."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    a = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if arr.dtype.kind == "f" and lo >= -FLOAT_SLACK and hi <= 1 + FLOAT_SLACK:
        a = a * 255.0  # resizes and jitter overshoot [0, 1] a little: still that convention
    elif arr.dtype == np.uint16:
        a = a / 257.0  # its full range, as a 16-bit image means it
    elif lo < 0 or hi > 255:
        a = (a - lo) / (hi - lo or 1.0) * 255.0
    return np.rint(np.clip(a, 0, 255)).astype(np.uint8)


def image_array(item: Any, where: str) -> np.ndarray:
    """An in-memory image as a uint8 (H, W) or (H, W, 3|4) array; DataError naming the shape
    received and the one expected otherwise (a flat row is not an image)."""
    arr = np.asarray(item)
    if arr.dtype.kind not in "biuf":
        hint = (
            "; for text, pass a flat list of strings (e.g. X.ravel().tolist())"
            if arr.dtype.kind in "USO"
            else ""
        )
        raise DataError(f"{where}: an image array must hold numbers, got dtype {arr.dtype}{hint}.")
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        raise DataError(
            f"{where}: shape {arr.shape} is channels-first; images are (H, W) or (H, W, C) "
            "arrays: pass arr.transpose(1, 2, 0)."
        )
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4))) or 0 in arr.shape:
        hint = (
            " A flat row of numbers is a flattened image (reshape it, e.g. x.reshape(28, 28)) "
            "or tabular features, which scarce does not support yet."
            if arr.ndim == 1
            else ""
        )
        raise DataError(
            f"{where}: an image array must be (H, W), (H, W, 3) or (H, W, 4), got shape "
            f"{arr.shape}.{hint}"
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        # an upstream bug, nearly always (walk 31: read as black, without a word)
        bad = int((~np.isfinite(arr)).sum())
        raise DataError(
            f"{where}: {bad} of {arr.size} values are NaN or infinite; an image's pixels must "
            "be finite numbers."
        )
    return to_uint8(arr)


def read_rgb(item: Any, size: int | None = None) -> Image.Image:
    """A path or an array (H, W) / (H, W, 3|4) (see `image_array`) as an RGB PIL image; with
    `size`, resized (shorter side) and centre-cropped to a size x size square."""
    if isinstance(item, str | Path):
        with Image.open(item) as im:
            _say_if_large(im, str(item))
            if size is not None and im.format == "JPEG":
                im.draft("RGB", (size, size))  # decode big photos at a reduced scale: much faster
            return _fit(im, size)
    return _fit(Image.fromarray(image_array(item, "image array")), size)


def _fit(im: Image.Image, size: int | None) -> Image.Image:
    if size is None:
        return to_rgb(im)
    if im.mode in ("L", "RGB"):  # resize first: 3x less work for grey images
        return to_rgb(resize_center_crop(ImageOps.exif_transpose(im), size))
    return resize_center_crop(to_rgb(im), size)


def resize_center_crop(im: Image.Image, size: int) -> Image.Image:
    """Shorter side to `size`, then a centred square: keeps the aspect ratio and nearly all
    of the picture (defects near the border matter for our users)."""
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    # resample only the centre square: resizing the whole picture first made a 20000x1 strip
    # a 4 GB intermediate
    box = (left, top, left + side, top + side)
    return im.resize((size, size), Image.Resampling.BICUBIC, box=box, reducing_gap=3.0)
