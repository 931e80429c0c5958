"""Transfer methods: one module each, registered on import."""

from scarce.methods import (  # noqa: F401
    baseline,
    finetune,
    knn,
    linear_probe,
    maml,
    protonet,
    reptile,
    setfit,
    simpleshot,
)
from scarce.methods.base import Fitted, Method, MethodSpec, methods, register_method

__all__ = ["Fitted", "Method", "MethodSpec", "methods", "register_method"]
