"""Meta-training, reused: a fit with the same base data, encoder, method settings, seed and
method code as an earlier one starts from what that one meta-trained, as easyfsl users
meta-train once and then fit many support sets (walk 19: maml meta-trained again on every
`scarce fit ... --base`). Entries are safetensors + JSON in the cache folder; a damaged one
is trained anew, never trusted."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from scarce import __version__
from scarce.core.atomic import atomic_write_bytes
from scarce.core.environment import cache_dir
from scarce.core.hashing import sha256_bytes, sha256_text
from scarce.core.logs import collect_warnings, say_again
from scarce.data.types import LabeledSet

log = logging.getLogger(__name__)

FORMAT = 2  # 2: the warnings meta-training gave are kept with it


def _code_hash(learner: Any) -> str:
    """The source of the learner's module and its helpers: a change to how meta-training
    works must not reuse what the old code trained."""
    from scarce.methods import _centroids, _episodic

    files = {
        sys.modules[type(learner).__module__].__file__,
        _episodic.__file__,
        _centroids.__file__,
    }
    return sha256_bytes(b"".join(Path(f).read_bytes() for f in sorted(map(str, files))))


def meta_key(name: str, learner: Any, base: LabeledSet, seed: int) -> str:
    import torch

    enc = learner.encoder
    cfg = learner.config
    skip = getattr(cfg, "fit_only", frozenset())
    return sha256_text(
        json.dumps(
            {
                "format": FORMAT,
                "scarce": __version__,
                "torch": torch.__version__,
                "code": _code_hash(learner),
                "method": name,
                "config": {k: v for k, v in cfg.to_dict().items() if k not in skip},
                "encoder": [enc.spec.name, enc.weights_sha256(), enc.preprocessing()],
                "base": base.data_hash(),
                "seed": seed,
            },
            sort_keys=True,
            default=str,
        )
    )


def meta_train(name: str, learner: Any, base: LabeledSet, *, seed: int) -> dict[str, Any]:
    """`learner.meta_train(base, seed=seed)`, or its stored result; the record says which
    (`reused`)."""
    from safetensors.numpy import load_file, save

    if not hasattr(learner, "meta_state"):  # a learner that cannot hand its state over
        return learner.meta_train(base, seed=seed)
    key = meta_key(name, learner, base, seed)
    folder = cache_dir() / "meta"
    weights, record_file = folder / f"{key}.safetensors", folder / f"{key}.json"
    if weights.exists() and record_file.exists():
        try:
            stored = json.loads(record_file.read_text(encoding="utf-8"))
            # walk 24: [], null or an edited record crashed fit, and {} was "reused"
            if not isinstance(stored, dict) or stored.get("key") != key:
                raise ValueError("not the record this entry was written with")
            record = stored["record"]
            if not isinstance(record, dict) or "base_sha256" not in record:
                raise ValueError("its record is incomplete")
            said = stored.get("said")
            if not isinstance(said, list):
                raise ValueError("its warnings are missing")
            learner.use_meta_state(load_file(weights), record)
        except Exception as e:  # any damage (truncated, edited, other shapes): train again
            log.warning(
                "stored meta-training %s (.safetensors and .json in %s) is unreadable (%s: %s); "
                "training it again.",
                key[:12],
                folder,
                type(e).__name__,
                e,
            )
        else:
            log.info(
                "%s: meta-training reused from %s (same base, encoder, meta-training settings "
                "and seed)",
                name,
                weights,
            )
            say_again(said)  # what the first fit warned of holds for this one too
            return {**record, "reused": True}
    with collect_warnings() as said:
        record = learner.meta_train(base, seed=seed)
    tensors, kept = learner.meta_state()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # the record last: an entry counts only once both files are whole
        atomic_write_bytes(weights, save({k: np.ascontiguousarray(v) for k, v in tensors.items()}))
        entry = {"format": FORMAT, "key": key, "record": kept, "said": said}
        atomic_write_bytes(record_file, json.dumps(entry, default=float).encode("utf-8"))
    except OSError as e:  # a read-only cache costs the reuse, not the fit
        log.warning("could not store the meta-training in %s (%s).", folder, e)
    return record
