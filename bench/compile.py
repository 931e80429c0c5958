"""Does torch.compile pay for fine-tuning on a CPU? Issue 5 asks for it "where it pays".

For each encoder and number of trained units (finetune's defaults by shot count), one
training step (forward through the trained units from cached states, backward, AdamW) is
timed eagerly and compiled (inductor; text with dynamic shapes, since batches pad to their
longest example). The compile time is paid once per fit, so the break-even is
compile_seconds / (eager - compiled seconds per step) steps, beside the steps a default
finetune fit takes (epochs x examples / batch size). Step time depends on shapes only, so
inputs are random pixels and texts of review-like lengths.

    .venv/bin/python bench/compile.py --threads 1     # -> bench/results/compile.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from fewshot_common import RESULTS, limit_threads, provenance, write

# (encoder, trained units, a default fit's steps): finetune's shot_defaults at 5 / 20 (image)
# and 8 / 64 (text) per class on 10 (image) and 6 (text) classes, batch 16
CASES = [
    ("efficientnet-lite0", 2, 15 * 50 // 16),
    ("efficientnet-lite0", 6, 20 * 200 // 16),
    ("minilm-l6", 2, 15 * 48 // 16),
    ("minilm-l6", 3, 20 * 384 // 16),
]
BATCH = 16


def inputs(modality: str, rng: np.random.Generator) -> list[Any]:
    if modality == "image":
        return [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(BATCH)]
    words = [f"w{i}" for i in range(2000)]
    return [" ".join(rng.choice(words, int(rng.integers(20, 120)))) for _ in range(BATCH)]


def time_steps(encoder_name: str, units: int, steps: int, compiled: bool) -> dict[str, float]:
    import torch

    from scarce.encoders import create_encoder
    from scarce.encoders.staged import to_tensors

    torch.manual_seed(0)
    enc = create_encoder(encoder_name)
    net = enc.staged()
    first = len(net.units) - units
    for i, unit in enumerate(net.units):
        unit.requires_grad_(i >= first)
    modality = enc.spec.modality
    batch = enc.prepare(tuple(inputs(modality, np.random.default_rng(0))))
    with torch.no_grad():
        state = net.start(to_tensors(batch))
        for u in range(first):
            state = net.run(state, u)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], 1e-4)
    fwd = net.forward_from
    if compiled:
        fwd = torch.compile(fwd, dynamic=modality == "text")
    net.train()

    def step() -> None:
        loss = fwd(state, first).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    step()
    t1 = time.perf_counter()
    for _ in range(steps):
        step()
    t2 = time.perf_counter()
    return {"first_step_seconds": round(t1 - t0, 2), "seconds_per_step": (t2 - t1) / steps}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10, help="timed steps after the first")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS / "compile.json"))
    args = ap.parse_args()
    threads = limit_threads(args.threads)
    out: dict[str, Any] = {
        **provenance(threads=threads),
        "batch": BATCH,
        "rows": [],
    }
    for name, units, fit_steps in CASES:
        eager = time_steps(name, units, args.steps, compiled=False)
        comp = time_steps(name, units, args.steps, compiled=True)
        compile_s = comp["first_step_seconds"] - eager["first_step_seconds"]
        saved = eager["seconds_per_step"] - comp["seconds_per_step"]
        row = {
            "encoder": name,
            "trained_units": units,
            "eager_ms_per_step": round(1000 * eager["seconds_per_step"], 1),
            "compiled_ms_per_step": round(1000 * comp["seconds_per_step"], 1),
            "compile_seconds": round(compile_s, 1),
            "break_even_steps": round(compile_s / saved) if saved > 0 else None,
            "default_fit_steps": fit_steps,
        }
        row["pays"] = row["break_even_steps"] is not None and row["break_even_steps"] < fit_steps
        out["rows"].append(row)
        print(row, flush=True)
    out["pays_anywhere"] = any(r["pays"] for r in out["rows"])
    write(Path(args.out), out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
