"""Turn a results dict (docs/results-schema.md) into one self-contained HTML page.

Self-contained means nothing is fetched when the page is viewed: the CSS is inline, every
picture is a PNG `data:` URI, there is no script, and a Content-Security-Policy that allows
only inline styles and `data:` images makes a browser refuse anything else. Every string
that comes from the results (class names, paths, texts, messages) goes through
`html.escape`, so a results file cannot inject markup.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from scarce.core.atomic import atomic_write
from scarce.core.errors import DataError
from scarce.core.logs import fixed, plural
from scarce.evaluation.intervals import MIN_VERDICT_REPEATS, TOO_FEW, repeats_needed
from scarce.evaluation.metrics import PER_ITEM
from scarce.evaluation.schema import SCHEMA, SCHEMA_VERSIONS
from scarce.report import plots

log = logging.getLogger(__name__)


# (id, heading) in page order
SECTIONS = (
    ("overview", "Overview"),
    ("results", "Results by method"),
    ("negative-transfer", "Negative transfer"),
    ("learning-curves", "Learning curves"),
    ("confusion", "Confusion matrices and per-class F1"),
    ("reliability", "Reliability"),
    ("hardest", "Hardest misclassified examples"),
    ("balance", "Class balance"),
    ("metadata", "Run metadata"),
)

METRIC_LABELS = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "macro_f1": "Macro-F1",
    "log_loss": "Log-loss ↓",
    "ece": "ECE ↓",
    "roc_auc": "ROC-AUC",
}
THUMB = 96
# every report's title starts so, older ones' too: how `scarce report --out` knows a page
# it may replace (audit 26)
REPORT_MARK = b"<title>scarce report: "
SNIPPET = 200
# The only thing a viewer may load is what is already in the file.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d8dee4; --bad:#b42318; --good:#1a7f37; }
* { box-sizing: border-box; }
body { margin:0; background:#f6f8fa; color:var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 16px 24px 48px; }
header h1 { font-size: 1.6rem; margin: .3em 0 .1em; overflow-wrap: anywhere; }
nav { font-size: .85rem; margin: .4em 0 0; }
nav a { color: #0969da; margin-right: .9em; text-decoration: none; white-space: nowrap; }
section { background:#fff; border:1px solid var(--line); border-radius:8px;
  padding: 4px 20px 16px; margin: 16px 0; }
h2 { font-size: 1.25rem; border-bottom: 1px solid var(--line); padding-bottom: .25em; }
h3 { font-size: 1.02rem; margin: 1.1em 0 .4em; }
.muted, .ci, figcaption { color: var(--muted); }
.ci { font-size: .85em; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: .88rem; margin: .3em 0 .8em; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; }
.ci { white-space: nowrap; }
tr.baseline td { background: #f6f8fa; }
.tag { display: inline-block; font-size: .72rem; padding: 0 7px; border-radius: 9px;
  background: #eaeef2; color: #424a53; margin-left: 4px; white-space: nowrap; }
.better { color: var(--good); font-weight: 600; }
.worse { color: var(--bad); font-weight: 600; }
.unclear { color: var(--muted); }
.alert { border: 2px solid var(--bad); background: #ffebe9; border-radius: 6px;
  padding: 8px 16px; margin: 8px 0; }
.alert strong { color: var(--bad); }
.allclear { border-left: 4px solid var(--good); background: #dafbe1; padding: 8px 14px;
  border-radius: 4px; }
.untested { border-left: 4px solid #9a6700; background: #fff8c5; padding: 8px 14px;
  border-radius: 4px; }
.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(340px, 100%), 1fr));
  gap: 14px; align-items: start; }
figure { margin: 0; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: .82rem; }
.wide img { max-width: min(100%, 760px); }
.big { grid-column: 1 / -1; overflow-x: auto; }
.span { grid-column: 1 / -1; }
.span img { max-width: min(100%, 760px); }
.big img { max-width: none; }
.notes li { margin: .2em 0; }
.thumbs { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(150px, 100%), 1fr));
  gap: 10px; }
.snippets { grid-template-columns: repeat(auto-fill, minmax(min(300px, 100%), 1fr)); }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px;
  font-size: .8rem; overflow-wrap: anywhere; background: #fff; }
.card img { width: 96px; height: 96px; object-fit: contain; background: #eaeef2;
  display: block; margin: 2px auto 6px; }
.card q { display: block; font-style: italic; margin-bottom: 6px; quotes: none; }
.card .missing { display: block; background: #fff8c5; padding: 4px; margin-bottom: 6px; }
code { font-size: .85em; overflow-wrap: anywhere; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; overflow-wrap: anywhere; }
@media (max-width: 640px) {
  main { padding: 8px; }
  section { padding: 4px 10px 12px; }
  dl.kv { grid-template-columns: 1fr; }
  dl.kv dd { margin-bottom: 6px; }
}
"""


# control characters are not allowed in HTML (fortunes' backspace overstrikes showed as
# nothing or as boxes): shown as their Unicode pictures, tab and line breaks kept
_CONTROLS = {c: 0x2400 + c for c in range(32) if chr(c) not in "\t\n\r"} | {127: 0x2421}


def _e(x: Any) -> str:
    return escape("" if x is None else str(x), quote=True).translate(_CONTROLS)


def _f(x: Any, digits: int = 3, sign: bool = False) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(v):
        return "—"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return fixed(v, digits, sign)


def _interval(row: Mapping[str, Any] | None, sign: bool = False) -> str:
    if not row:
        return "—"
    if isinstance(row.get("n"), int) and row["n"] < 2:  # one repeat: there is no interval
        # short: in every cell of a wide table it pushed the verdicts out of view (walk 13)
        return (
            f"{_f(row.get('mean'), sign=sign)} "
            '<span class="ci" title="one repeat: no interval">(1 repeat)</span>'
        )
    lo, hi = _f(row.get("low"), sign=sign), _f(row.get("high"), sign=sign)
    return f'{_f(row.get("mean"), sign=sign)} <span class="ci">[{lo}, {hi}]</span>'


