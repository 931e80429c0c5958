"""Fine-tuning steps on an idle machine and beside busy processes, on torch's default thread
count, on one thread, and with scarce's ThreadChooser (core/threads.py), which times the
steps and keeps the faster of the two.

torch's OpenMP threads spin while they wait for each other; when another process holds a
core, each parallel region waits for a descheduled thread. Run it on a machine with nothing
else running: the "busy" rows start their own busy neighbours (processes spinning on one
core each), so the machine must be otherwise idle.

    .venv/bin/python bench/threads.py      # -> bench/results/threads.json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from compile import BATCH, inputs  # the same random pixels and review-length texts
from fewshot_common import RESULTS, provenance, write

CASES = [("efficientnet-lite0", 6), ("minilm-l6", 3)]  # finetune's units at 20 / 64 shots


def run_steps(encoder_name: str, units: int, steps: int, mode: str) -> dict[str, Any]:
    import torch

    from scarce.core import threads as threads_module
    from scarce.core.threads import ThreadChooser
    from scarce.encoders import create_encoder
    from scarce.methods import _tuning as T

    torch.manual_seed(0)
    enc = create_encoder(encoder_name)
    net = enc.staged()
    first = len(net.units) - units
    items = inputs(enc.spec.modality, np.random.default_rng(0))
    states = T.prefix_states(net, enc, items, None, first, desc="frozen")
    T.set_trainable(net, first)
    opt = torch.optim.AdamW([p for u in net.units[first:] for p in u.parameters()], lr=1e-4)
    net.train()
    T.freeze_batchnorm(net)
    most = torch.get_num_threads()
    if mode == "one thread":
        torch.set_num_threads(1)
    chooser = ThreadChooser(enabled=mode == "chooser")  # else a plain loop: the count stays
    # each row finds the load for itself: no carry from the frozen pass above or another row
    threads_module._ended_on_one = None
    times = []
    start = time.perf_counter()
    with chooser:
        for _ in range(steps):
            t = time.perf_counter()
            with chooser.step(BATCH):
                loss = T.forward_sorted(net, states, first).pow(2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            times.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    torch.set_num_threads(most)
    return {
        "seconds_total": round(total, 2),
        "seconds_per_step_median": round(float(np.median(times[1:])), 4),
        "steps_per_thread_count": chooser.used() if mode == "chooser" else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--neighbours", default="0,1,2", help="busy processes beside each set of rows")
    ap.add_argument("--out", type=Path, default=RESULTS / "threads.json")
    args = ap.parse_args()
    if os.environ.get("OMP_NUM_THREADS"):
        sys.exit("unset OMP_NUM_THREADS: this benchmark compares thread counts itself")
    import torch

    # before the neighbours start: it records the load the machine had of its own
    head = provenance(threads={"torch default": torch.get_num_threads()})
    rows = []
    for count in (int(n) for n in args.neighbours.split(",")):
        spin = [sys.executable, "-c", "while True: pass"]
        neighbours = [subprocess.Popen(spin) for _ in range(count)]
        try:
            for name, units in CASES:
                for mode in ("default threads", "one thread", "chooser"):
                    got = run_steps(name, units, args.steps, mode)
                    row = {
                        "busy_neighbours": count,
                        "encoder": name,
                        "units": units,
                        "mode": mode,
                        **got,
                    }
                    print(row, flush=True)
                    rows.append(row)
        finally:
            for p in neighbours:
                p.kill()
    out = {
        **head,
        "setup": f"{args.steps} steps of batch {BATCH} (random pixels / review-length texts), "
        "top units trained from cached states, AdamW; each busy neighbour spins on one core",
        "rows": rows,
    }
    write(args.out, out)


if __name__ == "__main__":
    main()
