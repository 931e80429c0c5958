"""Learning curves: accuracy against labels per class, a saturating fit, and where a
doubling of the labels stops paying."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from scarce.evaluation.intervals import Interval

# Doubling the labels per class must buy at least this much accuracy to be "paying" (per
# label, 0.001 read "stops paying at K=50" on curves still gaining 3.6 points per doubling)
DOUBLING = 0.01
DROP = 0.005  # the largest K's mean this far below an earlier one: the curve fell
PLATEAU_GAP = 0.02  # the fit must come this close to its asymptote by 10x the largest K
FLAT = 0.005  # points that span less than this are a plateau already
# how far past the largest K a fit is read: three doublings, as far as `predicted` goes
# (walk 19: 3 points up to 16 per class read "a doubling adds 0.01 ... beyond 10,000")
REACH = 8
REFITS = 200  # refits within the points' intervals that say how closely a reading is known
PLATEAU_SPREAD = 0.03  # a plateau known no closer than this is not given as one number
STOP_SPREAD = 4  # nor a stop point whose range spans more than this factor (2x either way)
BEYOND = 1e12  # a refit whose doubling still pays past REACH (kept finite for percentiles)


def fit_curve(
    shots: Sequence[int],
    means: Sequence[float],
    lows: Sequence[float] | None = None,
    highs: Sequence[float] | None = None,
    change: Interval | None = None,
) -> dict[str, Any] | None:
    """Fit acc(K) = a - b * K^(-c) (an inverse power law, the usual shape of learning curves;
    Hestness et al. 2017). None when there are fewer than 3 points or the fit fails; its
    plateau is None when these points cannot tell it. A rise that cannot be told from none
    is not extrapolated: by `change`, the interval of the last point minus the first
    (`Units.change`, which lets the test items both share cancel), else by whether the
    points' own intervals overlap."""
    from scipy.optimize import curve_fit

    k = np.asarray(shots, float)
    acc = np.asarray(means, float)
    if len(k) < 3:
        return None

    def f(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
        return a - b * np.power(x, -c)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (a, b, c), _ = curve_fit(
                f,
                k,
                acc,
                p0=(min(1.0, acc.max() + 0.05), 0.3, 0.5),
                bounds=([0, 0, 0.01], [1, 2, 3]),
                maxfev=20_000,
            )
    except (RuntimeError, ValueError):
        return None
    stop = _stop_point(b, c)
    top = int(np.argmax(k))
    kmax, measured = int(k[top]), float(acc[top])
    # the fit's gains from the measured point on: a 3-point fit may pass below it, and a
    # prediction for more labels under what was measured reads as nonsense (walk 13)
    predicted = [
        {
            "shots": m * kmax,
            "mean": min(1.0, measured + _gain(f, (a, b, c), kmax, m)),
        }
        for m in (2, 4, 8)
    ]
    gain2 = predicted[0]["mean"] - measured
    stops = max(1, int(np.ceil(stop))) if stop <= REACH * kmax else None
    unread = {
        "model": "a - b * shots^(-c)",
        "a": float(a),
        "b": float(b),
        "c": float(c),
        "plateau": None,
        "stops_paying_at": None,
        "predicted": [],
    }
    earlier = acc[k < kmax]
    if len(earlier) and earlier.max() - measured > DROP:
        best = int(np.argmax(np.where(k < kmax, acc, -np.inf)))
        # walk 30: where the fall is the change from the smallest K, its interval says which
        told = change is not None and best == int(np.argmin(k))
        if told and change.high < 0:
            why = (
                f"; it fell by {change.mean:+.3f} [{change.low:+.3f}, {change.high:+.3f}], "
                "beyond noise: noisy labels or an overfit method?"
            )
        elif told:
            why = (
                f"; that fall, {change.mean:+.3f} [{change.low:+.3f}, {change.high:+.3f}], is noise"
            )
        else:
            why = (
                " (a fall within the intervals is noise; one beyond them points to noisy "
                "labels or an overfit method)"
            )
        return {
            **unread,
            "note": f"Accuracy fell from {acc[best]:.3f} at {_per_class(k[best])} to "
            f"{measured:.3f} at {kmax}, which no rising curve follows, so none is "
            f"extrapolated: more labels did not help here{why}.",
        }
    first = int(np.argmin(k))
    lo = None if lows is None else list(lows)
    hi = None if highs is None else list(highs)
    # (one repeat has no interval: low = high = mean, and nothing to compare; flat points
    # are said to be flat below)
    moved = float(acc.max() - acc.min()) > FLAT
    if change is not None:
        untold = change.low < change.high and change.low <= 0
        said = (
            f"a change of {change.mean:+.3f} [{change.low:+.3f}, {change.high:+.3f}] that cannot "
            "be told from none"
        )
    else:
        untold = lo is not None and hi is not None and lo[top] < hi[top] and lo[top] <= hi[first]
        said = "a change inside the points' intervals"
    if moved and untold:
        # walk 14: random labels read "a doubling adds 0.01 or more up to 8867 per class"
        return {
            **unread,
            "note": f"Accuracy went from {acc[first]:.3f} at {_per_class(k[first])} to "
            f"{measured:.3f} at {kmax}, {said}, so no curve is extrapolated from it: more "
            "repeats or test examples would tell whether labels help.",
        }
    # a plateau is read only where the points come near it: at a bound of the fit, or still
    # rising by more than 0.02 at 10x the largest K, it is an extrapolation with no support
    near = a - float(f(np.array(10.0 * kmax), a, b, c)) <= PLATEAU_GAP
    at_top = a >= 1 - 1e-6  # the fit would go past perfect accuracy: it approaches it
    plateau = float(a) if near and a > 1e-6 and not at_top else None
    flat = float(acc.max() - acc.min()) <= FLAT
    if flat:  # the fit's asymptote sits at a bound, but the points themselves say it
        plateau = float(acc.mean())
        level = f"is flat at about {plateau:.3f} over these shot counts"
    elif near and at_top:  # walk 9: 0.962, 0.996, 0.9995 read "still rising"
        level = "rises towards perfect accuracy"
    elif plateau is None and stops is not None and stops <= kmax:
        # walk 14: "still rising" beside "past about 1 per class a doubling adds < 0.01"
        level = "gains little where these points end, though its plateau cannot be read"
    elif plateau is None:
        level = "is still rising where these points end, so its plateau cannot be read from them"
    elif a < 0.995:
        level = f"levels off near {a:.3f}"
    else:
        level = "rises towards perfect accuracy"
    spread = _spread(k, acc, lo, hi, f, (a, b, c), kmax, measured)
    if spread is not None and plateau is not None and not flat:
        p_lo, p_hi = spread["plateau"]
        if p_hi - p_lo > PLATEAU_SPREAD:  # walk 33: 0.960 to 0.985 across seeds, each sure
            plateau = None  # not one number the report can print
            level = (
                f"levels off, at a level these points cannot pin down (refitted within their "
                f"intervals: {p_lo:.3f} to {p_hi:.3f})"
            )
    gain_said = f"{gain2:+.3f} accuracy"
    capped = False
    room = 1.0 - measured  # what any gain is capped at
    if room < DOUBLING:
        # within 0.01 of perfect: no doubling can add 0.01, and the cap, not the fit, sets
        # the gain (walk 33: "+0.012 [+0.012, +0.012]" read as certain perfection)
        gain_said = (
            f"at most {room:+.3f} accuracy (the measured {measured:.3f} is that close to perfect)"
        )
        stops = min(stops or kmax, kmax)
    elif spread is not None:  # the point inside its range (walk 33: +0.012 [+0.013, +0.027])
        g_lo, g_hi = min(spread["gain"][0], gain2), max(spread["gain"][1], gain2)
        spread["gain"] = (g_lo, g_hi)
        if g_lo >= room - 1e-9:  # every refit reaches the cap: the cap is the reading
            gain_said = f"up to {room:+.3f} accuracy, reaching perfect if the curve holds"
        elif g_hi >= room - 1e-9:
            gain_said = f"{gain2:+.3f} [{g_lo:+.3f}, {room:+.3f}: perfect] accuracy"
        else:
            gain_said = f"{gain2:+.3f} [{g_lo:+.3f}, {g_hi:+.3f}] accuracy"
    # doublings capped at perfect accuracy: once one adds under 0.01, so does every later one
    # (walk 33: "past about 66 per class" where doubling to 40 already reached 1.0)
    at, acc_now = kmax, measured
    while at <= REACH * kmax:
        step = _gain(f, (a, b, c), at)
        nxt = min(1.0, acc_now + step)
        if nxt - acc_now < DOUBLING:
            if stops is None or at < stops:
                stops, capped = at, True
            break
        at, acc_now = 2 * at, nxt
    note = (
        f"Fitted on {len(k)} points, so a rough guide: the curve {level}. Doubling to "
        f"{2 * kmax} labels per class is predicted to add {gain_said}; "
    )
    fixed = room < DOUBLING or capped  # the cap, not the fit's wobble, sets the stop
    s_lo, s_hi = spread["stop"] if spread is not None and not fixed else (stops, stops)
    if stops and (s_hi is None or (s_lo or 0) * STOP_SPREAD < s_hi):
        # walk 33: "past about 4 per class" on one seed, "past about 32" on another
        note += (
            f"where a doubling stops adding {DOUBLING:.2f} cannot be read closely from them "
            f"(refitted within their intervals: from about {max(s_lo or 1, 1)} per class "
            + (f"to {s_hi})." if s_hi is not None else f"to beyond {REACH * kmax}).")
        )
        stops = None
    else:
        note += (
            f"past about {stops} per class a doubling adds less than {DOUBLING:.2f}."
            if stops
            else f"a doubling still adds {DOUBLING:.2f} or more at {REACH * kmax} per class, as "
            "far as these points can be read."
        )
    return {
        "model": "a - b * shots^(-c)",
        "a": float(a),
        "b": float(b),
        "c": float(c),
        "plateau": plateau,
        "stops_paying_at": stops,
        "predicted": predicted,
        # 95% ranges of the readings, refitted within the points' intervals
        "spread": spread,
        "note": note,
    }


def _gain(f: Any, params: tuple[float, float, float], at: float, times: float = 2) -> float:
    """What the fitted curve adds from `at` labels per class to `times` as many."""
    return float(f(np.array(times * at, float), *params) - f(np.array(at, float), *params))


def _stop_point(b: float, c: float) -> float:
    """Where a doubling adds DOUBLING: b K^-c (1 - 2^-c) = DOUBLING."""
    return (b * (1 - 2**-c) / DOUBLING) ** (1 / c) if b > 0 else 0.0


def _spread(
    k: np.ndarray,
    acc: np.ndarray,
    lo: list[float] | None,
    hi: list[float] | None,
    f: Any,
    start: tuple[float, float, float],
    kmax: int,
    measured: float,
) -> dict[str, Any] | None:
    """The fit's readings, refitted on points redrawn within their intervals (each point
    normal with the standard error its 95% interval implies, seeded): the 2.5th and 97.5th
    percentiles of the doubling gain, the plateau and the stop point (None past REACH).
    Three points fit three parameters exactly, so the readings follow every wobble of the
    points. None without intervals."""
    from scipy.optimize import curve_fit

    if lo is None or hi is None:
        return None
    se = (np.asarray(hi, float) - np.asarray(lo, float)) / (2 * 1.96)
    if not (se > 0).any():
        return None
    g = np.random.default_rng(0)
    gains, tops, stops = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(REFITS):
            y = np.clip(acc + g.normal(0, 1, len(acc)) * se, 0, 1)
            try:
                (a, b, c), _ = curve_fit(
                    f, k, y, p0=start, bounds=([0, 0, 0.01], [1, 2, 3]), maxfev=5_000
                )
            except (RuntimeError, ValueError):
                continue
            # on the point's footing: added to the measured top point, capped at perfect
            step = _gain(f, (a, b, c), kmax)
            gains.append(min(1.0, measured + step) - measured)
            tops.append(float(a))
            stop = _stop_point(b, c)
            stops.append(stop if stop <= REACH * kmax else BEYOND)
    if len(gains) < REFITS // 2:
        return None
    q = (2.5, 97.5)
    s_lo = float(np.percentile(stops, q[0], method="lower"))
    s_hi = float(np.percentile(stops, q[1], method="higher"))
    return {
        "gain": tuple(float(v) for v in np.percentile(gains, q)),
        "plateau": tuple(float(v) for v in np.percentile(tops, q)),
        "stop": (
            max(1, int(np.ceil(s_lo))) if s_lo < BEYOND else None,
            max(1, int(np.ceil(s_hi))) if s_hi < BEYOND else None,
        ),
    }


def _per_class(k: float) -> str:
    return f"{int(k)} label{'s' if int(k) != 1 else ''} per class"