def _shots_label(k: Any, plural: bool = True) -> str:
    if k is None:
        return "all folds"
    return f"K = {_e(k)} per class" if plural else f"K = {_e(k)}"


def _shared_items(protocol: dict) -> bool:
    """Whether the intervals' units (repeats) may share test items: all but k-fold's folds
    (older results have no interval_unit: one k-fold repeat took its folds)."""
    unit = protocol.get("interval_unit")
    if unit is None:
        unit = "fold" if protocol.get("name") == "kfold" and protocol.get("repeats") == 1 else ""
    return unit != "fold"


def check_results(results: Any, where: str) -> dict:
    """Raise DataError unless `results` is a scarce-results dict of a version we read."""
    hint = "Pass the results.json that `scarce eval` writes."
    if not isinstance(results, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(results).__name__}. {hint}")
    schema = results.get("schema")
    if schema != SCHEMA:
        raise DataError(f"{where}: schema is {schema!r}, expected {SCHEMA!r}. {hint}")
    version = results.get("schema_version")
    if version not in SCHEMA_VERSIONS or isinstance(version, bool):
        raise DataError(
            f"{where}: schema_version {version!r} is not one this version of scarce reads "
            f"({', '.join(map(str, SCHEMA_VERSIONS))}). Upgrade scarce (pip install -U scarce) "
            "or re-run `scarce eval` with the installed version."
        )
    return results


