"""Shared machinery of the meta-learning methods (protonet with base data, maml, reptile):
features from the frozen encoder centred on the base set's mean and L2-normalized, a light
residual block on top of them (the part that meta-trains, so meta-learning works with any
encoder, frozen-only ones included, and fast on a CPU), episodic training on the base classes
with validation on held-out base classes, and the best step restored."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from scarce.core.config import Config, check_range
from scarce.core.progress import progress
from scarce.core.seeding import derive
from scarce.data.episodes import sample_episodes
from scarce.data.types import LabeledSet
from scarce.encoders.base import Encoder
from scarce.methods.base import ArrayFitted, softmax, torch_softmax, torch_unit_rows, unit_rows

log = logging.getLogger(__name__)

HIDDEN = 256
VAL_EPISODES = 100
SATURATED = 0.995  # validation accuracy at the start above which no gain can show


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Episodes are tiny matrices: more threads only add synchronisation (3x slower on two
    busy cores, measured)."""
    import threading

    import torch

    if threading.current_thread() is not threading.main_thread():
        yield  # torch's thread count is process-wide: worker threads must not race on it
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclasses.dataclass(frozen=True)
class EpisodicConfig(Config):
    """Meta-training on base episodes: the knobs protonet, maml and reptile share (each
    method states its own defaults)."""

    meta_steps: int = 200
    meta_lr: float = 3e-4
    meta_batch: int = 4
    ways: int = 5
    shots: int = 5
    queries: int = 10

    method: ClassVar[str] = ""
    help: ClassVar[dict[str, str]] = {
        "meta_steps": "meta-training steps on base episodes",
        "meta_lr": "outer learning rate of meta-training",
        "meta_batch": "episodes per meta-step",
        "ways": "classes per training episode",
        "shots": "support examples per class in training episodes",
        "queries": "query examples per class in training episodes",
    }

    def check(self) -> None:
        super().check()
        check_range(self.method, "meta_steps", self.meta_steps, 0, 100_000)
        check_range(self.method, "meta_lr", self.meta_lr, 1e-8, 1.0)
        check_range(self.method, "meta_batch", self.meta_batch, 1, 256)
        check_range(self.method, "ways", self.ways, 2, 1000)
        check_range(self.method, "shots", self.shots, 1, 1000)
        check_range(self.method, "queries", self.queries, 1, 1000)


@dataclasses.dataclass(frozen=True)
class HeadConfig(EpisodicConfig):
    """EpisodicConfig + the inner loop of the methods that adapt a head by gradient steps."""

    inner_lr: float = 0.1
    inner_steps: int = 5
    test_steps: int = 10

    help: ClassVar[dict[str, str]] = {
        **EpisodicConfig.help,
        "inner_lr": "step size of the inner (per-task) gradient steps",
        "inner_steps": "inner steps during meta-training",
        "test_steps": "inner steps when adapting to your labeled examples",
    }

    def check(self) -> None:
        super().check()
        check_range(self.method, "inner_lr", self.inner_lr, 1e-6, 100.0)
        check_range(self.method, "inner_steps", self.inner_steps, 1, 100)
        check_range(self.method, "test_steps", self.test_steps, 1, 1000)


