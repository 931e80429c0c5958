"""Pretrained encoders behind one registry, their preprocessing, the ONNX path and the cache."""

from scarce.encoders import catalog  # noqa: F401  (registers the built-in encoders)
from scarce.encoders.base import Encoder, EncoderSpec, create_encoder, default_encoder, encoders

__all__ = ["Encoder", "EncoderSpec", "create_encoder", "default_encoder", "encoders"]