def load_results(path: str | Path) -> dict:
    """Read and check a results.json; every failure is a DataError naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"{path}: no such results file. Run `scarce eval` first, or check the path."
        ) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the results file ({exc}).") from None
    if raw.startswith(b"PK\x03\x04"):  # walk 29: a bundle got 'utf-8 codec can't decode'
        raise DataError(
            f"{path}: is a zip file (a model bundle?), not results: `scarce report` renders the "
            "results.json that `scarce eval DATA --out results.json` writes."
        )
    try:
        text = raw.decode("utf-8-sig")  # a BOM (Windows editors) is no reason to refuse
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not a results file (not UTF-8 text: {exc.reason} at byte {exc.start}). "
            "It should be the results.json written by `scarce eval`."
        ) from None
    try:
        results = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}). "
            "It should be the results.json written by `scarce eval`; if the run was cut "
            "short, run it again."
        ) from None
    return check_results(results, str(path))


@dataclass
class _Page:
    r: dict
    base_dirs: list[Path]
    methods: list[str] = field(default_factory=list)
    descriptions: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    baseline: str | None = None
    colour: dict[str, str] = field(default_factory=dict)
    unreadable: int = 0

    def __post_init__(self) -> None:
        for m in self.r.get("methods") or []:
            name = str(m.get("name")) if isinstance(m, Mapping) else str(m)
            self.descriptions[name] = m if isinstance(m, Mapping) else {}
            self.methods.append(name)
        seen = [row.get("method") for row in self.summary]
        seen += list(self.details) + list(self.r.get("curves") or {})
        for m in seen:
            if m is not None and str(m) not in self.methods:
                self.methods.append(str(m))
        self.baseline = self.r.get("baseline")
        if self.baseline in self.methods:  # the reference reads first everywhere
            self.methods.remove(self.baseline)
            self.methods.insert(0, self.baseline)
        self.colour = plots.colours(self.methods, self.baseline)

    @property
    def data(self) -> Mapping[str, Any]:
        return self.r.get("data") or {}

    @property
    def domain(self) -> bool:
        return (self.r.get("protocol") or {}).get("name") == "domain"

    @property
    def reference_tag(self) -> str:
        """What the reference method is: the from-scratch baseline, or source-only."""
        return "source only" if self.domain else "from scratch"

    @property
    def reference_name(self) -> str:
        return "the source-only model" if self.domain else "the from-scratch baseline"

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.data.get("classes") or []]

    @property
    def summary(self) -> list[Mapping[str, Any]]:
        return [s for s in self.r.get("summary") or [] if isinstance(s, Mapping)]

    @property
    def details(self) -> Mapping[str, Any]:
        return self.r.get("details") or {}

    def shots(self) -> list[Any]:
        ks = {s.get("shots") for s in self.summary}
        return sorted(ks, key=lambda k: (k is None, k if isinstance(k, int | float) else 0))

    def ordered(self, names: Iterable[Any]) -> list[Any]:
        names = list(names)
        return [m for m in self.methods if m in names] + [m for m in names if m not in self.methods]


# ---------------------------------------------------------------- sections


def _overview(p: _Page) -> str:
    d, pr = p.data, p.r.get("protocol") or {}
    classes = p.classes
    test = d.get("test")
    test_txt = (
        f"{_e(test.get('source'))} ({_e(test.get('n'))} examples)"
        if isinstance(test, Mapping)
        else "none (each episode is scored on its query examples)"
        if pr.get("name") == "episodes"
        else "none (tested on the half of each target class it does not adapt to)"
        if pr.get("name") == "domain"
        else "none (tested on held-out examples of the pool)"
    )
    rows = [
        ("Data source", f"<code>{_e(d.get('source'))}</code>"),
        ("Modality", _e(d.get("modality"))),
        ("Examples", _e(d.get("n"))),
        ("Classes", f"{len(classes)}: " + ", ".join(_e(c) for c in classes)),
        *_counts_row(d, p.r.get("majority")),
        ("Test set", test_txt),
        ("Protocol", _protocol_text(pr)),
        *_base_rows(p.r.get("base")),
        ("Backbone", _e(p.r.get("backbone"))),
        *_domain_rows(p.r.get("domain")),
        (
            ("Reference", f"{_e(p.baseline)} <span class='tag'>source only, no adaptation</span>")
            if pr.get("name") == "domain"
            else ("Baseline", f"{_e(p.baseline)} <span class='tag'>from scratch</span>")
        ),
        ("Seed", _e(p.r.get("seed"))),
    ]
    out = ['<dl class="kv">']
    out += [f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows]
    out.append("</dl>")
    # what the run warned of, the cautions about the data above all: the terminal's alone
    # before (walk 33: a pool of 4 in a class, test images also in training)
    said = [str(w) for w in p.r.get("warnings") or [] if w]
    if said:
        out.append("<h3>Cautions the run gave</h3><ul class='cautions'>")
        out += [f"<li>{_e(w)}</li>" for w in said]
        out.append("</ul>")
    if p.descriptions:
        out.append("<h3>Methods</h3><div class='table-wrap'><table>")
        out.append(
            "<tr><th>Method</th><th>Kind</th><th>Description</th><th>Settings changed</th></tr>"
        )
        for m in p.methods:
            info = p.descriptions.get(m, {})
            kind = "transfer" if info.get("transfer") else "from scratch"
            changed = info.get("changed") if isinstance(info.get("changed"), Mapping) else {}
            knobs = ", ".join(f"{_e(k)}={_e(v)}" for k, v in changed.items()) or "defaults"
            out.append(
                f"<tr><td>{_e(m)}</td><td>{kind}</td><td>{_e(info.get('description'))}</td>"
                f"<td>{knobs}</td></tr>"
            )
        out.append("</table></div>")
    return "\n".join(out)


def _counts_row(d: Mapping[str, Any], floors: Any) -> list[tuple[str, str]]:
    """Unequal classes: their counts, and what answering each test set's largest class
    scores (walk 23: a baseline under that floor read as a real score; walk 24: from the
    test sets themselves, which k-shot draws leave unequal in their own way)."""
    counts = d.get("counts")
    rows = []
    if isinstance(counts, Mapping) and len(set(counts.values())) > 1:
        rows.append(("Class counts", ", ".join(f"{_e(c)}: {_e(n)}" for c, n in counts.items())))
    if isinstance(floors, list) and floors:
        rows.append(
            (
                "Majority floor",
                "always answering each test set's largest class would score "
                + ", ".join(
                    ("" if f.get("shots") is None else f"at K={_e(f.get('shots'))}: ")
                    + f"{_f(f.get('accuracy'))} accuracy ({_f(f.get('balanced_accuracy'))} "
                    "balanced)"
                    for f in floors
                    if isinstance(f, Mapping)
                ),
            )
        )
    return rows


def _domain_rows(domain: Any) -> list[tuple[str, str]]:
    if not isinstance(domain, Mapping):
        return []
    src = domain.get("source") or {}
    counts = src.get("counts") if isinstance(src.get("counts"), Mapping) else {}
    per_class = f" ({', '.join(f'{_e(c)}: {_e(n)}' for c, n in counts.items())})" if counts else ""
    return [
        (
            "Source domain",
            f"<code>{_e(src.get('source'))}</code>: {_e(src.get('n'))} labeled examples"
            f"{per_class}; every method, the from-scratch baseline included, learns from it",
        ),
        # walk 23: the note named the JSON key labeled_target
        (
            "Target labels",
            _e(str(domain.get("note", "")).replace("labeled_target", "--target-labels")),
        ),
    ]


def _base_rows(base: Any) -> list[tuple[str, str]]:
    if not isinstance(base, Mapping):
        return []
    rows = [
        (
            "Base data",
            f"<code>{_e(base.get('source'))}</code>: {_e(base.get('n'))} examples of "
            f"{len(base.get('classes') or [])} other classes",
        )
    ]
    for m, rec in (base.get("meta_training") or {}).items():
        if isinstance(rec, Mapping) and rec.get("reused"):  # walk 24: said nowhere
            rows.append(
                (
                    f"Stored meta-training ({_e(m)})",
                    "reused from an earlier run with the same base data, encoder, meta-training "
                    "settings and seed",
                )
            )
        if isinstance(rec, Mapping) and "best_step" in rec:
            # the method's verdict already gives the step and its validation, rounded its way
            # (walk 9: both printed, 0.864 beside 0.863 for one number)
            text = (
                _e(rec["verdict"])
                if rec.get("verdict")
                else f"best step {_e(rec.get('best_step'))} of {_e(rec.get('steps'))}; "
                f"validation ({_e(rec.get('validation'))}) accuracy "
                f"{_f(rec.get('val_accuracy_start'))} → {_f(rec.get('val_accuracy_best'))}"
            )
            rows.append((f"Meta-training ({_e(m)})", text))
    return rows


def _protocol_text(pr: Mapping[str, Any]) -> str:
    name = pr.get("name")
    repeats = pr.get("repeats")
    tests = {
        "given": "on the given test set",
        "rest": "on the rest of the pool (the examples not drawn)",
        "fold": "on the held-out fold",
    }
    where = tests.get(str(pr.get("test")), f"test: {_e(pr.get('test'))}")
    conf = pr.get("confidence")
    kind = {"t": "t-intervals over repeats", "bootstrap": "bootstrap intervals"}.get(
        str(pr.get("interval")), f"{_e(pr.get('interval'))} intervals"
    )
    if pr.get("interval_requested") == "bootstrap":
        kind += " (bootstrap was asked for; it needs 6 or more repeats to reach its confidence)"
    if _shared_items(pr):
        # walk 13: recomputed from the repeats alone, they looked wrong
        sides = "tested and trained on" if name == "episodes" else "tested on"
        kind += (
            ", widened for accuracy, balanced accuracy and log-loss by the variance owed to "
            f"which examples were {sides} (repeats that share examples cannot average it away)"
        )
    level = f"{float(conf) * 100:g}% " if isinstance(conf, int | float) else ""
    if name == "kshot":
        shots = ", ".join(_e(k) for k in pr.get("shots") or [])
        head = (
            f"k-shot: K = {shots} labelled examples per class, "
            f"{_e(repeats)} random {plural('draw', repeats)} per K, tested {where}"
        )
    elif name == "domain":
        shots = ", ".join(_e(k) for k in pr.get("shots") or [])
        head = (
            f"domain adaptation: {_e(repeats)} {plural('repeat', repeats)}; each adapts "
            "to the target examples "
            f"outside the test set (unlabeled), with {shots} of them labeled per class, and is "
            f"tested {where if pr.get('test') == 'given' else 'on half of each target class'}"
        )
    elif name == "episodes":
        shots = ", ".join(_e(k) for k in pr.get("shots") or [])
        head = (
            f"episodes: {_e(pr.get('episodes'))} {_e(pr.get('ways'))}-way tasks per K "
            f"(K = {shots} support examples per class), each scored on "
            f"{_e(pr.get('queries'))} query examples per class"
        )
        left = pr.get("left_out") if isinstance(pr.get("left_out"), Mapping) else {}
        if left:  # walk 21: the classes never drawn were listed as if tested
            head += "; never drawn (fewer than K + queries examples): " + "; ".join(
                f"at K={_e(k)}, {', '.join(_e(c) for c in cs)}" for k, cs in left.items()
            )
        return f"{head}; {level}{kind} (over episodes)"
    elif name == "kfold":
        head = (
            f"k-fold: {_e(pr.get('folds'))}-fold stratified cross-validation, repeated "
            f"{_e(repeats)} time(s), tested {where}"
        )
        if isinstance(repeats, int) and repeats > 1:
            # walk 23: 8 fold scores counted as 2 with no word why
            head += (
                "; each repeat's folds are averaged into one score (they share their training "
                "examples, so they are not independent), and the intervals are over repeats"
            )
    else:
        head = f"{_e(name)} ({_e(json.dumps(pr, default=str))})"
    return f"{head}; {level}{kind}"


def _results_table(p: _Page) -> str:
    summary = {(s.get("method"), s.get("shots"), s.get("metric")): s for s in p.summary}
    if not summary:
        return "<p class='muted'>This results file has no summary rows.</p>"
    paired = {
        (q.get("method"), q.get("shots")): q
        for q in p.r.get("paired") or []
        if isinstance(q, Mapping) and q.get("metric", "accuracy") == "accuracy"
    }
    present = {k[2] for k in summary}
    listed = [m for m in p.r.get("metrics") or [] if m in present]
    metrics = [m for m in METRIC_LABELS if m in present and (m in listed or not listed)]
    metrics += [m for m in listed if m not in metrics]
    vs = _e(p.baseline)
    # walk 33: macro-F1 and ECE brackets 6-13x narrower than accuracy's on the same test
    # items read as 95% intervals; they are the draws' spread alone where draws share items
    spread_only = (
        [m for m in metrics if m not in PER_ITEM]
        if _shared_items(p.r.get("protocol") or {})
        else []
    )
    out = [
        f"<p>Means over repeated draws with their intervals in brackets. "
        f"&ldquo;Δ accuracy&rdquo; is each method minus {p.reference_name} "
        f"(<strong>{vs}</strong>) on the same draws. ↓: lower is better."
        + (
            f" †: {', '.join(_e(METRIC_LABELS.get(m, m)) for m in spread_only)} "
            f"{'is' if len(spread_only) == 1 else 'are'} not a mean over test items, so "
            "the bracket is the spread of the draws alone; the draws share test items, whose "
            "own variance it leaves out: the uncertainty is wider (on balanced classes, "
            "about accuracy's)."
            if spread_only
            else ""
        )
        + "</p>"
    ]
    for k in p.shots():
        label = "All folds" if k is None else _shots_label(k)
        if p.domain:
            label = f"{_e(k)} target label(s) per class"
        out.append(f"<h3>{label}</h3>")
        out.append("<div class='table-wrap'><table><tr><th>Method</th>")
        out += [
            f"<th>{_e(METRIC_LABELS.get(m, m))}{' †' if m in spread_only else ''}</th>"
            for m in metrics
        ]
        out.append(f"<th>Δ accuracy vs {vs}</th><th>Verdict</th></tr>")
        for m in p.ordered({key[0] for key in summary if key[1] == k}):
            base = m == p.baseline
            name = _e(m) + (f" <span class='tag'>{p.reference_tag}</span>" if base else "")
            cells = [f"<td>{name}</td>"]
            cells += [f"<td class='num'>{_interval(summary.get((m, k, x)))}</td>" for x in metrics]
            q = paired.get((m, k))
            if base:
                cells.append("<td class='num muted'>reference</td><td></td>")
            elif q:
                verdict = str(q.get("verdict", ""))
                css = {"better": "better", "worse": "worse"}.get(verdict, "unclear")
                cells.append(f"<td class='num'>{_interval(q, sign=True)}</td>")
                cells.append(f"<td class='{css}'>{_e(verdict)}</td>")
            else:
                cells.append("<td class='num'>—</td><td></td>")
            row_css = " class='baseline'" if base else ""
            out.append(f"<tr{row_css}>{''.join(cells)}</tr>")
        out.append("</table></div>")
    out.append(_multitask_table(p.r.get("multitask")))
    out.append(_unlabeled_table(p.r.get("unlabeled")))
    out.append(_versus_table(p.r.get("versus")))
    return "\n".join(out)


def _multitask_table(mt: Any) -> str:
    """What training together gave each task: multitask minus each task trained alone."""
    if not isinstance(mt, Mapping):
        return ""
    tasks = mt.get("tasks") if isinstance(mt.get("tasks"), Mapping) else {}
    primary = str(mt.get("primary") or "label")
    per_task = [(f"{primary} (this data)", mt.get("paired") or [])]
    per_task += [
        (str(n), (t.get("paired") if isinstance(t, Mapping) else None) or [])
        for n, t in tasks.items()
    ]
    return "\n".join(
        [
            f"<h3>Multi-task: {_e(mt.get('method'))} vs {_e(mt.get('versus'))}</h3>",
            "<p>Every task trained together (one shared layer, one head each) and each task "
            "trained alone, on the same draws; accuracy on each task's own held-out examples. "
            f"This data's task is {_e(primary)}; the other tasks hold out part of their "
            "examples per repeat to be scored on, and train on the rest whatever the shot "
            "count: "
            + "; ".join(
                f"<strong>{_e(n)}</strong>: <code>{_e(t.get('source'))}</code>, "
                f"{_e(t.get('n'))} examples of {len(t.get('classes') or [])} classes, "
                f"{_e(t.get('test'))}"
                for n, t in tasks.items()
                if isinstance(t, Mapping)
            )
            + ".</p>",
            _paired_table(
                ("Task", "Together", "Alone"), [(n, r) for n, rows in per_task for r in rows]
            ),
        ]
    )


def _unlabeled_table(un: Any) -> str:
    """`eval --unlabeled U`: each method that read U minus itself without U."""
    if not isinstance(un, Mapping) or not un.get("paired"):
        return ""
    rows = [(str(r.get("method")), r) for r in un["paired"] if isinstance(r, Mapping)]
    seen = ""
    if un.get("in_test"):
        seen = (
            f" {_e(un.get('in_test'))} of them are also test examples, so those draws score "
            "a model that saw them unlabeled."
        )
    return "\n".join(
        [
            f"<h3>With vs without {_e(un.get('n'))} unlabeled inputs</h3>",
            f"<p>Each method that reads unlabeled inputs, given those of {_e(un.get('source'))} "
            f"in every fit, and the same method on the same draws without them.{seen}</p>",
            _paired_table(("Method", "With", "Without"), rows),
            _uses_note([r for _, r in rows if "used" in r]),
        ]
    )


def _uses_note(rows: list[Mapping]) -> str:
    """In how many fits each method used the unlabeled inputs (results since walk 21)."""
    if not rows:
        return ""
    return (
        "<p class='muted'>Fits that used them (a method may keep its plain fit, as "
        "linear-probe's self_training=auto does without a gain in its own check): "
        + "; ".join(
            f"{_e(r.get('method'))} at {_e(r.get('shots'))} shots, {_e(r.get('used'))} of "
            f"{_e(r.get('fits'))}"
            for r in rows
        )
        + ".</p>"
    )


def _versus_table(vs: Any) -> str:
    """`eval --versus M`: each method minus M on the same draws."""
    if not isinstance(vs, Mapping) or not vs.get("paired"):
        return ""
    other = _e(vs.get("method"))
    rows = [(str(r.get("method")), r) for r in vs["paired"] if isinstance(r, Mapping)]
    return "\n".join(
        [
            f"<h3>Each method vs {other}</h3>",
            f"<p>Accuracy minus {other}'s on the same draws, with its interval: a direct "
            "comparison, where overlapping intervals in the table above cannot tell.</p>",
            _paired_table(("Method", "Accuracy", other), rows),
        ]
    )


def _paired_table(heads: tuple[str, str, str], rows: list[tuple[str, Mapping]]) -> str:
    """One row per (name, paired row): shots, both accuracies, the difference, the verdict."""
    first, mine, theirs = heads
    out = [
        f"<div class='table-wrap'><table><tr><th>{first}</th><th>Shots</th><th>{mine}</th>"
        f"<th>{theirs}</th><th>Δ accuracy</th><th>Verdict</th></tr>"
    ]
    for name, row in rows:
        verdict = str(row.get("verdict", ""))
        css = {"better": "better", "worse": "worse"}.get(verdict, "unclear")
        out.append(
            f"<tr><td>{_e(name)}</td><td>{_e(row.get('shots'))}</td>"
            f"<td class='num'>{_f(row.get('method_accuracy'))}</td>"
            f"<td class='num'>{_f(row.get('versus_accuracy'))}</td>"
            f"<td class='num'>{_interval(row, sign=True)}</td>"
            f"<td class='{css}'>{_e(verdict)}</td></tr>"
        )
    out.append("</table></div>")
    return "\n".join(out)


def _negative_transfer(p: _Page) -> str:
    rows = [n for n in p.r.get("negative_transfer") or [] if isinstance(n, Mapping)]
    untested = [n for n in p.r.get("negative_transfer_untested") or [] if isinstance(n, Mapping)]
    # walk 13: one or two repeats below the baseline used to get the green all-clear
    pending = (
        "<div class='untested'><p><strong>Not tested:</strong> these methods scored below "
        f"{p.reference_name} on too few repeats to tell negative transfer from chance.</p><ul>"
        + "".join(f"<li>{_e(n.get('message'))}</li>" for n in untested)
        + "</ul></div>"
        if untested
        else ""
    )
    flat = [n for n in p.r.get("one_class") or [] if isinstance(n, Mapping)]
    if flat:  # walk 23: a method answering one class got the green all-clear
        pending += (
            "<div class='untested'><p><strong>Answers one class:</strong></p><ul>"
            + "".join(f"<li>{_e(n.get('message'))}</li>" for n in flat)
            + "</ul></div>"
        )
    if not rows:
        if not p.r.get("paired"):
            return "<p class='muted'>No transfer method was compared with the baseline.</p>"
        if pending:
            return pending
        acc = [q for q in p.r.get("paired") or [] if q.get("metric") == "accuracy"]
        if acc and all(q.get("verdict") == TOO_FEW for q in acc):
            n = acc[0].get("n")
            need = repeats_needed(n) if isinstance(n, int) else MIN_VERDICT_REPEATS
            return (
                "<div class='untested'><p><strong>Not tested:</strong> every method scored at "
                f"or above {p.reference_name}, but {_e(n)} paired repeat(s) "
                f"cannot tell a difference from chance ({need} or more are needed).</p></div>"
            )
        at = "" if (p.r.get("protocol") or {}).get("name") == "kfold" else " at any shot count"
        named = "" if p.baseline == "baseline" else f" ({_e(p.baseline)})"
        return (
            f"<p class='allclear'>No method was significantly worse than {p.reference_name}"
            f"{named}{at}.</p>"
        )
    items = []
    for n in rows:
        # the message states the difference and its interval; only a bare row needs them
        msg = (
            _e(n.get("message"))
            if n.get("message")
            else (
                f"{_e(n.get('method'))} is worse than {p.reference_name} at {_e(n.get('shots'))} "
                f"shot(s) <span class='ci'>(accuracy difference {_interval(n, sign=True)})</span>"
            )
        )
        items.append(f"<li>{msg}</li>")
    why = (
        "adapting to the target made these results worse than the source-only model. Prefer "
        "source-only for this pair, or another domain method."
        if p.domain
        else "a pretrained backbone made these results worse than learning from scratch. "
        "Prefer the baseline here, or try another backbone."
    )
    return (
        f"<div class='alert'><p><strong>Negative transfer:</strong> {why}</p><ul>"
        + "".join(items)
        + "</ul></div>"
        + pending
    )


def _learning_curves(p: _Page) -> str:
    shots = [k for k in p.shots() if isinstance(k, int | float)]
    if len(shots) < 2:
        name = (p.r.get("protocol") or {}).get("name")
        if name == "kfold":  # walk 23: "this run has 0 shot counts" read as a fault
            return (
                "<p class='muted'>Cross-validation uses every labelled example, so there is no "
                "curve over labels per class: run <code>scarce eval --protocol kshot --shots "
                "1,5,20</code> for one.</p>"
            )
        return (
            "<p class='muted'>A learning curve needs at least two shot counts; this run has "
            f"{len(shots)}"
            + (" (add more with --target-labels 0,5,20)" if name == "domain" else "")
            + ".</p>"
        )
    curves = p.r.get("curves") or {}
    series: dict[str, list[Mapping[str, Any]]] = {}
    fits: dict[str, Mapping[str, Any] | None] = {}
    for m in p.methods:
        c = curves.get(m) if isinstance(curves.get(m), Mapping) else None
        if c and c.get("points"):
            series[m] = list(c["points"])
        else:  # no curve (e.g. only two shot counts): the summary has the same points
            series[m] = [
                s for s in p.summary if s.get("method") == m and s.get("metric") == "accuracy"
            ]
        fits[m] = c.get("fit") if c else None
        if not series[m]:
            del series[m]
    uri = plots.learning_curves(series, fits, p.colour)
    notes = []
    for m in p.ordered(curves):
        c = curves[m] if isinstance(curves[m], Mapping) else {}
        fit = c.get("fit")
        if not fit:
            few = len(c.get("points") or []) < 3
            why = "a curve needs 3 or more shot counts" if few else "no saturating curve fits"
            notes.append(f"<li><strong>{_e(m)}</strong>: {why}.</li>")
            continue
        # the note says where a doubling stops paying; files without a note get it here
        note = _e(fit.get("note")) if fit.get("note") else ""
        stop = fit.get("stops_paying_at")
        if not note and stop is not None:
            note = f"Past K={_e(stop)}, doubling the labels per class adds less than 0.01."
        plateau = (
            f" <em>Plateau ≈ {_f(fit.get('plateau'))}.</em>"
            if fit.get("plateau") is not None
            else ""
        )
        notes.append(f"<li><strong>{_e(m)}</strong>: {note}{plateau}</li>")
    notes_html = f"<ul class='notes'>{''.join(notes)}</ul>" if notes else ""
    return (
        f"<figure class='wide'><img src='{uri}' alt='accuracy against labelled examples per "
        "class, one line per method, with its intervals'><figcaption>Shaded bands (error "
        "bars past three methods): the interval of each mean (as in the table). Dashed, "
        "where a curve could be read: the gains of a fitted saturating curve "
        "a − b·K<sup>−c</sup> beyond the largest K, added to its measured accuracy (as the "
        "notes below give them)."
        f"</figcaption></figure>{notes_html}"
    )


def _confusion(p: _Page) -> str:
    if not p.details:
        return "<p class='muted'>No per-method details in this results file.</p>"
    alias = plots.aliases(p.classes)
    out = [_alias_key(alias)]
    for m in p.ordered(p.details):
        d = p.details[m] if isinstance(p.details[m], Mapping) else {}
        out.append(f"<h3>{_e(m)} <span class='ci'>{_draw(d)}</span></h3><div class='figs'>")
        if d.get("confusion"):
            uri = plots.confusion(d["confusion"], p.classes, f"{m}: confusion matrix", alias)
            many = len(d["confusion"]) > BIG_MATRIX
            # walk 23: 10 classes drawn in a third of the page had 5-pixel counts
            size = " class=big" if many else " class=span" if len(d["confusion"]) > 6 else ""
            out.append(
                f"<figure{size}><img src='{uri}' alt='confusion "
                f"matrix of {_e(m)}'><figcaption>Rows: true class; columns: predicted class; "
                f"counts.</figcaption>{_top_confusions(d['confusion'], p.classes) if many else ''}"
                "</figure>"
            )
        if d.get("per_class_f1"):
            uri = plots.per_class_f1(d["per_class_f1"], f"{m}: F1 per class", p.colour[m], alias)
            out.append(f"<figure><img src='{uri}' alt='per-class F1 of {_e(m)}'></figure>")
        out.append("</div>")
    return "\n".join(out)


BIG_MATRIX = 20  # classes beyond which the matrix spans the page and its top cells are listed


def _top_confusions(matrix: Any, classes: Sequence[str], most: int = 10) -> str:
    """The largest off-diagonal cells as a table: in a big matrix they are a few pale dots."""
    try:
        cm = np.asarray(matrix, dtype=float)
        off = [
            (cm[i, j], i, j)
            for i in range(cm.shape[0])
            for j in range(cm.shape[1])
            if i != j and cm[i, j] > 0 and i < len(classes) and j < len(classes)
        ]
    except (TypeError, ValueError, IndexError):
        return ""
    off.sort(key=lambda t: -t[0])
    if not off:
        return ""
    rows = "".join(
        f"<tr><td>{_e(classes[i])}</td><td>{_e(classes[j])}</td><td>{v:g}</td></tr>"
        for v, i, j in off[:most]
    )
    return (
        "<table><caption>Most frequent confusions</caption><tr><th>true</th>"
        f"<th>predicted as</th><th>count</th></tr>{rows}</table>"
    )


def _ece(rel: Mapping[str, Any]) -> float | None:
    try:
        conf = np.asarray(rel["confidence"], dtype=float)
        acc = np.asarray(rel["accuracy"], dtype=float)
        cnt = np.asarray(rel["count"], dtype=float)
        ok = np.isfinite(conf) & np.isfinite(acc) & (cnt > 0)
        return float((cnt[ok] * np.abs(acc[ok] - conf[ok])).sum() / cnt[ok].sum())
    except (KeyError, TypeError, ValueError, ZeroDivisionError, FloatingPointError):
        return None


def _draw(d: Mapping[str, Any]) -> str:
    """Which draw a method's details come from: its K and repeat."""
    repeat = d.get("repeat")
    # results.json counts repeats from 0; a reader counts from 1 (walk 23)
    which = (
        _e(repeat)
        if isinstance(repeat, str)
        else "the first repeat"
        if repeat == 0
        else f"repeat {_e(repeat)} (counted from 0)"
    )
    if d.get("shots") is None:  # walk 24: "at all folds, repeat 0"
        return f"the folds of {which}"
    return f"at {_shots_label(d.get('shots'))}, {which}"


