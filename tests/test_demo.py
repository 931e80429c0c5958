import pytest

from scarce.cli.main import main


@pytest.mark.slow
def test_demo_small(tmp_path, capsys):
    code = main(
        ["demo", "--workdir", str(tmp_path / "demo"), "--shots", "8", "--repeats", "3", "--quiet"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "95% interval" in out
    assert "linear-probe (efficientnet-lite0)" in out
    assert "from scratch" in out
    assert "vs baseline (paired)" in out
    assert (tmp_path / "demo" / "results.json").exists()
    assert (tmp_path / "demo" / "defects.scarce").exists()
    assert "predictions on photos it never saw" in out
