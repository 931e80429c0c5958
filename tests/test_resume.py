"""An evaluation stopped part way keeps its finished fits; run again, it fits only the rest."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import scarce
from scarce.evaluation import metrics as M
from scarce.evaluation.resume import FOLDER

KW = {"methods": ["linear-probe"], "shots": [1, 2], "repeats": 3, "seed": 0}
FITS = 2 * 3 * 2  # shots x repeats x (linear-probe and the baseline)
SCORED = ("summary", "paired", "negative_transfer", "curves", "details")
REAL_COMPUTE = M.compute  # not whatever an earlier _fits left in its place


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("SCARCE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / FOLDER


def _scores(res: dict) -> str:
    return json.dumps({k: res[k] for k in SCORED}, sort_keys=True, default=str)


def _fits(monkeypatch, stop_at: int | None = None, warn: bool = False) -> list[int]:
    """Count the fits scored from here on; raise Ctrl-C at the `stop_at`th; with `warn`,
    each fit warns as it is scored."""
    calls: list[int] = []
    real = REAL_COMPUTE

    def compute(y, proba):
        calls.append(1)
        if len(calls) == stop_at:
            raise KeyboardInterrupt
        if warn:
            logging.getLogger("scarce.methods").warning("this fit saw something odd")
        return real(y, proba)

    monkeypatch.setattr(M, "compute", compute)
    return calls


def _interrupt(text_csv: Path, monkeypatch, at: int, warn: bool = False, **kw) -> None:
    _fits(monkeypatch, stop_at=at, warn=warn)
    with pytest.raises(KeyboardInterrupt):
        scarce.evaluate(text_csv, **{**KW, **kw})


def test_an_interrupted_eval_resumes_with_the_same_results(text_csv, cache, monkeypatch, caplog):
    whole = scarce.evaluate(text_csv, resume=False, **KW)
    assert not cache.exists()  # resume=False keeps nothing
    _interrupt(text_csv, monkeypatch, at=5)
    assert f"4 of {FITS} fits are kept" in caplog.text
    calls = _fits(monkeypatch)
    again = scarce.evaluate(text_csv, **KW)
    assert len(calls) == FITS - 4
    assert f"resuming: 4 of {FITS} fits of this evaluation are kept" in caplog.text
    assert again["timing"]["resumed_fits"] == 4
    assert _scores(again) == _scores(whole)
    assert not any(cache.iterdir())  # a completed evaluation removes what it kept


def test_another_seed_setting_or_resume_false_refits(text_csv, cache, monkeypatch):
    _interrupt(text_csv, monkeypatch, at=5)  # keeps 2 baseline and 2 linear-probe fits
    calls = _fits(monkeypatch)
    scarce.evaluate(text_csv, **{**KW, "seed": 1})
    assert len(calls) == FITS
    calls.clear()
    res = scarce.evaluate(text_csv, resume=False, **KW)
    assert len(calls) == FITS
    assert "resumed_fits" not in res["timing"]
    assert any(cache.iterdir())  # resume=False leaves the stopped run's fits alone
    calls.clear()
    scarce.evaluate(text_csv, **{**KW, "configs": {"linear-probe": {"C": 0.5}}})
    assert len(calls) == FITS - 2  # the baseline's are the same fits


def test_a_kept_fit_gives_its_warnings_again(text_csv, cache, monkeypatch, caplog):
    _interrupt(text_csv, monkeypatch, at=3, warn=True)
    caplog.clear()
    _fits(monkeypatch)  # the fits left warn of nothing now
    scarce.evaluate(text_csv, **KW)
    assert "this fit saw something odd" in caplog.text


def test_a_damaged_kept_fit_is_fitted_again(text_csv, cache, monkeypatch, caplog):
    _interrupt(text_csv, monkeypatch, at=5)
    kept = sorted(cache.glob("*/*.npz"))
    assert len(kept) == 4
    kept[0].write_bytes(kept[0].read_bytes()[:100])
    calls = _fits(monkeypatch)
    scarce.evaluate(text_csv, **KW)
    assert len(calls) == FITS - 3
    assert "1 kept fit(s) in" in caplog.text
    assert "were unreadable and were fitted again" in caplog.text


def test_a_kept_fit_whose_scores_were_altered_is_fitted_again(text_csv, cache, monkeypatch):
    """Walk 30: per-item scores rewritten in a still-valid file were taken as they were."""
    import numpy as np

    _interrupt(text_csv, monkeypatch, at=5)
    victim = sorted(cache.glob("*/*.npz"))[0]
    with np.load(victim) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["item:accuracy"] = np.ones_like(arrays["item:accuracy"])
    np.savez(victim, **arrays)
    calls = _fits(monkeypatch)
    scarce.evaluate(text_csv, **KW)
    assert len(calls) == FITS - 3


def test_the_command_line_resumes_unless_told_not_to(text_csv, cache, monkeypatch, tmp_path):
    from scarce.cli.main import main

    out = tmp_path / "r.json"
    args = ["eval", str(text_csv), "--shots", "1,2", "--repeats", "3", "--out", str(out)]
    _interrupt(text_csv, monkeypatch, at=5)
    calls = _fits(monkeypatch)
    assert main([*args, "--no-resume"]) == 0
    assert len(calls) == FITS
    calls.clear()
    assert main(args) == 0
    assert len(calls) == FITS - 4
    assert json.loads(out.read_text())["timing"]["resumed_fits"] == 4


def test_a_store_that_fails_to_write_still_leaves_nothing(text_csv, cache, monkeypatch, caplog):
    """Walk 30: on a full disk, the fit kept before the failure stayed after completion."""
    import os

    from scarce.evaluation import resume

    real, writes = os.replace, []

    def replace(a, b):
        writes.append(b)
        if len(writes) > 1:
            raise OSError(28, "No space left on device")
        return real(a, b)

    monkeypatch.setattr(resume.os, "replace", replace)
    scarce.evaluate(text_csv, **KW)
    assert "could not keep finished fits" in caplog.text
    assert not any(cache.iterdir())


def test_a_smaller_eval_leaves_the_kept_fits_it_does_not_run(text_csv, cache, monkeypatch):
    """Walk 30: completing with fewer --methods deleted the stopped larger run's fits."""
    wide = {**KW, "methods": ["linear-probe", "knn"]}  # jobs: baseline, linear-probe, knn
    _interrupt(text_csv, monkeypatch, at=7, **{"methods": wide["methods"]})
    kept = len(list(cache.glob("*/*.npz")))
    assert kept == 6
    _fits(monkeypatch)
    scarce.evaluate(text_csv, **KW)  # baseline and linear-probe only
    assert len(list(cache.glob("*/*.npz"))) == 2  # knn's two stay for the wider run
    calls = _fits(monkeypatch)
    scarce.evaluate(text_csv, **wide)
    assert len(calls) == 3 * FITS // 2 - 2
    assert not any(cache.iterdir())


def test_a_quiet_run_keeps_its_fits_warnings_for_a_run_that_shows_them(
    text_csv, cache, monkeypatch, capsys, tmp_path
):
    """Stop 35: --quiet made no warning records at all, so the fits a quiet eval kept had
    none to give again when a later run without --quiet resumed them."""
    from scarce.cli.main import main

    args = ["eval", str(text_csv), "--shots", "1,2", "--repeats", "3", "--out"]
    _fits(monkeypatch, stop_at=3, warn=True)
    assert main([*args, str(tmp_path / "q.json"), "-q"]) == 130
    assert "something odd" not in capsys.readouterr().err  # quiet shows none
    assert len(list(cache.glob("*/*.npz"))) == 2
    _fits(monkeypatch)
    assert main([*args, str(tmp_path / "r.json")]) == 0
    assert "this fit saw something odd" in capsys.readouterr().err