def _reliability(p: _Page) -> str:
    figs = []
    for m in p.ordered(p.details):
        d = p.details[m] if isinstance(p.details[m], Mapping) else {}
        rel = d.get("reliability")
        if not isinstance(rel, Mapping) or not rel.get("accuracy"):
            continue
        ece = _ece(rel)
        if ece is None or not math.isfinite(ece):
            row = next(
                (
                    s
                    for s in p.summary
                    if s.get("method") == m
                    and s.get("shots") == d.get("shots")
                    and s.get("metric") == "ece"
                ),
                {},
            )
            ece = row.get("mean")
        uri = plots.reliability(rel, f"{m}: ECE {_f(ece)}", p.colour[m])
        figs.append(
            f"<figure><img src='{uri}' alt='reliability diagram of {_e(m)}'>"
            f"<figcaption>{_draw(d)}</figcaption></figure>"
        )
    if not figs:
        return "<p class='muted'>No reliability data in this results file.</p>"
    return (
        "<p>Bars: accuracy of the predictions whose confidence falls in each bin; a "
        "well-calibrated model's bars follow the dashed diagonal. ECE is the count-weighted "
        "gap. Each diagram pools the predictions of the draw named under it (for episodes, "
        "all of them), so its ECE is not the mean over draws in the table."
        f"</p><div class='figs'>{''.join(figs)}</div>"
    )


