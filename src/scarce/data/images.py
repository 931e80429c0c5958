"""Reading images: one place that turns a path or an array into RGB pixels, and that checks
an image file fully (a truncated file must fail here, not in the middle of training)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from scarce.core.errors import DataError

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
ImageFile.LOAD_TRUNCATED_IMAGES = False


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def check_image_bytes(data: bytes, where: str) -> None:
    """Decode the whole image; raise DataError naming the file if it cannot be read."""
    if not data:
        raise DataError(f"{where}: the file is empty (0 bytes). Remove it or replace it.")
    try:
        with Image.open(io.BytesIO(data)) as im:
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
    if im.mode.startswith(("I", "F")):  # 16/32-bit integers and floats: convert() clips them
        arr = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo or 1.0) * 255.0
        im = Image.fromarray(arr.astype(np.uint8))
    return im.convert("RGB")


def read_rgb(item: Any, size: int | None = None) -> Image.Image:
    """A path or a uint8 array (H, W) / (H, W, 3|4) as an RGB PIL image; with `size`, resized
    (shorter side) and centre-cropped to a size x size square."""
    if isinstance(item, str | Path):
        with Image.open(item) as im:
            if size is not None and im.format == "JPEG":
                im.draft("RGB", (size, size))  # decode big photos at a reduced scale: much faster
            return _fit(im, size)
    arr = np.asarray(item)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return _fit(Image.fromarray(arr), size)


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
