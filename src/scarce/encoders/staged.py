"""A trainable copy of an encoder's network, cut into units (bottom to top) so that methods
can freeze the lower ones, cache their activations once, and give each unit its own learning
rate. The frozen encoder used for features is never touched: `Encoder.staged()` deep-copies.

A *state* is a dict of tensors flowing between units (images: {"h"}; text: {"h", "mask"}).
"""

from __future__ import annotations

from typing import Any

import torch


class StagedNet(torch.nn.Module):
    units: torch.nn.ModuleList

    def start(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The state before unit 0, from the encoder's prepared batch."""
        raise NotImplementedError

    def run(self, state: dict[str, torch.Tensor], i: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def embed(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pooled (B, dim) embedding after the last unit, as the frozen encoder gives it."""
        raise NotImplementedError

    def split(self, state: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """One state per example (for caching), trimmed of padding."""
        n = next(iter(state.values())).shape[0]
        return [{k: v[i] for k, v in state.items()} for i in range(n)]

    def collate(self, states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {k: torch.stack([s[k] for s in states]) for k in states[0]}

    def size(self, state: dict[str, torch.Tensor]) -> int:
        """An example's padded size in a batch (text: its tokens); batches of similar sizes
        pad less. 0 where every example has the same size."""
        return 0

    def forward_from(self, state: dict[str, torch.Tensor], first: int) -> torch.Tensor:
        for i in range(first, len(self.units)):
            state = self.run(state, i)
        return self.embed(state)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.forward_from(self.start(batch), 0)


def to_tensors(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    out = {k: torch.from_numpy(v) for k, v in batch.items()}
    if "pixels" in out:
        out["pixels"] = out["pixels"].contiguous(memory_format=torch.channels_last)
    return out
