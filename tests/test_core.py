import dataclasses
from pathlib import Path

import pytest

from scarce.core.atomic import atomic_write, atomic_write_bytes
from scarce.core.config import Config, check_range
from scarce.core.errors import ConfigError, InputError, NotFittedError, UnknownName
from scarce.core.registry import Registry
from scarce.methods.linear_probe import LinearProbeConfig


def test_config_rejects_unknown_key_with_suggestion():
    with pytest.raises(ConfigError, match=r"no option 'fold'.*Did you mean 'folds'"):
        LinearProbeConfig.from_dict({"fold": 3})


def test_config_coerces_cli_strings():
    cfg = LinearProbeConfig.from_dict({"C": "0.5", "Cs": "0.1,1", "class_weight": "none"})
    assert cfg.C == 0.5
    assert cfg.Cs == (0.1, 1.0)
    assert LinearProbeConfig.from_dict({"C": "none"}).C is None


def test_config_range_and_choice_messages():
    with pytest.raises(ConfigError, match=r"linear-probe.folds must be in \[2, 20\], got 1"):
        LinearProbeConfig(folds=1)
    with pytest.raises(ConfigError, match=r"class_weight expects"):
        LinearProbeConfig.from_dict({"class_weight": "heavy"})
    # walk 6: the knob as the user typed it (method.knob), its type in words, not
    # "LinearProbeConfig.C expects float | None"
    with pytest.raises(ConfigError, match=r"^linear-probe\.C expects a number or none, got 'x'"):
        LinearProbeConfig.from_dict({"C": "x"}, owner="linear-probe")
    with pytest.raises(ConfigError, match=r"Cs expects comma-separated numbers"):
        LinearProbeConfig.from_dict({"Cs": "a,b"}, owner="linear-probe")
    # walk 34: NaN passed every range check, and lr=nan gave the linear probe silently
    for knob, raw in [("C", "nan"), ("Cs", "0.1,inf"), ("C", float("-inf"))]:
        with pytest.raises(ConfigError, match=rf"^linear-probe\.{knob} must be a finite number"):
            LinearProbeConfig.from_dict({knob: raw}, owner="linear-probe")
    with pytest.raises(ConfigError, match=r"LinearProbeConfig\.C must be a finite number"):
        LinearProbeConfig(C=float("nan"))
    from scarce.methods.finetune import FinetuneConfig

    for knob, raw in [("weight_decay", "-1"), ("l2sp_search", "0.01,-1"), ("warmup", "nan")]:
        with pytest.raises(ConfigError, match=rf"^finetune\.{knob} must be"):
            FinetuneConfig.from_dict({knob: raw}, owner="finetune")
    # walk 34: augment=true with views=0 trained without augmentation, in silence
    with pytest.raises(ConfigError, match=r"^finetune\.views must be in \[1, 64\], got 0"):
        FinetuneConfig.from_dict({"augment": "true", "views": "0"}, owner="finetune")


def test_config_describe_lists_knobs():
    names = [row[0] for row in LinearProbeConfig.describe()]
    assert "C" in names
    assert "class_weight" in names


def test_errors_tree():
    assert issubclass(ConfigError, InputError)
    assert issubclass(NotFittedError, AttributeError)


def test_registry_unknown_name_suggests():
    r: Registry[int] = Registry("method")
    r.register("linear-probe", 1)
    with pytest.raises(
        UnknownName, match=r"unknown method 'linear-prob'.*Did you mean 'linear-probe'"
    ):
        r.get("linear-prob")
    with pytest.raises(ValueError, match="twice"):
        r.register("linear-probe", 2)


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path):
    p = tmp_path / "m.bin"
    atomic_write_bytes(p, b"old")

    def crash() -> None:
        with atomic_write(p) as f:
            f.write(b"half of the new")
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        crash()
    assert p.read_bytes() == b"old"
    assert [x.name for x in tmp_path.iterdir()] == ["m.bin"]


def test_check_range():
    with pytest.raises(ConfigError, match=r"x.y must be in \[0, 1\], got 2"):
        check_range("x", "y", 2, 0, 1)


@dataclasses.dataclass(frozen=True)
class _Cfg(Config):
    flag: bool = False


def test_bool_coercion():
    assert _Cfg.from_dict({"flag": "true"}).flag is True
    with pytest.raises(ConfigError):
        _Cfg.from_dict({"flag": "maybe"})


def test_literal_fields_are_checked_even_when_built_directly():
    with pytest.raises(ConfigError, match=r"class_weight must be one of 'balanced', 'none', got"):
        LinearProbeConfig(class_weight="heavy")  # type: ignore[arg-type]


def test_warnings_once_shows_each_site_once_and_counts_the_rest(caplog):
    import logging

    from scarce.core.logs import warnings_once

    log = logging.getLogger("scarce.test")
    with caplog.at_level(logging.WARNING, logger="scarce"), warnings_once():
        for i in range(3):
            log.warning("fit %d: the same caveat", i)  # one site, three fits
        log.warning("another caveat")
        log.error("errors always pass")
        log.error("errors always pass")
    shown = [r.getMessage() for r in caplog.records]
    assert shown[:4] == [
        "fit 0: the same caveat",
        "another caveat",
        "errors always pass",
        "errors always pass",
    ]
    assert "2 more warning(s)" in shown[4]
    log.warning("after the block")  # the filter is gone
    assert caplog.records[-1].getMessage() == "after the block"
    # one line speaking for two models (a probe, and distill's teacher) is two warnings
    from scarce.core.logs import speaking_for

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scarce"), warnings_once():
        for who in ("", "distill's teacher (x)", ""):
            with speaking_for(who):
                log.warning("--unlabeled not used")
    assert [r.getMessage() for r in caplog.records][:2] == [
        "--unlabeled not used",
        "distill's teacher (x): --unlabeled not used",
    ]
    assert "1 more warning(s)" in caplog.records[2].getMessage()


