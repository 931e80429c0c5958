"""scarce.report: a results dict becomes one self-contained, escaped HTML page that a real
browser (headless Chromium) renders without console errors or broken images."""

from __future__ import annotations

import base64
import copy
import gc
import hashlib
import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scarce.core.errors import DataError
from scarce.report import load_results, plots, render_html, write_report

ROOT = Path(__file__).resolve().parents[1]
HEADINGS = [
    "Overview",
    "Results by method",
    "Negative transfer",
    "Learning curves",
    "Confusion matrices and per-class F1",
    "Reliability",
    "Hardest misclassified examples",
    "Class balance",
    "Run metadata",
]
EVIL_CLASS = "<b>x</b>"
EVIL_DESC = "probe <script>alert(1)</script> & more"
SHOTS = [1, 5, 20]
METRICS = ["accuracy", "balanced_accuracy", "macro_f1", "log_loss", "ece", "roc_auc"]
DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def _results(classes: list[str], modality: str, hardest: dict[str, list[dict]]) -> dict:
    """A schema-complete results dict: baseline vs linear-probe, k-shot at 1/5/20 shots."""
    g = np.random.default_rng(0)
    two = len(classes) == 2
    metrics = METRICS if two else METRICS[:-1]
    level = {"baseline": {1: 0.55, 5: 0.62, 20: 0.70}, "linear-probe": {1: 0.50, 5: 0.64, 20: 0.86}}
    runs, summary = [], []
    for m, acc in level.items():
        for k in SHOTS:
            for rep in range(5):
                vals = {x: float(np.clip(acc[k] + g.normal(0, 0.02), 0, 1)) for x in metrics}
                vals["log_loss"], vals["ece"] = 1.2 - acc[k], 0.3 * (1 - acc[k])
                runs.append(
                    {
                        "method": m,
                        "shots": k,
                        "repeat": rep,
                        "n_train": k * len(classes),
                        "n_test": 40,
                        "fit_seconds": 0.1 * k,
                        "predict_seconds": 0.01,
                        "metrics": vals,
                    }
                )
            for x in metrics:
                v = {"accuracy": acc[k], "log_loss": 1.2 - acc[k], "ece": 0.3 * (1 - acc[k])}
                mean = v.get(x, acc[k] - 0.01)
                summary.append(
                    {
                        "method": m,
                        "shots": k,
                        "metric": x,
                        "mean": mean,
                        "low": mean - 0.03,
                        "high": mean + 0.03,
                        "n": 5,
                    }
                )
    verdicts = {1: ("worse", -0.05), 5: ("no clear difference", 0.02), 20: ("better", 0.16)}
    paired = [
        {
            "method": "linear-probe",
            "versus": "baseline",
            "shots": k,
            "metric": "accuracy",
            "mean": d,
            "low": d - 0.03,
            "high": d + 0.03,
            "n": 5,
            "verdict": v,
        }
        for k, (v, d) in verdicts.items()
    ]
    negative = [
        {
            "method": "linear-probe",
            "shots": 1,
            "mean": -0.05,
            "low": -0.08,
            "high": -0.02,
            "message": "linear-probe is worse than the from-scratch baseline at 1 shot(s): "
            "accuracy 0.05 lower (0.02 to 0.08).",
        }
    ]

    def points(m: str) -> list[dict]:
        return [
            {"shots": k, "mean": level[m][k], "low": level[m][k] - 0.04, "high": level[m][k] + 0.04}
            for k in SHOTS
        ]

    curves = {
        "baseline": {"metric": "accuracy", "points": points("baseline"), "fit": None},
        "linear-probe": {
            "metric": "accuracy",
            "points": points("linear-probe"),
            "fit": {
                "model": "a - b * shots^(-c)",
                "a": 0.92,
                "b": 0.42,
                "c": 0.55,
                "plateau": 0.92,
                "stops_paying_at": 64,
                "predicted": [{"shots": 40, "mean": 0.89}, {"shots": 80, "mean": 0.90}],
                "note": "Accuracy is still rising; more labels will help up to about 64.",
            },
        },
    }
    n = len(classes)
    details = {}
    for m, top in (("baseline", 0.7), ("linear-probe", 0.86)):
        cm = np.full((n, n), 2) + np.diag(np.full(n, 20 if m == "baseline" else 30))
        conf = [None, None, None, None, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95]
        details[m] = {
            "shots": 20,
            "repeat": 0,
            "confusion": cm.tolist(),
            "per_class_f1": {c: top - 0.02 * i for i, c in enumerate(classes)},
            "reliability": {
                "bins": 10,
                "confidence": conf,
                "accuracy": [None] * 4 + [0.5, 0.5, 0.6, 0.7, 0.8, 0.9],
                "count": [0] * 4 + [3, 5, 6, 8, 10, 12],
            },
            "hardest": hardest[m],
        }
    counts = {c: 20 + 5 * i for i, c in enumerate(classes)}
    return {
        "schema": "scarce-results",
        "schema_version": 1,
        "created": "2026-11-23T12:00:00+00:00",
        "scarce_version": "0.1.0",
        "versions": {"python": "3.11.7", "torch": "2.13.0+cpu", "numpy": "2.1.0"},
        "machine": {"platform": "Linux-x86_64", "cpus": 2},
        "seed": 7,
        "data": {
            "source": "data/defects & co",
            "modality": modality,
            "sha256": "ab" * 32,
            "n": sum(counts.values()),
            "classes": classes,
            "counts": counts,
            "test": {
                "source": "data/test",
                "sha256": "cd" * 32,
                "n": 40,
                "counts": {c: 40 // n for c in classes},
            },
        },
        "protocol": {
            "name": "kshot",
            "shots": SHOTS,
            "repeats": 5,
            "folds": None,
            "test": "given",
            "interval": "t",
            "confidence": 0.95,
        },
        "backbone": "efficientnet-lite0",
        "baseline": "baseline",
        "methods": [
            {
                "name": "baseline",
                "description": "logistic regression on 32x32 pixels",
                "transfer": False,
            },
            {"name": "linear-probe", "description": EVIL_DESC, "transfer": True},
        ],
        "metrics": metrics,
        "runs": runs,
        "summary": summary,
        "paired": paired,
        "negative_transfer": negative,
        "curves": curves,
        "details": details,
        "timing": {"total_seconds": 12.3, "encode_seconds": 9.1, "jobs": 2},
    }


@pytest.fixture(scope="module")
def image_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("imgs")
    g = np.random.default_rng(1)
    rgb = d / "defect_3.png"
    Image.fromarray(g.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(rgb)
    grey = d / "x_9.png"  # 28 px, like a digit
    Image.fromarray(g.integers(0, 255, (28, 28), dtype=np.uint8)).save(grey)
    junk = d / "not_an_image.png"
    junk.write_bytes(b"this is not a PNG")

    def h(path: Path | str, true: str, pred: str, conf: float) -> dict:
        return {"input": str(path), "true": true, "predicted": pred, "confidence": conf}

    hardest = {
        "baseline": [
            h(rgb, "defect", EVIL_CLASS, 0.97),
            h(grey, EVIL_CLASS, "defect", 0.91),
            h(d / "gone.png", "defect", EVIL_CLASS, 0.8),
            h(junk, EVIL_CLASS, "defect", 0.7),
        ],
        "linear-probe": [h(rgb, "defect", EVIL_CLASS, 0.66)],
    }
    return _results(["defect", EVIL_CLASS], "image", hardest)


@pytest.fixture(scope="module")
def image_html(image_results: dict) -> str:
    return render_html(image_results)


@pytest.fixture(scope="module")
def text_results() -> dict:
    long = "A <i>long</i> fortune\nabout & science " + "word " * 100
    hardest = {
        "baseline": [{"input": long, "true": "science", "predicted": "food", "confidence": 0.9}],
        "linear-probe": [
            {"input": "short one", "true": "food", "predicted": "sports", "confidence": 0.55}
        ],
    }
    r = _results(["science", "food", "sports"], "text", hardest)
    r["negative_transfer"] = []
    for q in r["paired"]:
        q["verdict"] = "better" if q["verdict"] == "worse" else q["verdict"]
    return r


def _section(page: str, heading: str) -> str:
    """The HTML of one section, from its heading to the next section."""
    start = page.index(f"<h2>{heading}</h2>")
    return page[start : page.index("</section>", start)]


def test_every_section_has_its_heading(image_html: str) -> None:
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in image_html, heading
    positions = [image_html.index(f"<h2>{h}</h2>") for h in HEADINGS]
    assert positions == sorted(positions)


def test_page_is_self_contained(image_html: str) -> None:
    low = image_html.lower()
    for bad in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert bad not in low, bad
    images = DATA_URI.findall(image_html)
    # 1 curve + 2x(confusion, F1, reliability) + balance + 3 thumbnails
    assert len(images) >= 11
    for b64 in images:
        with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
            assert im.format == "PNG"
            assert min(im.size) > 10


def test_user_strings_are_escaped(image_html: str) -> None:
    assert EVIL_CLASS not in image_html
    assert "&lt;b&gt;x&lt;/b&gt;" in image_html
    assert "<script>alert" not in image_html
    assert "probe &lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in image_html
    assert "data/defects &amp; co" in image_html


def test_errors_made_at_chance_confidence_say_their_order_means_little(text_results) -> None:
    """walk 23: a model unsure of everything listed its 'most confident' errors by noise."""
    r = copy.deepcopy(text_results)
    assert "near chance confidence" not in _section(
        render_html(r), "Hardest misclassified examples"
    )
    r["details"]["linear-probe"]["hardest"] = [
        {"input": f"quote {i}", "true": "food", "predicted": "sports", "confidence": c}
        for i, c in enumerate([0.345, 0.341, 0.338])
    ]
    hard = _section(render_html(r), "Hardest misclassified examples")
    assert "near chance confidence (at most 34%, 3 classes)" in hard


def test_control_characters_are_shown_not_written() -> None:
    """walk 23: fortunes' backspace overstrikes went into the page raw (invalid HTML)."""
    from scarce.report.html import _e

    assert _e("_\bA\x1b[1m\tb\n") == "_\u2408A\u241b[1m\tb\n"


def test_results_table_has_intervals_and_paired_verdicts(image_html: str) -> None:
    table = _section(image_html, "Results by method")
    for k in SHOTS:
        assert f"K = {k} per class" in table
    assert table.count("from scratch") == len(SHOTS)
    assert "ROC-AUC" in table
    assert "Log-loss" in table
    assert "ECE" in table
    # baseline at 1 shot: accuracy 0.550 [0.520, 0.580]
    assert '0.550 <span class="ci">[0.520, 0.580]</span>' in table
    # the paired difference, signed, with its verdict
    assert '-0.050 <span class="ci">[-0.080, -0.020]</span>' in table
    for verdict in ("worse", "no clear difference", "better"):
        assert f">{verdict}</td>" in table
    # walk 33: macro-F1, ECE and ROC-AUC are no means over items: their brackets, the draws'
    # spread alone, are marked where the draws share test items
    assert "<th>ECE ↓ †</th>" in table
    assert "<th>Accuracy</th>" in table
    assert "not a mean over test items, so the bracket is the spread of the draws alone" in table


def test_negative_transfer_is_said_plainly(image_html: str) -> None:
    box = _section(image_html, "Negative transfer")
    assert "class='alert'" in box
    assert "linear-probe is worse than the from-scratch baseline at 1 shot(s)" in box


def test_too_few_repeats_below_the_baseline_is_not_an_all_clear(text_results: dict) -> None:
    """walk 13: a method below the baseline on too few repeats got the green box."""
    r = {**text_results}
    r["negative_transfer_untested"] = [
        {"method": "linear-probe", "shots": 1, "mean": -0.3, "n": 1, "message": "NOT TESTED: x"}
    ]
    box = _section(render_html(r), "Negative transfer")
    assert "class='untested'" in box
    assert "NOT TESTED: x" in box
    assert "allclear" not in box
    assert "allclear" in _section(render_html(text_results), "Negative transfer")


def test_learning_curve_notes(image_html: str) -> None:
    curves = _section(image_html, "Learning curves")
    assert DATA_URI.search(curves)
    assert "more labels will help up to about 64" in curves
    assert "Plateau ≈" in curves
    assert "stops paying" not in curves  # walk 13: the note and an italic line both said it
    assert "baseline</strong>: no saturating curve fits" in curves


def test_hardest_images_are_thumbnails_or_paths(image_html: str, image_results: dict) -> None:
    hard = _section(image_html, "Hardest misclassified examples")
    assert len(DATA_URI.findall(hard)) == 3  # rgb, grey (baseline) and rgb (linear-probe)
    for im_uri in DATA_URI.findall(hard):
        with Image.open(io.BytesIO(base64.b64decode(im_uri))) as im:
            assert 48 <= max(im.size) <= 96
    # the missing file and the one that is not an image show their paths instead
    assert hard.count("image not readable") == 2
    assert "gone.png" in hard
    assert "not_an_image.png" in hard
    assert "confidence: 97%" in hard


def test_reliability_titles_carry_ece(image_html: str) -> None:
    rel = _section(image_html, "Reliability")
    assert len(DATA_URI.findall(rel)) == 2
    assert "the first repeat" in rel  # results.json's repeat 0, as a reader counts
    assert "repeat 0" not in rel


def test_text_variant_shows_escaped_snippets(text_results: dict) -> None:
    page = render_html(text_results)
    hard = _section(page, "Hardest misclassified examples")
    assert "<img" not in hard
    assert "A &lt;i&gt;long&lt;/i&gt; fortune about &amp; science word" in hard
    snippet = re.search(r"<q>(.*?)</q>", hard, re.S)
    assert snippet
    assert snippet.group(1).endswith("…")
    assert len(snippet.group(1)) < 230  # ~200 characters plus the escapes
    assert "<q>short one</q>" in hard
    assert "ROC-AUC" not in _section(page, "Results by method")  # three classes
    assert "class='allclear'" in _section(page, "Negative transfer")


def test_kfold_and_single_shot_skip_the_curve(text_results: dict) -> None:
    r = copy.deepcopy(text_results)
    r["protocol"] = {
        "name": "kfold",
        "shots": [],
        "repeats": 3,
        "folds": 5,
        "test": "fold",
        "interval": "bootstrap",
        "confidence": 0.9,
    }
    for row in r["summary"] + r["paired"] + r["runs"]:
        row["shots"] = None
    r["summary"] = [s for s in r["summary"] if s["shots"] is None][:12]
    r["curves"], r["paired"] = {}, []
    page = render_html(r)
    assert "5-fold stratified cross-validation, repeated 3 time(s)" in page
    assert "90% bootstrap intervals" in page
    assert "no curve over labels per class" in _section(page, "Learning curves")
    assert "<h3>All folds</h3>" in _section(page, "Results by method")
    assert "†" in _section(page, "Results by method")  # 3 repeats: the units are repeats
    r["protocol"]["interval_unit"] = "fold"  # folds test on disjoint items: no mark
    assert "†" not in _section(render_html(r), "Results by method")


def test_the_runs_cautions_are_in_the_overview(text_results: dict) -> None:
    """Walk 33: the small-pool caution and the test/training overlap were the terminal's
    alone; the report is what gets shared."""
    r = copy.deepcopy(text_results)
    r["warnings"] = ["DATA holds 24 distinct examples, 4 of class 'a<b>' at fewest: ..."]
    overview = _section(render_html(r), "Overview")
    assert "<h3>Cautions the run gave</h3>" in overview
    assert "4 of class &#x27;a&lt;b&gt;&#x27; at fewest" in overview
    r["warnings"] = []
    assert "Cautions" not in _section(render_html(r), "Overview")


def test_sparse_results_still_render() -> None:
    page = render_html({"schema": "scarce-results", "schema_version": 1})
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in page


def test_odd_names_do_not_break_the_plots(text_results: dict) -> None:
    # "$" would start TeX in matplotlib; CJK glyphs are missing from its font (a warning,
    # which this suite turns into an error); "_x" labels are hidden from legends
    r = copy.deepcopy(text_results)
    names = {"science": "$5 bills", "food": "缺陷", "sports": "_under"}
    r["data"]["classes"] = list(names.values())
    for d in r["details"].values():
        d["per_class_f1"] = {names[k]: v for k, v in d["per_class_f1"].items()}
    r["data"]["counts"] = {names[k]: v for k, v in r["data"]["counts"].items()}
    page = render_html(r)
    assert "$5 bills" in page
    assert "缺陷" in page
    # the plots cannot draw 缺陷 (it was two empty boxes): they show its place, and the
    # page, which the browser draws in any script, gives the key
    assert plots.aliases(r["data"]["classes"]) == {"缺陷": "#2"}
    assert "they show as: #2 = 缺陷" in page


def test_figures_are_freed(image_results: dict) -> None:
    from matplotlib.figure import Figure

    render_html(image_results)
    gc.collect()
    # type() rather than isinstance(): the latter pokes lazy torch attributes, which warn
    assert not [o for o in gc.get_objects() if type(o) is Figure]


def test_write_report_from_path_resolves_relative_images(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (50, 40), (200, 30, 30)).save(tmp_path / "imgs" / "a.png")
    hardest = [{"input": "imgs/a.png", "true": "a", "predicted": "b", "confidence": 0.9}]
    r = _results(["a", "b"], "image", {"baseline": hardest, "linear-probe": []})
    src = tmp_path / "results.json"
    src.write_text(json.dumps(r))
    out = write_report(src, tmp_path / "out" / "report.html")
    assert out == tmp_path / "out" / "report.html"
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]  # no temp left
    page = out.read_bytes()
    page.decode("ascii")  # non-ASCII is written as character references
    hard = _section(page.decode(), "Hardest misclassified examples")
    assert "image not readable" not in hard
    assert DATA_URI.search(hard)
    assert write_report(r, tmp_path / "again.html").read_text().startswith("<!DOCTYPE html>")
    # walk 7: results written away from where eval ran, the report run from a third place:
    # the paths are relative to eval's folder, which the results record
    elsewhere = tmp_path / "results_elsewhere"
    elsewhere.mkdir()
    r["data"]["cwd"] = str(tmp_path)
    (elsewhere / "r.json").write_text(json.dumps(r))
    page = write_report(elsewhere / "r.json", elsewhere / "r.html").read_text()
    assert "image not readable" not in _section(page, "Hardest misclassified examples")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, r"no such results file.*scarce eval"),
        ("{not json", r"not valid JSON .*line 1"),
        ("[1, 2]", r"expected a JSON object, got list"),
        ('{"schema": "other", "schema_version": 1}', r"schema is 'other', expected"),
        ('{"schema": "scarce-results", "schema_version": 2}', r"schema_version 2 is not one"),
        ('{"schema": "scarce-results"}', r"schema_version None"),
        # walk 29: a bundle read 'utf-8 codec can't decode byte 0xc9'
        (b"PK\x03\x04\x14\x00\xc9", r"is a zip file \(a model bundle\?\), not results"),
        (b"\xff\xfe{", r"not a results file \(not UTF-8 text.*written by `scarce eval`"),
    ],
)
def test_load_results_refuses_bad_files(
    tmp_path: Path, content: str | bytes | None, match: str
) -> None:
    path = tmp_path / "results.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=match) as info:
        load_results(path)
    assert str(path) in str(info.value)