def _find(p: _Page, name: str) -> Path | None:
    path = Path(name)
    if path.is_absolute():
        return path if path.is_file() else None
    src = p.data.get("source")
    cwd = [Path(str(p.data["cwd"]))] if p.data.get("cwd") else []  # where eval ran
    for root in [Path(), *cwd, *p.base_dirs]:
        for cand in (root / path, root / str(src or "") / path):
            if cand.is_file():
                return cand
    return None


def _thumbnail(path: Path) -> str:
    with warnings.catch_warnings():
        # a huge image is refused, not decoded: this is a 96-pixel preview
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as src:
            src.draft(None, (2 * THUMB, 2 * THUMB))  # JPEG: decode at reduced scale
            im = ImageOps.exif_transpose(src)
            if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
                a = np.asarray(im, dtype=np.float64)
                lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
                a = (a - lo) / ((hi - lo) or 1.0) * 255
                im = Image.fromarray(np.nan_to_num(a).astype(np.uint8))
            elif im.mode not in ("L", "RGB", "RGBA"):
                alpha = im.mode in ("P", "PA", "LA", "RGBa") or "transparency" in im.info
                im = im.convert("RGBA" if alpha else "RGB")
            im.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
            if max(im.size) < THUMB // 2:  # tiny inputs (28 px digits): crisp pixels
                f = THUMB // max(im.size)
                im = im.resize((im.width * f, im.height * f), Image.Resampling.NEAREST)
            buf = io.BytesIO()
            im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _image_cell(p: _Page, name: str) -> str:
    path = _find(p, name)
    if path is not None:
        try:
            return f"<img src='{_thumbnail(path)}' alt='{_e(name)}' title='{_e(name)}'>"
        except Exception as exc:  # any decoder failure: show the path, keep the report
            log.debug("cannot thumbnail %s: %s", path, exc)
    p.unreadable += 1
    return f"<span class='missing'>image not readable: <code>{_e(name)}</code></span>"


