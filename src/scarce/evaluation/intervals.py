"""Confidence intervals over repeats."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from scarce.core.logs import ROUND_OFF


@dataclasses.dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Student-t interval for the mean of independent repeats (n=1 gives a zero-width one)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    m = float(v.mean())
    if len(v) < 2:
        return Interval(m, m, m, len(v))
    half = float(stats.t.ppf((1 + confidence) / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return Interval(m, m - half, m + half, len(v))


MIN_BOOTSTRAP = 6  # fewer values: no resampling interval reaches 95% (3 values: 75% at best)


def bootstrap_interval(
    values: Sequence[float], confidence: float = 0.95, *, seed: int = 0, resamples: int = 10_000
) -> Interval:
    """Expanded percentile bootstrap of the mean (Hesterberg, What teachers should know about
    the bootstrap, 2015; no normality assumption, seeded): the percentiles at the tail whose
    normal quantile is sqrt(n/(n-1)) t(n-1). The plain percentile interval is too narrow at the
    few repeats an evaluation has (simulated, a 95% one covered 76% at 3 repeats, 84% at 5, 89%
    at 10; expanded: 93% at 6, 94% at 10, as t). Below MIN_BOOTSTRAP values no resampling
    interval can cover 95% of the time: there it is the t interval."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    m = float(v.mean())
    n = len(v)
    if n < MIN_BOOTSTRAP:
        return t_interval(v, confidence)
    g = np.random.default_rng(seed)
    means = v[g.integers(0, n, size=(resamples, n))].mean(axis=1)
    tail = float(stats.norm.sf(np.sqrt(n / (n - 1)) * stats.t.ppf((1 + confidence) / 2, n - 1)))
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return Interval(m, float(lo), float(hi), n)


MIN_VERDICT_REPEATS = 3  # two repeats that differ by the same amount give a zero-width interval
# identical differences on every repeat give a zero-width t interval at any n; believe them
# from the repeats a sign test would need (two-sided p = 2 / 2**6 < 0.05)
MIN_CONSTANT_REPEATS = 6
TOO_FEW = "too few repeats to tell"


def repeats_needed(n: int) -> int:
    """The paired repeats a verdict needs where `n` gave TOO_FEW: 3, or 6 when there were 3
    or more (then every repeat differed by the same amount)."""
    return MIN_VERDICT_REPEATS if n < MIN_VERDICT_REPEATS else MIN_CONSTANT_REPEATS


def verdict(iv: Interval, higher_is_better: bool = True) -> str:
    """'better' / 'worse' when a paired difference's interval excludes zero, on 3+ repeats:
    with two, identical differences (one test example either way, say) give a zero-width
    interval that would claim certainty it does not have."""
    if iv.n < MIN_VERDICT_REPEATS:
        return TOO_FEW
    if iv.high - iv.low < ROUND_OFF and iv.n < MIN_CONSTANT_REPEATS:
        # the same difference on every repeat; none at all claims nothing (walk 28: two
        # methods at 1.000 on every repeat read "too few repeats to tell")
        return "no clear difference" if abs(iv.mean) < ROUND_OFF else TOO_FEW
    sign = 1 if higher_is_better else -1
    lo, hi = sorted((sign * iv.low, sign * iv.high))
    if lo > ROUND_OFF:  # equal answers can differ by round-off: no verdict on that
        return "better"
    if hi < -ROUND_OFF:
        return "worse"
    return "no clear difference"


def interval(
    values: Sequence[float],
    method: str = "t",
    confidence: float = 0.95,
    seed: int = 0,
    bounds: tuple[float, float] = (-np.inf, np.inf),
    item_var: tuple[float, int] = (0.0, 0),
) -> Interval:
    """The interval of the mean, clipped to the range the values can take. `item_var`: the
    variance the mean owes to which test items happened to be drawn (see `item_variance`),
    which no number of repeats on those same items averages away, with its items' count;
    it widens the interval in quadrature."""
    if method == "bootstrap" and len(values) < MIN_BOOTSTRAP:
        method = "t"  # the whole interval, the pool's share included (walk 21)
    iv = bootstrap_interval(values, confidence, seed=seed) if method == "bootstrap" else None
    iv = iv or t_interval(values, confidence)
    var, n_items = item_var
    # one repeat says nothing of the draws' spread: no interval at all, rather than one that
    # counts the items alone (the terminal and the report say "no interval")
    if var > 0 and iv.n >= 2:
        from scipy import stats

        q = (1 + confidence) / 2
        if method != "bootstrap":
            # one t interval on the summed variance; Welch-Satterthwaite degrees of freedom,
            # since the two parts are estimated from R repeats and from n items
            draws = (iv.half_width / float(stats.t.ppf(q, iv.n - 1))) ** 2
            df = (draws + var) ** 2 / (draws**2 / (iv.n - 1) + var**2 / max(n_items - 1, 1))
            half = float(stats.t.ppf(q, df) * np.sqrt(draws + var))
            iv = Interval(iv.mean, iv.mean - half, iv.mean + half, iv.n)
        else:
            extra = float(stats.t.ppf(q, max(n_items - 1, 1))) ** 2 * var
            low = iv.mean - np.sqrt((iv.mean - iv.low) ** 2 + extra)
            high = iv.mean + np.sqrt((iv.high - iv.mean) ** 2 + extra)
            iv = Interval(iv.mean, float(low), float(high), iv.n)
    lo, hi = bounds
    if (lo, hi) == (0.0, 1.0) and n_items and iv.n >= 2:
        iv = _near_the_edge(iv, n_items, confidence)
    return Interval(iv.mean, float(max(iv.low, lo)), float(min(iv.high, hi)), iv.n)