def test_progress_writes_plain_lines_when_not_a_terminal(monkeypatch, capsys):
    """Without a terminal a long fit was silent for minutes; now a line every PLAIN_EVERY s."""
    from scarce.core import progress as P

    monkeypatch.setattr(P, "PLAIN_EVERY", 0.0)
    assert list(P.progress(range(3), desc="steps", unit="step")) == [0, 1, 2]
    err = capsys.readouterr().err
    assert "steps: 1/3 step done" in err
    # batches count their items: the rate and the lines read in images, not in "x32 img"
    assert list(P.progress(["a", "b"], desc="encoding", unit="image", sizes=[32, 5])) == ["a", "b"]
    assert "encoding: 32/37 images done" in capsys.readouterr().err
    P.set_quiet(True)
    try:
        list(P.progress(range(3), desc="steps"))
    finally:
        P.set_quiet(False)
    assert capsys.readouterr().err == ""


def test_status_shows_a_clock_on_a_terminal_only(monkeypatch):
    """Walk 15: a first use sat silent for ~10 s while the encoder was exported."""
    import io
    import time

    from scarce.core import progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for tty, quiet, shown in ((True, False, True), (True, True, False), (False, False, False)):
        err = Tty() if tty else io.StringIO()
        monkeypatch.setattr("sys.stderr", err)
        progress.set_quiet(quiet)
        try:
            with progress.status("minilm-l6: preparing"):
                time.sleep(0.6)
        finally:
            progress.set_quiet(False)
        assert ("minilm-l6: preparing (00:00)" in err.getvalue()) is shown


def test_a_write_sweeps_the_temporaries_a_killed_write_left(tmp_path):
    import os
    import time

    target = tmp_path / "m[1].scarce"
    stale, young = tmp_path / ".m[1].scarce.abc.tmp", tmp_path / ".m[1].scarce.def.tmp"
    for f in (stale, young):
        f.write_bytes(b"half")
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (day_ago, day_ago))
    atomic_write_bytes(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert not stale.exists()
    assert young.exists()  # maybe another writer's, still at work


@pytest.mark.parametrize("command", ["predict", "fit", "eval", "export"])
def test_help_shows_switches_without_a_value(command, capsys, monkeypatch):
    """audit 26: help showed '--proba <bool>' and '<list[Path]>', and `--proba true` was
    tried; switches show no value and repeatable options say what they take."""
    from scarce.cli.main import main

    monkeypatch.setenv("COLUMNS", "120")
    assert main([command, "--help"]) == 0
    shown = capsys.readouterr().out
    assert "<bool>" not in shown
    assert "list[" not in shown
    if command == "eval":
        assert "[METHOD.]KEY=VALUE" in shown


def test_a_bound_that_is_not_zero_never_shows_as_zero():
    """walk 25: '+0.054 [+0.000, +0.108] better' (the verdict rests on the unrounded low)."""
    from scarce.cli.main import _iv
    from scarce.core.logs import fixed

    assert fixed(0.1234) == "0.123"
    assert fixed(0.0, sign=True) == "+0.000"
    assert fixed(0.0002, sign=True) == "+0.0002"
    assert fixed(-0.00004, sign=True) == "-0.00004"
    assert fixed(1e-12, sign=True) == "+1.0e-12"
    assert fixed(5.6e-18, sign=True) == "+0.000"  # walk 27: round-off of equal answers
    from scarce.evaluation.intervals import Interval, verdict

    assert verdict(Interval(5.6e-18, 5.6e-18, 5.6e-18, 6)) == "no clear difference"
    assert verdict(Interval(0.01, 0.01, 0.01, 6)) == "better"
    row = {"mean": 0.054, "low": 0.0003, "high": 0.108, "n": 5}
    assert _iv(row, sign=True) == "+0.054 [+0.0003, +0.108]"


def test_errors_only_holds_back_warnings_in_its_own_context_only(caplog):
    """A domain fit given --test fits source-only beside it on the same data: that second
    fit's warnings would repeat the first's. A fit on another thread meanwhile keeps its
    warnings (the first version raised the logger's level for the whole process)."""
    import logging
    import threading

    from scarce.core.logs import errors_only

    lg = logging.getLogger("scarce.methods.somewhere")
    before = logging.getLogger("scarce").level
    with caplog.at_level(logging.INFO, logger="scarce"):
        with errors_only():
            lg.warning("repeated warning")
            lg.error("an error still shows")
            other = threading.Thread(target=lg.warning, args=("another thread: shown",))
            other.start()
            other.join()
            logging.getLogger("elsewhere").warning("not scarce: shown")
        lg.warning("after: shown")
    assert "repeated warning" not in caplog.text
    for shown in ("an error still shows", "another thread: shown", "not scarce", "after: shown"):
        assert shown in caplog.text
    assert logging.getLogger("scarce").level == before