def _hardest(p: _Page) -> str:
    if not p.details:
        return "<p class='muted'>No per-method details in this results file.</p>"
    image = p.data.get("modality") == "image"
    alias = plots.aliases(p.classes)
    out = [_alias_key(alias)]
    for m in p.ordered(p.details):
        d = p.details[m] if isinstance(p.details[m], Mapping) else {}
        rows = [h for h in d.get("hardest") or [] if isinstance(h, Mapping)]
        out.append(f"<h3>{_e(m)} <span class='ci'>{_draw(d)}</span></h3>")
        if not rows:
            out.append("<p class='muted'>No misclassified examples in this draw.</p>")
            continue
        cards = []
        for h in rows:
            raw = "" if h.get("input") is None else str(h.get("input"))
            if image:
                top = _image_cell(p, raw)
            else:
                text = " ".join(raw.split())
                text = text if len(text) <= SNIPPET else text[:SNIPPET].rstrip() + "…"
                top = f"<q>{_e(text)}</q>"
            conf = h.get("confidence")
            conf_txt = f"{float(conf):.0%}" if isinstance(conf, int | float) else "—"
            cards.append(
                f"<div class='card'>{top}true: <strong>{_e(h.get('true'))}</strong><br>"
                f"predicted: <strong class='worse'>{_e(h.get('predicted'))}</strong><br>"
                f"confidence: {conf_txt}</div>"
            )
        css = "thumbs" if image else "thumbs snippets"
        confs = [float(h["confidence"]) for h in rows if isinstance(h.get("confidence"), float)]
        if len(confs) > 1 and p.classes and max(confs) < 1.5 / len(p.classes):
            # walk 23: a model unsure of everything had its "most confident" errors ordered
            # by rounding noise
            out.append(
                "<p class='muted'>Every error here was made near chance confidence "
                f"(at most {max(confs):.0%}, {len(p.classes)} classes): the model is unsure "
                "of every input, and the order says little.</p>"
            )
        out.append(f"<div class='{css}'>{''.join(cards)}</div>")
    if p.unreadable:
        log.warning(
            "%d example image(s) could not be read; the report shows their paths instead",
            p.unreadable,
        )
    intro = "Misclassified test examples, the most confidently wrong first."
    return f"<p>{intro}</p>" + "\n".join(out)


