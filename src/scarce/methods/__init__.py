"""Transfer methods: one module each, registered on import."""

from scarce.methods import (  # noqa: F401
    baseline,
    cdan,
    coral,
    dann,
    distill,
    finetune,
    knn,
    linear_probe,
    maml,
    mcc,
    mmd,
    multitask,
    protonet,
    reptile,
    setfit,
    simpleshot,
    source_only,
)
from scarce.methods.base import Fitted, Method, MethodSpec, methods, register_method

__all__ = ["Fitted", "Method", "MethodSpec", "methods", "register_method"]