def cl2n(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Centred on `mean`, then L2-normalized rows (float32); in place on one new array:
    each (n, d) temporary costs more than the arithmetic on episode-sized inputs."""
    return unit_rows(np.subtract(x, mean, dtype=np.float32), copy=False)


def adapter_init(dim: int, seed: int) -> dict[str, Any]:
    """A residual block z + W2 relu(W1 z + b1) + b2 with W2 = 0: it starts as the identity,
    so meta-training can only move away from the frozen features if episodes reward it."""
    import torch

    g = torch.Generator().manual_seed(seed % 2**63)
    h = min(HIDDEN, dim)
    return {
        "w1": (torch.randn(h, dim, generator=g) / dim**0.5).requires_grad_(),
        "b1": torch.zeros(h, requires_grad=True),
        "w2": torch.zeros(dim, h, requires_grad=True),
        "b2": torch.zeros(dim, requires_grad=True),
    }


def adapt(p: dict[str, Any], z: Any) -> Any:
    """The residual block (torch), on parameters passed in: functional, for the inner loops."""
    import torch

    return z + torch.relu(z @ p["w1"].T + p["b1"]) @ p["w2"].T + p["b2"]


def adapt_np(p: dict[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    """The same block in numpy, for prediction from a bundle."""
    return z + np.maximum(z @ p["w1"].T + p["b1"], 0) @ p["w2"].T + p["b2"]


@dataclasses.dataclass
class Part:
    """Some of the base examples: their positions in the base set, labels renumbered 0..k-1."""

    pos: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]


@dataclasses.dataclass
class BaseData:
    """The base set in the frozen feature space the episodic methods share."""

    mean: np.ndarray
    feats: np.ndarray  # frozen encoder features
    train: Part  # classes to meta-train on
    val: Part  # held-out classes (or held-out examples) to pick the best step
    val_kind: str
    data_hash: str


def task_centre(base_mean: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Where a task's features are centred before L2 normalization: halfway between the base
    set's mean (SimpleShot's CL2N) and the task's own support mean. Neither alone holds up:
    on 600 5-way episodes the base mean lost 4 points to no centring on Fashion-MNIST (novel
    classes unlike the base ones), the support mean alone lost 1.5 on sklearn digits and
    fortunes at 1 shot (5 examples make a noisy mean); halfway was within 0.3 of the better
    of base mean and no centring on all three, 1- and 5-shot."""
    return (0.5 * (base_mean + support.mean(axis=0))).astype(np.float32)


def held_out_classes(k: int, ways: int) -> int:
    """How many of k base classes (k >= 4) validate meta-training: a fifth, and up to `ways`
    while twice `ways` stay to train on. Validation episodes then have as many ways as the
    user's tasks: walk 27's 3-way episodes on 3 of 16 base classes scored 0.98 at the start
    (its 5-way novel tasks 0.69), where no step could show a gain; 5-way ones scored 0.94."""
    return max(2, k // 5, min(ways, k - 2 * ways))


def base_data(encoder: Encoder, base: LabeledSet, ways: int, seed: int) -> BaseData:
    feats = encoder.encode(base.inputs, desc="encoding the base set")
    mean = feats.mean(axis=0).astype(np.float32)
    g = np.random.default_rng(derive(seed, "valsplit"))
    k = len(base.classes)
    if k >= 4:  # validate on classes never meta-trained on: what novel classes will be
        held = g.choice(k, held_out_classes(k, ways), replace=False)
        is_val = np.isin(base.y, held)
        kind = f"{len(held)} held-out base classes"
    else:  # too few classes to spare: validate on held-out examples of the same classes
        is_val = np.zeros(len(base), bool)
        for c in range(k):
            members = np.flatnonzero(base.y == c)
            is_val[g.choice(members, max(1, len(members) // 5), replace=False)] = True
        kind = "20% held-out examples of the base classes"
    return BaseData(mean, feats, _part(base, ~is_val), _part(base, is_val), kind, base.data_hash())


def _part(base: LabeledSet, mask: np.ndarray) -> Part:
    pos = np.flatnonzero(mask)
    present = np.unique(base.y[pos])
    remap = np.full(len(base.classes), -1)
    remap[present] = np.arange(len(present))
    return Part(pos, remap[base.y[pos]], tuple(base.classes[int(c)] for c in present))


def episode_tensors(bd: BaseData, part: Part, ep: Any, shots: int) -> tuple[Any, Any, Any, Any]:
    """Support / query features and episode labels 0..ways-1 of one sampled episode."""
    import torch

    ways = len(ep.classes)
    support = bd.feats[part.pos[ep.support]]
    shift = task_centre(bd.mean, support)
    zs = torch.from_numpy(cl2n(support, shift))
    zq = torch.from_numpy(cl2n(bd.feats[part.pos[ep.query]], shift))
    ys = torch.arange(ways).repeat_interleave(shots)
    yq = torch.arange(ways).repeat_interleave(len(ep.query) // ways)
    return zs, ys, zq, yq


def meta_loop(*args: Any, **kwargs: Any) -> dict[str, Any]:
    from scarce.core.errors import DataError

    with one_thread():
        try:
            return _meta_loop(*args, **kwargs)
        except DataError as e:
            bd = args[0] if args else kwargs.get("bd")
            split = (
                f" The counts are after {bd.val_kind} were set aside for validation."
                if bd is not None
                else ""
            )
            raise DataError(
                f"the --base data is too small to meta-train on: "
                f"{str(e).split(' Lower ')[0]}{split} Add base examples or classes, or make "
                "the episodes smaller (--set ways=N, shots=N or queries=N)."
            ) from None


def _meta_loop(
    bd: BaseData,
    params: dict[str, Any],
    *,
    ways: int,
    shots: int,
    queries: int,
    steps: int,
    seed: int,
    update: Callable[[list[tuple[Any, Any, Any, Any]], int], float],
    accuracy: Callable[[dict[str, Any], Any, Any, Any, Any], float],
    batch: int = 1,
    eval_every: int | None = None,
    desc: str = "meta-training",
    logits: Callable[[dict[str, Any], Any, Any, Any], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Episodic training: `update` gets a meta-batch of episodes (and the step) and changes
    `params` in place; every `eval_every` steps, mean accuracy on fixed validation episodes
    decides the best step, whose parameters are restored (step 0 included: if meta-training
    never helps on held-out data, the start is kept). With `logits` (the query logits an
    episode's adapted model gives), the record also holds the temperature that calibrates
    them on episodes the start did not learn from. Returns a record for the manifest."""
    import torch

    # features are pretrained and base sets small: episodes overfit within tens of steps,
    # so the best step is looked for often
    eval_every = eval_every or max(10, steps // 20)
    tr_ways = min(ways, len(bd.train.classes))
    va_ways = min(ways, len(bd.val.classes))
    va_counts = np.bincount(bd.val.y)  # every class present: Part renumbers to those
    va_shots = max(1, min(shots, int(va_counts.min()) - 1))
    va_q = max(1, min(queries, int(va_counts.min()) - va_shots))
    val_eps = sample_episodes(
        bd.val.y, bd.val.classes, va_ways, va_shots, va_q, VAL_EPISODES, derive(seed, "val")
    )
    tr_counts = np.bincount(bd.train.y)
    tr_shots = max(1, min(shots, int(tr_counts.min()) - 1))
    tr_q = max(1, min(queries, int(tr_counts.min()) - tr_shots))
    if (tr_ways, tr_shots, tr_q) != (ways, shots, queries):  # `fit` prints what was used
        small = bd.train.classes[int(np.argmin(tr_counts))]
        # walk 29: 10 queries became 1 for every episode, said only with -v
        (log.warning if (tr_shots, tr_q) != (shots, queries) else log.info)(
            "meta-training episodes are %d-way %d-shot %d-query, not the %d-way %d-shot "
            "%d-query asked for: the base set holds %d classes to train on (after %s were set "
            "aside), the smallest, %r, with %d examples, and every episode draws as many per "
            "class as it can give. Add examples to it or leave it out of --base for more.",
            tr_ways, tr_shots, tr_q, ways, shots, queries, len(bd.train.classes),
            bd.val_kind, small, int(tr_counts.min()),
        )  # fmt: skip

    def validate() -> np.ndarray:
        return np.array(
            [accuracy(params, *episode_tensors(bd, bd.val, ep, va_shots)) for ep in val_eps]
        )

    start_accs = validate()
    best_acc = start_acc = float(start_accs.mean())
    best_step = 0
    best = {k: v.detach().clone() for k, v in params.items()}
    losses: list[float] = []
    # walk 37: at 1.000 before any step no step can show a gain, and the start is kept
    # anyway: 85 s of maml steps changed nothing
    steps_run = 0 if start_acc >= SATURATED else steps
    n_eps = steps_run * batch
    eps = (
        sample_episodes(
            bd.train.y, bd.train.classes, tr_ways, tr_shots, tr_q, n_eps, derive(seed, "train")
        )
        if n_eps
        else []
    )
    for step in progress(range(steps_run), desc=desc, unit="step"):
        chunk = eps[step * batch : (step + 1) * batch]
        tasks = [episode_tensors(bd, bd.train, ep, tr_shots) for ep in chunk]
        losses.append(update(tasks, step))
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            accs = validate()
            if accs.mean() > best_acc and _real_gain(accs - start_accs):
                best_acc, best_step = float(accs.mean()), step + 1
                best = {k: v.detach().clone() for k, v in params.items()}
    with torch.no_grad():
        for k, v in params.items():
            v.copy_(best[k])
    warned = False
    if best_step:
        verdict = (
            f"kept step {best_step} of {steps}: accuracy on {bd.val_kind} "
            f"{start_acc:.3f} -> {best_acc:.3f}"
        )
    elif start_acc >= SATURATED:
        verdict = (
            f"validation ({va_ways}-way episodes on {bd.val_kind}) scored {start_acc:.3f} "
            "before any step, so no step could show a gain: the start is kept and "
            "meta-training was skipped. A --base with more (or harder) classes lets "
            "validation tell"
        )
        log.warning("meta-training: %s.", verdict)
        warned = True
    else:
        verdict = (
            f"no step beat the start on {bd.val_kind} by more than a standard error "
            f"({start_acc:.3f} at the start): the start is kept"
        )
        if va_ways < 5:  # walk 32: 2.5 minutes on 8 base classes, and 2-way validation
            verdict += (
                f"; {va_ways}-way validation episodes rarely show a gain: a --base with more "
                "classes lets it tell (simpleshot, which does not meta-train, fits at once)"
            )
    calibration: dict[str, Any] = {}
    if logits is not None:
        # tasks the start has not learned from: the validation episodes, and where no step
        # ran, the training classes' too (walk 39: 2-way validation episodes all right, where
        # a fit on them ran to the grid's top and maml's 5-way log-loss to 3.6)
        tries = [(bd.val, val_eps, va_shots, f"validation episodes ({bd.val_kind})")]
        if not steps_run:
            cal_eps = sample_episodes(
                bd.train.y, bd.train.classes, tr_ways, tr_shots, tr_q, VAL_EPISODES,
                derive(seed, "calibration"),
            )  # fmt: skip
            tries.append((bd.train, cal_eps, tr_shots, "episodes of the base classes trained on "
                          "(none was: meta-training was skipped)"))  # fmt: skip
        calibration = _calibration(bd, params, logits, tries)
    return {
        **calibration,
        "verdict": verdict,
        "warned": warned,
        "base_sha256": bd.data_hash,
        "centring": "halfway between the base mean and each episode's support mean",
        "steps": steps_run,
        "best_step": best_step,
        "validation": bd.val_kind,
        "val_accuracy_start": round(start_acc, 4),
        "val_accuracy_best": round(best_acc, 4),
        "train_episode": f"{tr_ways}-way {tr_shots}-shot {tr_q}-query",
        "val_episode": f"{va_ways}-way {va_shots}-shot {va_q}-query",
        "loss_first_last": [round(losses[0], 4), round(losses[-1], 4)] if losses else [],
    }


def _calibration(
    bd: BaseData,
    params: dict[str, Any],
    logits: Callable[[dict[str, Any], Any, Any, Any], np.ndarray],
    tries: list[tuple[Part, list[Any], int, str]],
) -> dict[str, Any]:
    """The temperature fitted on the first of `tries` (part, episodes, shots, what) whose
    query answers are not all right; none (1) where every one is."""
    for part, episodes, k, what in tries:
        z, y = [], []
        for ep in episodes:
            zs, ys, zq, yq = episode_tensors(bd, part, ep, k)
            z.append(logits(params, zs, ys, zq))
            y.append(yq.numpy())
        zc, yc = np.concatenate(z), np.concatenate(y)
        if (zc.argmax(1) == yc).mean() < SATURATED:
            t, before, after = fit_temperature(zc, yc)
            return {
                "temperature": t,
                "temperature_from": what,
                "log_loss_before_after": [round(before, 4), round(after, 4)],
            }
    return {
        "temperature": 1.0,
        "temperature_from": "none: every answer was right on "
        + " and on ".join(t[3] for t in tries)
        + ", so no temperature can be fitted",
    }


TEMPERATURES = np.exp(np.linspace(np.log(0.2), np.log(10.0), 61))


def fit_temperature(z: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(t, log-loss at 1, log-loss at t): the factor on logits `z` with the lowest mean
    log-loss of labels `y` (Guo et al., On Calibration of Modern Neural Networks, 2017). A few
    inner steps from a zero head leave maml's and reptile's answers far too unsure (walk 37:
    mean top probability 0.76 on a test scored 1.000; calibration error 0.21 against
    protonet's 0.07 at the same accuracy)."""
    z = z - z.max(1, keepdims=True)

    def loss(t: float) -> float:
        zt = t * z
        zt = zt - zt.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(zt).sum(1)) - zt[np.arange(len(y)), y]))

    losses = [loss(float(t)) for t in TEMPERATURES]
    best = int(np.argmin(losses))
    return round(float(TEMPERATURES[best]), 4), loss(1.0), losses[best]


def _real_gain(diff: np.ndarray) -> bool:
    """A validated gain over the start counts only beyond one standard error of the paired
    episode differences: the held-out base classes are few, and steps picked on noise made
    novel classes worse (protonet on Fashion-MNIST: +0.4 on base, -2 points on novel)."""
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
    return bool(diff.mean() > se)


def to_numpy(p: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in p.items()}


# ---- a classifier head on the adapter, adapted per task (maml, reptile) ------------------

SCALE = 10.0  # logits = SCALE * (h @ W.T + b): unit-norm features need a sharp softmax


def head_init(dim: int, seed: int) -> dict[str, Any]:
    """Adapter block + one head row w0 (and bias b0) shared by every class, duplicated into
    the N rows of an N-way task: the start is the same for any class order and any N
    (zero-initialized, as in Ye & Chao, How to Train Your MAML to Excel in Few-Shot
    Classification, ICLR 2022). The row stays zero, outside the meta-learned parameters: a
    softmax does not change when every row moves together, so no meta-gradient reaches a
    shared row (it measured 0 to round-off, on which Adam would only drift; audit 20)."""
    import torch

    p = adapter_init(dim, seed)
    p["w0"] = torch.zeros(dim)
    p["b0"] = torch.zeros(())
    return p


def task_weights(p: dict[str, Any], ways: int) -> dict[str, Any]:
    fast = {k: v for k, v in p.items() if k not in ("w0", "b0")}
    fast["w"] = p["w0"].expand(ways, -1)
    fast["b"] = p["b0"].expand(ways)
    return fast


def head_logits(fast: dict[str, Any], z: Any) -> Any:
    return SCALE * (adapt(fast, z) @ fast["w"].T + fast["b"])


Logits = Callable[[dict[str, Any], Any], Any]


def inner_adapt(
    p: dict[str, Any],
    zs: Any,
    ys: Any,
    ways: int,
    steps: int,
    lr: float,
    second_order: bool,
    logits: Logits = head_logits,
    weight: Any = None,
) -> dict[str, Any]:
    """`steps` gradient steps on the support loss, written with torch.func: the fast weights
    are a function of `p`, so a loss on them differentiates back to `p` (through the inner
    gradients too when `second_order`; first-order MAML treats them as constants). `logits`
    is the network on those weights: the block and head by default (any functional network
    with a shared head row `w0`, `b0` works, e.g. the Conv-4 of bench/maml_conv4.py).
    `weight`: per support example (0 leaves it out of the loss), else all alike."""
    import torch
    from torch.func import grad

    def loss(fast: dict[str, Any]) -> Any:
        if weight is None:
            return torch.nn.functional.cross_entropy(logits(fast, zs), ys)
        ce = torch.nn.functional.cross_entropy(logits(fast, zs), ys, reduction="none")
        return (ce * weight).sum() / weight.sum()

    fast = task_weights(p, ways)
    for _ in range(steps):
        g = grad(loss)(fast)
        fast = {k: v - lr * (g[k] if second_order else g[k].detach()) for k, v in fast.items()}
    return fast


def loo_temperature(
    start: dict[str, Any], zs: Any, ys: Any, ways: int, cfg: Any, logits: Logits = head_logits
) -> float:
    """The temperature with the lowest held-out log-loss: each labeled example scored by the
    model adapted to the others. Fold f leaves out the f-th example of every class (m folds,
    m the smallest class's count, every example out once), so a 5-way 5-shot task costs 5
    adaptations (about 0.1 s), not 25. Where every one is right, the answers may be no surer
    than the rule of succession's accuracy, (n + 1) / (n + 2), as protonet's are
    (_centroids.loo_temperature)."""
    import torch

    from scarce.methods._centroids import capped_temperature

    y = ys.numpy()
    n, m = len(y), int(np.bincount(y).min())
    fold = np.zeros(n, np.int64)
    for c in np.unique(y):
        at = np.flatnonzero(y == c)
        fold[at] = np.arange(len(at)) % m

    def scored(mask: Any) -> Any:  # the support's logits after adapting to the unmasked
        fast = inner_adapt(
            start, zs, ys, ways, cfg.test_steps, cfg.inner_lr, False, logits, weight=mask
        )
        return logits(fast, zs)

    masks = torch.from_numpy((fold[None, :] != np.arange(m)[:, None]).astype(np.float32))
    with torch.no_grad():
        every = torch.stack([scored(mk) for mk in masks])  # (fold, example, class)
    z = every[torch.from_numpy(fold), torch.arange(n)].numpy().astype(np.float64)
    if (z.argmax(1) == y).all():
        return float(capped_temperature(z.max(1, keepdims=True) - z, (n + 1) / (n + 2)))
    return fit_temperature(z, y)[0]


class HeadFitted(ArrayFitted):
    """Frozen features -> cl2n on the task centre (`mean`) -> adapted block -> adapted head."""

    NAMES = ("mean", "w1", "b1", "w2", "b2", "w", "b")

    def proba_from_features(self, feats: np.ndarray) -> np.ndarray:
        t = self.tensors
        h = adapt_np(t, cl2n(feats, t["mean"]))
        return softmax(SCALE * (h @ t["w"].T + t["b"]))

    def torch_proba(self, t: dict[str, Any], feats: Any) -> Any:
        return torch_softmax(head_logits(t, torch_unit_rows(feats - t["mean"])))

    @classmethod
    def tensor_names(cls, meta: dict[str, Any]) -> tuple[str, ...]:
        return cls.NAMES

    @classmethod
    def from_state(
        cls,
        tensors: dict[str, np.ndarray],
        meta: dict[str, Any],
        encoder: Encoder,
        classes: tuple[str, ...],
    ) -> HeadFitted:
        from scarce.core.errors import BundleError

        need = set(cls.NAMES)  # exactly these: a bundle with more is not this method's
        if set(tensors) != need or tensors["w"].shape[0] != len(classes):
            raise BundleError(
                f"the bundle's weights ({sorted(tensors)}) do not match this method's "
                f"({sorted(need)}, one head row per class); the bundle is corrupt or from "
                "another version: fit it again."
            )
        return cls(encoder, classes, dict(tensors), meta)


class HeadMethod:
    """What maml and reptile share: base data is required, meta_train learns the start with
    the method's `updater`, and fit adapts it to the user's examples in `test_steps` steps."""

    spec: Any
    config: Any
    name: str = ""
    logits: Logits = staticmethod(head_logits)  # the network the inner loop adapts

    def __init__(self, config: Any, encoder: Encoder) -> None:
        self.config, self.encoder = config, encoder
        self.start: dict[str, Any] | None = None
        self.mean: np.ndarray | None = None
        self.meta_training: dict[str, Any] | None = None

    def fit(self, train: LabeledSet, *, seed: int, **_: Any) -> HeadFitted:
        import torch

        from scarce.core.errors import ConfigError

        if self.start is None or self.mean is None:
            raise ConfigError(
                f"{self.spec.name} meta-trains on base data: give --base DATA (other classes "
                "with labels; Python: base=...). Without base data use protonet, simpleshot "
                "or finetune."
            )
        cfg = self.config
        torch.manual_seed(seed)
        feats = self.encoder.encode(train.inputs)
        shift = task_centre(self.mean, feats)
        zs = torch.from_numpy(cl2n(feats, shift))
        ys = torch.from_numpy(train.y.astype(np.int64))
        start = {k: v.detach() for k, v in self.start.items()}
        with one_thread():
            fast = inner_adapt(
                start, zs, ys, len(train.classes), cfg.test_steps, cfg.inner_lr, False
            )
        # the logits' temperature: a factor on the head's rows and biases, so bundles and
        # ONNX carry it as is. From the labeled examples themselves where every class has 2+
        # (walk 42: one fitted on base episodes carries the base's difficulty, not the task's:
        # on an easy base maml's 5-shot calibration error was 0.22 against protonet's 0.15,
        # and fitted on harder base episodes its 1-shot log-loss went above a uniform guess)
        if np.bincount(train.y).min() >= 2:
            with one_thread():
                t = loo_temperature(start, zs, ys, len(train.classes), cfg, self.logits)
            source = f"held-out log-loss on the {len(train)} labeled examples (each left out once)"
        else:
            t = float((self.meta_training or {}).get("temperature", 1.0))
            source = "base episodes (a class has one labeled example)"
        fast = {k: v * t if k in ("w", "b") else v for k, v in fast.items()}
        meta = {
            "test_steps": cfg.test_steps,
            "inner_lr": cfg.inner_lr,
            "temperature": round(t, 4),
            "temperature_from": source,
        }
        if self.meta_training is not None:
            meta["meta_training"] = self.meta_training
        return HeadFitted(self.encoder, train.classes, {"mean": shift, **to_numpy(fast)}, meta)

    def updater(self, p: dict[str, Any]) -> Callable[[list[tuple[Any, ...]], int], float]:
        """The method's outer step on a meta-batch of episodes (changes `p` in place)."""
        raise NotImplementedError

    def meta_train(self, base: LabeledSet, *, seed: int) -> dict[str, Any]:
        import torch

        cfg = self.config
        torch.manual_seed(seed)
        bd = base_data(self.encoder, base, cfg.ways, seed)
        p = head_init(bd.feats.shape[1], seed)
        record = meta_loop(
            bd,
            p,
            ways=cfg.ways,
            shots=cfg.shots,
            queries=cfg.queries,
            steps=cfg.meta_steps,
            seed=seed,
            update=self.updater(p),
            accuracy=self.val_accuracy,
            batch=cfg.meta_batch,
            logits=self.val_logits,
        )
        self.start, self.mean, self.meta_training = p, bd.mean, record
        return record

    def meta_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """What meta_train learned, to store (see _meta_cache)."""
        if self.start is None or self.mean is None or self.meta_training is None:
            raise RuntimeError("meta_state() before meta_train()")
        start = {f"start.{k}": v.detach().numpy() for k, v in self.start.items()}
        return {"mean": self.mean, **start}, self.meta_training

    def use_meta_state(self, tensors: dict[str, np.ndarray], record: dict[str, Any]) -> None:
        import torch

        self.mean = tensors["mean"]
        self.start = {
            k[6:]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith("start.")
        }
        self.meta_training = record

    def val_logits(self, p: dict[str, Any], zs: Any, ys: Any, zq: Any) -> np.ndarray:
        """The query logits after adapting the start `p` to the support, as `fit` does."""
        import torch

        start = {k: v.detach() for k, v in p.items()}
        fast = inner_adapt(
            start,
            zs,
            ys,
            int(ys.max()) + 1,
            self.config.test_steps,
            self.config.inner_lr,
            False,
            self.logits,
        )
        with torch.no_grad():
            return self.logits(fast, zq).numpy()

    def val_accuracy(self, p: dict[str, Any], zs: Any, ys: Any, zq: Any, yq: Any) -> float:
        return float((self.val_logits(p, zs, ys, zq).argmax(1) == yq.numpy()).mean())