def test_render_refuses_a_foreign_dict() -> None:
    with pytest.raises(DataError, match="schema is None"):
        render_html({"runs": []})


# ---------------------------------------------------------------- a real browser


def _script_module():
    spec = importlib.util.spec_from_file_location(
        "screenshot_report", ROOT / "scripts" / "screenshot_report.py"
    )
    assert spec
    assert spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def browser():
    if shutil.which("chromium") is None:
        pytest.fail(
            "chromium is not installed; the report tests need a real browser: "
            "apt-get install chromium"
        )
    return _script_module()


# Reports what the page itself cannot: whether each image decoded, and whether the page is
# wider than the window (a layout that does not fit a phone).
PROBE = (
    "addEventListener('load', () => { const im = [...document.images];"
    " const broken = im.filter(i => !i.complete || i.naturalWidth === 0).length;"
    " const wide = document.documentElement.scrollWidth > innerWidth;"
    " console.log(`SCARCE-PROBE images=${im.length} broken=${broken} overflow=${wide}`); });"
)


@pytest.mark.slow
def test_chromium_renders_without_console_errors(browser, image_html: str, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    html.write_text(image_html, encoding="utf-8")
    png = tmp_path / "shot.png"
    # the page as written: its CSP makes the browser log any resource it tries to fetch
    console = browser.screenshot(html, png, width=1280, height=4000, timeout=60)
    assert console == [], f"console messages from the report: {console}"
    with Image.open(png) as shot:
        assert shot.size == (1280, 4000)
        rgb = np.asarray(shot.convert("RGB"), dtype=np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    assert len(np.unique(packed)) > 100  # text and plots, not a blank page

    # The same page with a probe script, allowed by its hash alone, on a phone-wide window.
    # Seeing the probe's line also proves console capture works, so [] above means clean.
    digest = base64.b64encode(hashlib.sha256(PROBE.encode()).digest()).decode()
    probed = image_html.replace(
        "style-src 'unsafe-inline'", f"style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
    ).replace("</body>", f"<script>{PROBE}</script></body>")
    html.write_text(probed, encoding="utf-8")
    console = browser.screenshot(html, tmp_path / "phone.png", width=400, height=1500)
    n = len(DATA_URI.findall(image_html))
    assert len(console) == 1, console
    assert f"SCARCE-PROBE images={n} broken=0 overflow=false" in console[0], console


@pytest.mark.slow
def test_console_capture_sees_script_errors(browser, tmp_path: Path) -> None:
    html = tmp_path / "bad.html"
    html.write_text("<html><body><script>console.error('x'); nope();</script></body></html>")
    console = browser.screenshot(html, tmp_path / "bad.png", width=300, height=200)
    assert any("Uncaught ReferenceError" in c for c in console), console


@pytest.mark.slow
def test_screenshot_script(browser, image_results: dict, tmp_path: Path) -> None:
    src = tmp_path / "results.json"
    src.write_text(json.dumps(image_results))
    png, html = tmp_path / "r.png", tmp_path / "r.html"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "screenshot_report.py"),
            str(src),
            str(png),
            "--html",
            str(html),
            "--height",
            "1200",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert html.read_text().startswith("<!DOCTYPE html>")
    with Image.open(png) as shot:
        assert shot.size == (1280, 1200)


def test_learning_curves_keep_zero_target_labels(monkeypatch) -> None:
    """A domain evaluation's K = 0 (unsupervised adaptation) fell off the log axis."""
    from matplotlib.figure import Figure

    from scarce.report import plots

    drawn: dict[str, list] = {}

    def capture(fig_fn, width, height):
        fig = Figure()
        fig_fn(fig)
        ax = fig.axes[0]
        drawn["x"] = [list(line.get_xdata()) for line in ax.get_lines()]
        drawn["scale"] = ax.get_xscale()
        return "data:"

    monkeypatch.setattr(plots, "render", capture)
    pts = [{"shots": k, "mean": 0.5 + k / 10, "low": 0.4, "high": 0.6} for k in (0, 2, 8)]
    plots.learning_curves({"mcc": pts}, {}, {"mcc": "red"})
    assert drawn["x"][0] == [0, 2, 8]
    assert drawn["scale"] == "symlog"
    plots.learning_curves({"mcc": pts[1:]}, {}, {"mcc": "red"})
    assert drawn["scale"] == "log"


def test_a_big_confusion_matrix_spans_the_page_and_lists_its_top_cells():
    """53 classes were drawn in a 250-px column: labels 4 px tall, the x-axis a smear."""
    import base64
    import io

    from PIL import Image

    from scarce.report import html, plots

    n = 30
    cm = np.eye(n) * 5
    cm[3, 7], cm[8, 2] = 4, 2
    classes = [f"class {i}" for i in range(n)]
    table = html._top_confusions(cm.tolist(), classes)
    assert table.index("class 3</td><td>class 7") < table.index("class 8</td><td>class 2")
    assert "class 0</td><td>class 0" not in table  # the diagonal is not a confusion
    uri = plots.confusion(cm.tolist(), classes, "m")
    png = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert png.size[1] >= 20 * n  # about 20 px a class
    assert html._top_confusions([[1]], ["a"]) == ""


def test_the_meta_training_line_says_its_numbers_once():
    """The method's verdict already names the step and its validation; printing both put
    0.864 beside 0.863 for one number (walk 9)."""
    from scarce.report.html import _base_rows

    rec = {
        "best_step": 120,
        "steps": 300,
        "validation": "2 held-out base classes",
        "val_accuracy_start": 0.8854,
        "val_accuracy_best": 0.9116,
        "verdict": "kept step 120 of 300: accuracy on 2 held-out base classes 0.885 -> 0.912",
    }
    base = {"source": "b", "n": 100, "classes": ["x", "y"], "meta_training": {"protonet": rec}}
    (_, text) = _base_rows(base)[1]
    assert text == rec["verdict"].replace(">", "&gt;")  # HTML-escaped
    (_, plain) = _base_rows({**base, "meta_training": {"protonet": {**rec, "verdict": ""}}})[1]
    assert plain.startswith("best step 120 of 300")


def test_unequal_classes_get_their_counts_and_the_majority_floor():
    """walk 23: a baseline below 'always answer the largest class' read as a real score."""
    from scarce.report.html import _counts_row

    assert _counts_row({"counts": {"a": 5, "b": 5}}, None) == []
    floors = [{"shots": 2, "accuracy": 0.75, "balanced_accuracy": 0.5}]
    (counts, (name, text)) = _counts_row({"counts": {"a": 30, "b": 10}}, floors)
    assert counts == ("Class counts", "a: 30, b: 10")
    assert name == "Majority floor"
    assert "at K=2: 0.750 accuracy (0.500 balanced)" in text


def test_the_multitask_table_and_kfold_line_say_what_they_rest_on():
    """walk 23: the other task's data went unnamed, and kfold's units unexplained."""
    from scarce.report.html import _multitask_table, _protocol_text

    mt = {
        "method": "multitask",
        "versus": "multitask:single-task",
        "primary": "label",
        "paired": [],
        "tasks": {"uci": {"source": "data/uci", "n": 1797, "classes": ["0", "1"], "test": "25%"}},
    }
    text = _multitask_table(mt)
    assert "<strong>uci</strong>: <code>data/uci</code>, 1797 examples of 2 classes" in text
    kfold = {"name": "kfold", "folds": 4, "repeats": 2, "test": "fold", "interval": "t"}
    assert "each repeat's folds are averaged into one score" in _protocol_text(kfold)


def test_learning_curves_of_many_methods_use_bars_and_keep_the_baselines_colour() -> None:
    """Walk 33: six translucent bands merged into one mass, the legend sat on the data, and
    the from-scratch baseline took a blue beside the methods' blues in a domain report."""
    from scarce.report import plots

    names = ["source-only", "baseline", "coral", "mcc", "dann", "linear-probe"]
    c = plots.colours(names, "source-only")
    assert c["source-only"] == plots.BASELINE_COLOUR
    assert c["baseline"] == plots.SCRATCH_COLOUR
    assert plots.colours(["baseline", "knn"], "baseline")["baseline"] == plots.BASELINE_COLOUR
    series = {
        m: [{"shots": k, "mean": 0.8 + 0.01 * i, "low": 0.75, "high": 0.85} for k in (0, 5)]
        for i, m in enumerate(names)
    }
    calls: dict[str, list] = {"fill_between": [], "errorbar": [], "legend": []}
    real = plots.Figure.add_subplot

    def spy(self, *a, **k):  # the figure is cleared after drawing: watch the calls instead
        ax = real(self, *a, **k)
        for name, seen in calls.items():
            method = getattr(ax, name)
            setattr(ax, name, lambda *a, _m=method, _s=seen, **k: _s.append(k) or _m(*a, **k))
        return ax

    import unittest.mock

    with unittest.mock.patch.object(plots.Figure, "add_subplot", spy):
        plots.learning_curves(series, {}, c)
    assert not calls["fill_between"]
    assert len(calls["errorbar"]) == len(names)
    assert calls["legend"][0]["bbox_to_anchor"][0] > 1  # beside the axes, not on the data
    calls = {k: [] for k in calls}
    with unittest.mock.patch.object(plots.Figure, "add_subplot", spy):
        plots.learning_curves({m: series[m] for m in names[:3]}, {}, c)
    assert len(calls["fill_between"]) == 3  # few methods: bands
