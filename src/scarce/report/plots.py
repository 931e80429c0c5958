"""The report's plots, each returned as a PNG `data:` URI so the HTML needs no other file.

Figures are built with `matplotlib.figure.Figure` and an Agg canvas, never through pyplot:
pyplot keeps every figure in a global registry (memory grows unless each is closed) and
switching its backend would hijack the interactive backend of a notebook that renders a
report. A bare Figure is freed like any other object once the function returns.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

# Colour-blind safe (Okabe-Ito); the baseline is always the grey one.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]
BASELINE_COLOUR = "#555555"  # whatever the verdicts compare with: the reference
SCRATCH_COLOUR = "#B0B0B0"  # the from-scratch baseline where it is not the reference (domain)
SCRATCH = "baseline"
BANDS_UP_TO = 3  # more methods than this: error bars, not bands (walk 33: six bands merged)
_DPI = 100
_RC: dict[Any, Any] = {
    # class and method names are user strings: "$5 bills" must not be parsed as TeX
    "text.parse_math": False,
    "font.size": 10,
    "axes.titlesize": 11,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.facecolor": "white",
}


def colours(methods: Sequence[str], baseline: str | None) -> dict[str, str]:
    """A stable colour per method so every plot uses the same one for it."""
    out: dict[str, str] = {}
    i = 0
    for m in methods:
        if m == baseline:
            out[m] = BASELINE_COLOUR
        elif m == SCRATCH:  # one colour in every report (walk 33: blue beside blues)
            out[m] = SCRATCH_COLOUR
        else:
            out[m] = PALETTE[i % len(PALETTE)]
            i += 1
    return out


@contextlib.contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    with matplotlib.rc_context(_RC), warnings.catch_warnings():
        # a class name in a script DejaVu lacks draws as boxes; that is no reason to fail
        warnings.filterwarnings("ignore", message=r".*[Gg]lyph .* missing from")
        fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
        FigureCanvasAgg(fig)
        try:
            yield fig
        finally:
            fig.clear()


def _to_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    # no Software/date metadata: the same results give byte-identical reports
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def render(fig_fn: Any, width: float, height: float, *args: Any, **kwargs: Any) -> str:
    """Draw with `fig_fn(fig, ...)` inside a private figure and return the PNG data URI."""
    with _figure(width, height) as fig:
        fig_fn(fig, *args, **kwargs)
        return _to_uri(fig)


def _short(label: str, n: int = 18) -> str:
    label = " ".join(str(label).split())
    return label if len(label) <= n else label[: n - 1] + "…"


@functools.cache
def _font() -> Any:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    with matplotlib.rc_context(_RC):
        return FT2Font(font_manager.findfont(font_manager.FontProperties()))


def drawable(text: str) -> bool:
    """Whether the plots' font has a glyph for every character (CJK names often lack one
    and would be drawn as empty boxes)."""
    font = _font()
    return all(c.isspace() or font.get_char_index(ord(c)) for c in str(text))


def aliases(classes: Sequence[str]) -> dict[str, str]:
    """'#n' (its place in `classes`) for each class name the plots cannot draw; the page
    prints the key, where the browser draws every script."""
    return {c: f"#{i + 1}" for i, c in enumerate(classes) if not drawable(c)}


def _tick(name: str, alias: Mapping[str, str] | None) -> str:
    return (alias or {}).get(name) or _short(name)


def _legend_label(name: str) -> str:
    # matplotlib hides legend entries whose label starts with "_"
    return " " + name if name.startswith("_") else name


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def learning_curves(
    series: Mapping[str, Sequence[Mapping[str, Any]]],
    fits: Mapping[str, Mapping[str, Any] | None],
    colour: Mapping[str, str],
    metric: str = "accuracy",
) -> str:
    """Metric vs shots (log x) per method with interval bands and the fitted curve dashed."""

    # a domain evaluation's K = 0 (no target labels) is its main result: a log axis would drop
    # it, so then the axis is linear from 0 to 1 and logarithmic above
    zero = any(_num(p.get("shots")) == 0 for pts in series.values() for p in pts)

    drawn = [m for m, pts in series.items() if pts]
    bands = len(drawn) <= BANDS_UP_TO

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ticks: set[float] = set()
        for m, pts in series.items():
            pts = sorted(
                (
                    p
                    for p in pts
                    if _num(p.get("shots")) > 0 or (zero and _num(p.get("shots")) == 0)
                ),
                key=lambda p: p["shots"],
            )
            if not pts:
                continue
            k = np.array([_num(p["shots"]) for p in pts])
            mean = np.array([_num(p.get("mean")) for p in pts])
            low = np.array([_num(p.get("low")) for p in pts])
            high = np.array([_num(p.get("high")) for p in pts])
            c = colour.get(m, "black")
            ax.plot(k, mean, "o-", color=c, label=_legend_label(m), lw=1.8, ms=4)
            ok = np.isfinite(low) & np.isfinite(high)
            if ok.any() and bands:
                ax.fill_between(k[ok], low[ok], high[ok], color=c, alpha=0.18, lw=0)
            elif ok.any():  # bars nudged apart on the log axis, so that each stays readable
                i = drawn.index(m) - (len(drawn) - 1) / 2
                at = np.where(k[ok] > 0, k[ok] * np.exp(0.04 * i), 0.05 * i)
                err = np.clip([mean[ok] - low[ok], high[ok] - mean[ok]], 0, None)  # round-off
                ax.errorbar(at, mean[ok], yerr=err, fmt="none", ecolor=c, elinewidth=1.2,
                            capsize=2, alpha=0.8)  # fmt: skip
            ticks.update(float(x) for x in k)
            fit = fits.get(m)
            if (
                fit
                and fit.get("predicted") != []  # the points fell: no curve was extrapolated
                and (k > 0).any()
                and all(math.isfinite(_num(fit.get(p))) for p in ("a", "b", "c"))
            ):
                extra = [_num(p.get("shots")) for p in fit.get("predicted") or []]
                right = max([float(k.max()) * 4, *[e for e in extra if math.isfinite(e)]])
                a, b, cc = (_num(fit[p]) for p in ("a", "b", "c"))
                ticks.update(e for e in extra if math.isfinite(e) and e > 0)
                # the fit's gains from the measured top point on, as the text and
                # `predicted` give them (walk 23: the raw fit drawn beside them differed
                # by up to 0.04)
                top = int(np.argmax(k))
                grid = np.geomspace(float(k[top]), right, 100)
                rise = (a - b * grid ** (-cc)) - (a - b * float(k[top]) ** (-cc))
                ax.plot(grid, np.minimum(1.0, mean[top] + rise), "--", color=c, lw=1.2)
        if zero:
            ax.set_xscale("symlog", linthresh=1.0, linscale=0.5)
        else:
            ax.set_xscale("log")
        # the shot counts themselves as ticks: plain numbers, and the log formatter's
        # 10^k labels need the mathtext that user strings must not trigger
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(sorted(ticks), [f"{t:g}" for t in sorted(ticks)])
        ax.set_xlabel(
            "labelled examples per class (log scale"
            + ("; 0 = none, unsupervised)" if zero else ")")
        )
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(True, which="major", alpha=0.3)
        if any(series.values()):  # beside the axes: inside, it hid points (walks 23, 33)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        ax.set_title(
            f"{metric.replace('_', ' ')} vs labels per class (dashed: the fitted curve's gains "
            "beyond the largest K; " + ("bands" if bands else "bars") + ": 95% intervals)",
            fontsize=9,
        )

    return render(draw, 8.6, 4.2)


def confusion(
    matrix: Sequence[Sequence[float]],
    classes: Sequence[str],
    title: str,
    alias: Mapping[str, str] | None = None,
) -> str:
    """Heatmap of counts, rows = true class, columns = predicted."""
    cm = np.asarray(matrix, dtype=float)
    n = cm.shape[0]
    # about 0.2 inch a class beyond 20, so that 50 classes keep readable labels (the report
    # shows such a matrix at its own size, scrolling, rather than shrunk into a column)
    side = min(7.0, max(3.6, 0.45 * n + 1.8)) if n <= 20 else min(18.0, 0.2 * n + 3.0)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        im = ax.imshow(cm, cmap="Blues", vmin=0)
        fig.colorbar(im, ax=ax, shrink=0.8)
        names = [_tick(c, alias) for c in classes][:n]
        tilt = n > 4 or max(map(len, names), default=0) > 10
        small = {"fontsize": 7} if n > 20 else {}
        ax.set_xticks(
            range(len(names)),
            names,
            rotation=(90 if n > 20 else 45) if tilt else 0,
            ha="right" if tilt and n <= 20 else "center",
            **small,
        )
        ax.set_yticks(range(len(names)), names, **small)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        if n <= 20:  # beyond that the digits overlap; the colours still show the pattern
            peak = cm.max() if cm.size and np.isfinite(cm).all() else 0
            for i in range(n):
                for j in range(cm.shape[1]):
                    v = cm[i, j]
                    txt = f"{v:.0f}" if float(v).is_integer() else f"{v:.2g}"
                    ax.text(
                        j,
                        i,
                        txt,
                        ha="center",
                        va="center",
                        fontsize=11 if n <= 6 else 8,
                        color="white" if peak and v > 0.6 * peak else "black",
                    )
        for s in ax.spines.values():
            s.set_visible(False)

    return render(draw, side + 0.8, side)


def per_class_f1(
    f1: Mapping[str, float], title: str, colour: str, alias: Mapping[str, str] | None = None
) -> str:
    """Horizontal bars, one per class, in [0, 1]."""
    names = list(f1)
    vals = [_num(f1[k]) for k in names]

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        y = np.arange(len(names))
        v = np.nan_to_num(np.array(vals), nan=0.0)
        bars = ax.barh(y, v, color=colour, height=0.7)
        ax.set_yticks(y, [_tick(k, alias) for k in names])
        ax.invert_yaxis()
        ax.set_xlim(0, 1.08)
        ax.set_xlabel("F1")
        ax.set_title(title)
        if len(names) <= 30:  # a class never tested has no F1 (walk 23: it read 0.00)
            said = ["not tested" if not math.isfinite(x) else f"{x:.2f}" for x in vals]
            ax.bar_label(bars, labels=said, padding=2, fontsize=8)

    return render(draw, 4.6, min(8.0, max(2.4, 0.28 * len(names) + 1.2)))


def reliability(rel: Mapping[str, Any], title: str, colour: str) -> str:
    """Accuracy per confidence bin as bars against the diagonal of perfect calibration."""
    bins = int(_num(rel.get("bins")) if math.isfinite(_num(rel.get("bins"))) else 10) or 10
    conf = [_num(x) for x in rel.get("confidence") or []]
    acc = [_num(x) for x in rel.get("accuracy") or []]
    count = [_num(x) for x in rel.get("count") or []]

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        width = 1.0 / bins
        centres = (np.arange(len(acc)) + 0.5) * width
        a = np.array(acc)
        shown = np.isfinite(a)
        if count:
            shown &= np.array([c > 0 for c in count] + [True] * (len(a) - len(count)))[: len(a)]
        ax.bar(
            centres[shown],
            a[shown],
            width=width * 0.95,
            color=colour,
            alpha=0.8,
            edgecolor="white",
            label="accuracy in bin",
        )
        c = np.array(conf[: len(a)] + [math.nan] * (len(a) - len(conf)))
        pts = shown & np.isfinite(c)
        ax.plot(c[pts], a[pts], "k.", ms=5, label="mean confidence")
        ax.plot([0, 1], [0, 1], ls="--", color="#888888", lw=1, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(title)
        ax.legend(loc="upper left", fontsize=8, frameon=False)

    return render(draw, 4.2, 3.8)


def class_balance(
    counts: Mapping[str, Mapping[str, float]],
    classes: Sequence[str],
    alias: Mapping[str, str] | None = None,
) -> str:
    """Grouped bars of examples per class, one group member per split (pool, test)."""
    names = list(classes) or sorted({k for c in counts.values() for k in c})

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        x = np.arange(len(names))
        w = 0.8 / max(1, len(counts))
        for i, (split, cnt) in enumerate(counts.items()):
            v = [_num(cnt.get(k, 0)) for k in names]
            bars = ax.bar(
                x + (i - (len(counts) - 1) / 2) * w,
                np.nan_to_num(v),
                w,
                label=split,
                color=PALETTE[i % len(PALETTE)],
            )
            if len(names) <= 20:
                ax.bar_label(bars, labels=[f"{t:.0f}" for t in v], padding=1, fontsize=8)
        ax.set_xticks(
            x,
            [_tick(k, alias) for k in names],
            rotation=45 if len(names) > 4 else 0,
            ha="right" if len(names) > 4 else "center",
            fontsize=8,
        )
        ax.set_ylabel("examples")
        ax.set_title("examples per class")
        ax.margins(y=0.12)  # room for the count labels
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    return render(draw, min(12.0, max(5.5, 0.45 * len(names) + 3.0)), 3.6)
