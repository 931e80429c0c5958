"""Training-time image augmentation with PIL (torchvision does not install beside the CPU
torch build here): random resized crop, horizontal flip, small rotation, colour jitter.
Used only while fitting; prediction always sees the plain resized image."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance

from scarce.data.images import read_rgb


@dataclasses.dataclass(frozen=True)
class Augment:
    scale: tuple[float, float] = (0.6, 1.0)  # share of the image area the crop keeps
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    degrees: float = 10.0
    jitter: float = 0.2  # brightness, contrast and saturation factors in [1-j, 1+j]

    def __call__(self, item: Any, size: int, rng: np.random.Generator) -> np.ndarray:
        """One random view of `item` (path or array) as a (size, size, 3) uint8 array."""
        im = read_rgb(item, size)
        w, h = im.size
        for _ in range(10):  # as torchvision's RandomResizedCrop: retry, then the whole image
            area = w * h * rng.uniform(*self.scale)
            aspect = np.exp(rng.uniform(np.log(self.ratio[0]), np.log(self.ratio[1])))
            cw, ch = round(np.sqrt(area * aspect)), round(np.sqrt(area / aspect))
            if 0 < cw <= w and 0 < ch <= h:
                x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
                im = im.crop((x0, y0, x0 + cw, y0 + ch))
                break
        im = im.resize((size, size), Image.Resampling.BILINEAR)
        if self.flip and rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if self.degrees:
            angle = float(rng.uniform(-self.degrees, self.degrees))
            im = im.rotate(angle, Image.Resampling.BILINEAR, fillcolor=_edge_colour(im))
        if self.jitter:
            for enhancer in (
                ImageEnhance.Brightness,
                ImageEnhance.Contrast,
                ImageEnhance.Color,
            ):
                im = enhancer(im).enhance(float(rng.uniform(1 - self.jitter, 1 + self.jitter)))
        return np.asarray(im, dtype=np.uint8)


def _edge_colour(im: Image.Image) -> tuple[int, ...]:
    """Fill rotated corners with the border's mean colour rather than black."""
    a = np.asarray(im)
    edge = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return tuple(int(v) for v in edge.mean(0))