EDGE_ITEMS = 5  # fewer wrong (or right) test items than this: the normal approximation fails


def _near_the_edge(iv: Interval, n_items: int, confidence: float) -> Interval:
    """A proportion within EDGE_ITEMS items of 0 or 1: the spread of a handful of misses
    says next to nothing (walk 29: 150 of 150 read [1.000, 1.000], and one miss in 22,500
    answers on those 150 images [0.9998, 1.000]), so that side moves toward the exact
    binomial (Clopper-Pearson) bound over the distinct test items: all the way with no miss,
    not at all from EDGE_ITEMS misses on. The move fades in so that the interval does not
    jump there (walk 37: 4.9 misses in 120 items read [0.906, 0.981] and 5.0 beside it
    [0.937, 0.980])."""
    from scipy import stats

    a = (1 - confidence) / 2
    right = iv.mean * n_items
    wrong = n_items - right
    if wrong < EDGE_ITEMS:
        low = float(stats.beta.ppf(a, right, wrong + 1)) if right > 0 else 0.0
        w = 1 - wrong / EDGE_ITEMS
        return Interval(iv.mean, iv.low - w * max(iv.low - low, 0.0), iv.high, iv.n)
    if right < EDGE_ITEMS:
        high = float(stats.beta.ppf(1 - a, right + 1, wrong)) if right < n_items else 1.0
        w = 1 - right / EDGE_ITEMS
        return Interval(iv.mean, iv.low, iv.high + w * max(high - iv.high, 0.0), iv.n)
    return iv


def paired_near_zero(
    iv: Interval, only_a: int, only_b: int, n_items: int, confidence: float = 0.95
) -> Interval:
    """A paired difference of accuracies whose two sides part on fewer than EDGE_ITEMS test
    items (`only_a` right for the first alone, `only_b` for the second): each share of such
    items reaches at least its exact binomial (Clopper-Pearson) bound, as `_near_the_edge`
    does for one proportion (walk 32: two methods perfect on 65 items read +0.000 [+0.000,
    +0.000], as if certainly alike; now about +-0.055)."""
    if only_a + only_b >= EDGE_ITEMS or n_items < 1:
        return iv
    from scipy import stats

    a = (1 - confidence) / 2

    def up(k: int) -> float:
        return float(stats.beta.ppf(1 - a, k + 1, n_items - k)) if k < n_items else 1.0

    def down(k: int) -> float:
        return float(stats.beta.ppf(a, k, n_items - k + 1)) if k > 0 else 0.0

    low = max(min(iv.low, down(only_a) - up(only_b)), -1.0)
    high = min(max(iv.high, up(only_a) - down(only_b)), 1.0)
    return Interval(iv.mean, low, high, iv.n)


def change_interval(
    first: Sequence[float],
    last: Sequence[float],
    confidence: float = 0.95,
    item_var: tuple[float, int] = (0.0, 0),
) -> Interval:
    """The interval of mean(last) - mean(first), two sets of independent draws (a learning
    curve's end points: not paired by repeat). The draws' spreads add (Welch); `item_var` is
    the variance the difference owes to the test items, from each item's difference between
    the two (`item_variance` of those): items that both score cancel out of it, where the
    two points' own intervals each count them whole (walk 29: a curve that rose on every
    draw, 0.327 to 0.422 on one --test set, read as a change inside the intervals)."""
    from scipy import stats

    a, b = np.asarray(first, float), np.asarray(last, float)
    diff = float(b.mean() - a.mean())
    n = min(len(a), len(b))
    if n < 2:
        return Interval(diff, diff, diff, n)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    var, n_items = item_var
    total = va + vb + var
    if total <= 0:
        return Interval(diff, diff, diff, n)
    parts = va**2 / (len(a) - 1) + vb**2 / (len(b) - 1) + var**2 / max(n_items - 1, 1)
    half = float(stats.t.ppf((1 + confidence) / 2, total**2 / parts) * np.sqrt(total))
    return Interval(diff, diff - half, diff + half, n)


