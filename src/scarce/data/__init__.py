"""Data sources, validation at the boundary, the types every method sees, splits and sampling."""

from scarce.data.types import Inputs, LabeledSet, UnlabeledSet

__all__ = ["Inputs", "LabeledSet", "UnlabeledSet"]