def _balance(p: _Page) -> str:
    d = p.data
    counts: dict[str, Mapping[str, Any]] = {}
    if isinstance(d.get("counts"), Mapping) and d["counts"]:
        counts["pool"] = d["counts"]
    test = d.get("test")
    if isinstance(test, Mapping) and isinstance(test.get("counts"), Mapping) and test["counts"]:
        counts["test set"] = test["counts"]
    if not counts:
        return "<p class='muted'>No class counts in this results file.</p>"
    alias = plots.aliases(p.classes)
    uri = plots.class_balance(counts, p.classes, alias)
    return _alias_key(alias) + (
        f"<figure class='wide'><img src='{uri}' alt='examples per class'>"
        "<figcaption>Labelled examples per class in the pool the draws come from"
        f"{' and in the test set' if 'test set' in counts else ''}.</figcaption></figure>"
    )


def _alias_key(alias: Mapping[str, str]) -> str:
    """The names the plots show as '#n', spelled out: the browser draws every script."""
    if not alias:
        return ""
    pairs = ", ".join(f"{_e(a)} = {_e(c)}" for c, a in alias.items())
    return (
        f"<p class='muted'>The plots' font cannot draw some class names; they show as: {pairs}.</p>"
    )


def _kv_table(rows: Iterable[tuple[str, Any]], head: tuple[str, str] | None = None) -> str:
    body = "".join(f"<tr><td>{_e(k)}</td><td>{v}</td></tr>" for k, v in rows)
    top = f"<tr><th>{_e(head[0])}</th><th>{_e(head[1])}</th></tr>" if head else ""
    return f"<div class='table-wrap'><table>{top}{body}</table></div>"