def item_variance(runs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[float, int]:
    """(variance, distinct items) of a mean score from the test items' side. Each run gives
    (item keys, per-item scores); every item's score is averaged over the runs that tested
    it, and the variance of those averages over the number of items is what a fresh test
    sample would move the mean by. Repeats that share test items (the rest of a small
    pool, a given --test set, episodes drawn again and again from the same images) cannot
    see it: walk 9 found 95% intervals covering the large-sample truth 9 times in 13
    (k-shot, 20 per class) and 6 in 13 (600 episodes from 20 images per class)."""
    if not runs:
        return 0.0, 0
    uniq, means = item_means(runs)
    if len(uniq) < 2:
        return 0.0, len(uniq)
    return float(means.var(ddof=1) / len(uniq)), len(uniq)


def item_means(runs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(sorted item keys, each item's score averaged over the runs that tested it)."""
    keys = np.concatenate([k for k, _ in runs])
    vals = np.concatenate([v for _, v in runs]).astype(float)
    uniq, inv = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inv, weights=vals) / np.bincount(inv)


def support_variance(
    runs: Sequence[tuple[np.ndarray, float]], groups: np.ndarray | None = None
) -> tuple[float, int]:
    """(variance, distinct items) of a mean score from the training side: which examples
    the pool happened to offer to learn from. Each run gives (the keys of the items it
    trained on, its score); `groups[key]` is an item's class. Episodes drawn again and
    again from a small pool reuse each support item in many runs, and one odd support
    image moves every run it is in: the spread over runs cannot see it
    (bench/interval_coverage.py: 1-shot intervals covered the large-sample truth 35-36
    times in 40 without this term, 36-38 with it). The first-order (Hajek) term of a
    U-statistic: h(i), the mean score of the runs that trained on item i, varies around
    its class's mean (the classes are not drawn: an easy class's items all score high)
    by var(h), less h's own noise (the runs' spread around it over their count: method of
    moments, so items seen in one run each add nothing). Drawing k of a class's n_c items
    into runs of s, an item's pull on a run shows in h(i) scaled by
    (n_c - k) / (s (n_c - 1)); the pool's n items move the mean by var(pull) / n."""
    if len(runs) < 2:
        return 0.0, 0
    scores = np.array([v for _, v in runs], float)
    sizes = np.array([len(k) for k, _ in runs])
    keys = np.concatenate([np.asarray(k) for k, _ in runs])
    uniq, inv = np.unique(keys, return_inverse=True)
    n = len(uniq)
    grp = np.zeros(n, np.int64) if groups is None else np.asarray(groups)[uniq]
    _, g = np.unique(grp, return_inverse=True)
    n_groups = int(g.max()) + 1
    m = np.bincount(inv)
    dof = int((m - 1).sum())
    if n - n_groups < 1 or dof == 0:  # each item in one run: its pull cannot be told apart
        return 0.0, n
    vals = np.repeat(scores, sizes)
    h = np.bincount(inv, weights=vals) / m
    within = float(((vals - h[inv]) ** 2).sum()) / dof
    n_c = np.bincount(g)
    # k: a class's items in a run that holds any of them
    run_of = np.repeat(np.arange(len(runs)), sizes)
    cnt = np.bincount(run_of * n_groups + g[inv], minlength=len(runs) * n_groups)
    cnt = cnt.reshape(len(runs), n_groups)
    k = cnt.sum(0) / np.maximum((cnt > 0).sum(0), 1)
    hc = h - (np.bincount(g, weights=h) / n_c)[g]
    # an item shares k/n_c of its runs' noise with its class's mean, which centring removes
    noise = within * float(np.mean((1 - k[g] / n_c[g]) / m))
    between = float((hc**2).sum()) / (n - n_groups) - noise
    ok = n_c > k  # a class whose every item is in every run it joins shows no pull
    if between <= 0 or not ok.any():
        return 0.0, n
    s = float(sizes.mean())
    scale = (s * (n_c - 1) / np.where(ok, n_c - k, 1)) ** 2
    factor = float((scale * n_c * ok).sum() / n_c.sum())
    return between * factor / n, n
