"""Source-only: the domain-adaptation baseline. The same frozen encoder -> bottleneck ->
head as the adapting methods, trained on the labeled source alone (plus the few target
labels when given); every adaptation method is judged against it."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from scarce.methods._domain import DomainConfig, DomainFitted, DomainMethod
from scarce.methods.base import MethodSpec, register_method


@dataclasses.dataclass(frozen=True)
class SourceOnlyConfig(DomainConfig):
    owner: ClassVar[str] = "source-only"
    # self-training reads the target: source-only with it adapts, so only a setting that
    # names source-only reaches it, never one meant for every method (eval's --set, the
    # reference a domain fit's --test compares with; walk 28: the reference self-trained,
    # and hid a loss of 0.033)
    scoped_only: ClassVar[frozenset[str]] = frozenset({"self_training", "pseudo_fraction"})
    help: ClassVar[dict[str, str]] = {
        **DomainConfig.help,
        **{
            k: "no effect here (source-only has no transfer loss); the knob is kept so that "
            "one eval --set reaches every domain method"
            for k in ("trade_off", "trade_off_search")
        },
        "self_training": "rounds of plain self-training on the target's most confident "
        "pseudo-labels: this adapts, so only a setting naming source-only reaches it "
        "(eval's --set source-only.self_training=N), never an eval-wide --set",
    }


class SourceOnly(DomainMethod):
    adapts = False


register_method(
    MethodSpec(
        name="source-only",
        modalities=("image", "text"),
        config=SourceOnlyConfig,
        method=SourceOnly,
        fitted=DomainFitted,
        summary="domain baseline: bottleneck + head on the labeled source only",
        domain=True,
        torch_seeded=True,
    )
)