def _metadata(p: _Page) -> str:
    r, d = p.r, p.data
    test = d.get("test") if isinstance(d.get("test"), Mapping) else {}
    rows: list[tuple[str, Any]] = [
        ("seed", _e(r.get("seed"))),
        ("created", _e(r.get("created"))),
        ("scarce version", _e(r.get("scarce_version"))),
        ("results schema", f"{_e(r.get('schema'))} v{_e(r.get('schema_version'))}"),
        ("data sha256", f"<code>{_e(d.get('sha256'))}</code>"),
    ]
    if test:
        rows.append(("test data sha256", f"<code>{_e(test.get('sha256'))}</code>"))
    for k, v in (r.get("machine") or {}).items():
        rows.append((f"machine: {k}", _e(v)))
    for k, v in (r.get("timing") or {}).items():
        if str(k).endswith("_seconds"):
            k, v = str(k).removesuffix("_seconds"), f"{_f(v, 1)} s"
        else:
            v = _e(v)
        rows.append((f"timing: {str(k).replace('_', ' ')}", v))
    out = [_kv_table(rows)]
    versions = r.get("versions") or {}
    if versions:
        out.append("<h3>Versions</h3>")
        out.append(_kv_table(((k, _e(v)) for k, v in versions.items()), ("package", "version")))
    runs = [x for x in r.get("runs") or [] if isinstance(x, Mapping)]
    if runs:
        out.append(
            "<h3>Time per run</h3><div class='table-wrap'><table><tr><th>Method</th>"
            "<th>runs</th><th>mean fit (s)</th><th>mean predict (s)</th></tr>"
        )
        for m in p.ordered({str(x.get("method")) for x in runs}):
            mine = [x for x in runs if str(x.get("method")) == m]
            fit = [
                float(x["fit_seconds"])
                for x in mine
                if isinstance(x.get("fit_seconds"), int | float)
            ]
            pred = [
                float(x["predict_seconds"])
                for x in mine
                if isinstance(x.get("predict_seconds"), int | float)
            ]
            out.append(
                f"<tr><td>{_e(m)}</td><td class='num'>{len(mine)}</td>"
                f"<td class='num'>{_f(np.mean(fit) if fit else None)}</td>"
                f"<td class='num'>{_f(np.mean(pred) if pred else None)}</td></tr>"
            )
        out.append("</table></div>")
    return "\n".join(out)


_BUILDERS = {
    "overview": _overview,
    "results": _results_table,
    "negative-transfer": _negative_transfer,
    "learning-curves": _learning_curves,
    "confusion": _confusion,
    "reliability": _reliability,
    "hardest": _hardest,
    "balance": _balance,
    "metadata": _metadata,
}


def render_html(results: dict, *, base_dir: str | Path | None = None) -> str:
    """The whole report as one HTML string; relative image paths are also looked up
    under `base_dir` (the folder of the results file, when there is one)."""
    check_results(results, "results")
    p = _Page(results, [Path(base_dir)] if base_dir is not None else [])
    title = f"scarce report: {p.data.get('source', '')}"
    nav = "\n".join(f"<a href='#{sid}'>{_e(h)}</a>" for sid, h in SECTIONS)
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        f"<meta name='generator' content='scarce {_e(p.r.get('scarce_version'))}'>",
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>",
        f"<header><h1>{_e(title)}</h1><p class='muted'>{_e(p.data.get('modality'))} "
        f"classification, {len(p.classes)} classes, backbone {_e(p.r.get('backbone'))}. "
        f"Created {_e(p.r.get('created'))}.</p><nav>{nav}</nav></header>",
    ]
    for sid, heading in SECTIONS:
        parts.append(f"<section id='{sid}'><h2>{_e(heading)}</h2>")
        parts.append(_BUILDERS[sid](p))
        parts.append("</section>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def write_report(results: dict | str | Path, out: str | Path) -> Path:
    """Render `results` (a dict, or the path of a results.json) to `out`, atomically."""
    base_dir = None
    if isinstance(results, str | Path):
        base_dir = Path(results).resolve().parent
        results = load_results(results)
    # character references keep the file pure ASCII, whatever the locale's encoding is
    page = render_html(results, base_dir=base_dir).encode("ascii", "xmlcharrefreplace").decode()
    out = Path(out)
    with atomic_write(out, "w") as f:
        f.write(page)
    log.info("wrote report %s (%d KB)", out, len(page.encode()) // 1024)
    return out
