"""Transfer methods: one module each, registered on import."""

from scarce.methods import baseline, knn, linear_probe, protonet, simpleshot  # noqa: F401
from scarce.methods.base import Fitted, Method, MethodSpec, methods, register_method

__all__ = ["Fitted", "Method", "MethodSpec", "methods", "register_method"]
