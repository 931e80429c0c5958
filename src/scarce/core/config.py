"""Config dataclasses: frozen, defaults in the class, ranges checked in __post_init__,
and a strict from_dict that rejects unknown keys and suggests close ones."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, ClassVar, Self

from scarce.core.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every method config. Subclasses declare fields and override `check`."""

    help: ClassVar[dict[str, str]] = {}
    # knobs that a setting meant for every method (eval's unscoped --set) does not reach:
    # only one naming this method does
    scoped_only: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def shared_knobs(cls) -> set[str]:
        """The knobs a setting meant for every method sets here."""
        return {f.name for f in dataclasses.fields(cls)} - cls.scoped_only

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            _finite(type(self).__name__, f.name, getattr(self, f.name))
            allowed = _literal_choices(hints[f.name])
            if allowed is not None and getattr(self, f.name) not in allowed:
                raise ConfigError(
                    f"{type(self).__name__}.{f.name} must be one of "
                    f"{', '.join(map(repr, allowed))}, got {getattr(self, f.name)!r}."
                )
        self.check()

    def check(self) -> None:
        """Raise ConfigError naming the field, its allowed range and the value received."""

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, owner: str | None = None) -> Self:
        """The config from knob values (strings from the CLI are coerced); `owner` names the
        method in errors."""
        values = dict(values or {})
        names = {f.name: f for f in dataclasses.fields(cls)}
        out: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in names:
                close = difflib.get_close_matches(key, names, n=2)
                hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
                short = key.split(".", 1)[-1]
                if "." in key and short in names:  # eval's method.key spelling, given to fit
                    hint = f" One method is fitted: write {short}={raw} (no method prefix)."
                raise ConfigError(
                    f"{f'method {owner!r}' if owner else cls.__name__} has no option "
                    f"{key!r}.{hint} "
                    f"Options: {', '.join(sorted(names))}."
                )
            out[key] = _coerce(cls, names[key], raw, owner or cls.__name__)
            _finite(owner or cls.__name__, key, out[key])
        return cls(**out)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, help) for each knob, for `scarce methods`."""
        hints = typing.get_type_hints(cls)
        rows = []
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc,operator]
            rows.append((f.name, _type_name(hints[f.name]), default, cls.help.get(f.name, "")))
        return rows


def _finite(owner: str, name: str, value: Any) -> None:
    """NaN passes every range check (each comparison is false), and no knob means anything
    by NaN or infinity (walk 34: lr=nan silently gave the linear probe)."""
    values = value if isinstance(value, tuple) else (value,)
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        raise ConfigError(f"{owner}.{name} must be a finite number, got {value!r}.")


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _spoken(tp: Any) -> str:
    """A field's type as a user reads it in an error ('a number or none')."""
    options = typing.get_args(tp) if _is_union(tp) else (tp,)
    words = []
    for opt in options:
        origin = typing.get_origin(opt)
        if opt is type(None):
            words.append("none")
        elif origin is typing.Literal:
            words.append("one of " + ", ".join(map(str, typing.get_args(opt))))
        elif origin is tuple:
            words.append(f"comma-separated {_spoken(typing.get_args(opt)[0]).split(' ', 1)[1]}s")
        else:
            words.append(
                {bool: "true or false", int: "a whole number", float: "a number"}.get(
                    opt, f"a {_type_name(opt)}"
                )
            )
    return " or ".join(words)


def _coerce(cls: type, field: dataclasses.Field, raw: Any, owner: str) -> Any:
    """Turn CLI strings ('0.1', 'none', 'a,b') into the field's type; pass other values through."""
    tp = typing.get_type_hints(cls)[field.name]
    if not isinstance(raw, str):
        if isinstance(raw, list):
            return tuple(raw)
        return raw
    options = typing.get_args(tp) if _is_union(tp) else (tp,)
    if raw.lower() in ("none", "null") and type(None) in options:
        return None
    for opt in options:
        if opt is type(None):
            continue
        try:
            return _parse_one(opt, raw)
        except ValueError:
            continue
    raise ConfigError(f"{owner}.{field.name} expects {_spoken(tp)}, got {raw!r}.")


def _literal_choices(tp: Any) -> tuple[Any, ...] | None:
    """The allowed values of a Literal field (None allowed too for Optional[Literal])."""
    options = typing.get_args(tp) if _is_union(tp) else (tp,)
    choices: list[Any] = []
    for opt in options:
        if typing.get_origin(opt) is typing.Literal:
            choices += typing.get_args(opt)
        elif opt is type(None):
            choices.append(None)
        else:
            return None  # not a pure Literal field
    return tuple(choices)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _parse_one(tp: Any, raw: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        if raw in typing.get_args(tp):
            return raw
        raise ValueError(raw)
    if origin is tuple:
        (inner, *_) = typing.get_args(tp)
        return tuple(_parse_one(inner, p.strip()) for p in raw.split(",") if p.strip())
    if tp is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    if tp in (int, float, str):
        return tp(raw)
    raise ValueError(raw)


def check_range(
    owner: str, name: str, value: float, lo: float | None = None, hi: float | None = None
) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        # one-sided: "in [0, inf]" read as if inf were allowed, which no knob takes (walk 36)
        if hi is None:
            rng = f">= {lo}"
        elif lo is None:
            rng = f"<= {hi}"
        else:
            rng = f"in [{lo}, {hi}]"
        raise ConfigError(f"{owner}.{name} must be {rng}, got {value!r}.")
