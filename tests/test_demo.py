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
    # run again over its own folder (with the report it tells you to write there): replaced
    (tmp_path / "demo" / "report.html").write_text("<html></html>")
    again = ["demo", "--workdir", str(tmp_path / "demo"), "--shots", "4", "--repeats", "2", "-q"]
    assert main(again) == 0
    assert not (tmp_path / "demo" / "report.html").exists()


def test_demo_never_empties_a_folder_it_did_not_fill(tmp_path, capsys):
    """audit 26: `--workdir DIR` removed everything in DIR before writing."""
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "precious.txt").write_text("keep")
    (mine / "sub" / "notes.txt").write_text("keep")
    assert main(["demo", "--workdir", str(mine), "-q"]) == 2
    assert "holds files the demo did not write (precious.txt, sub)" in capsys.readouterr().err
    assert (mine / "precious.txt").read_text() == "keep"
    assert (mine / "sub" / "notes.txt").read_text() == "keep"
    assert main(["demo", "--workdir", str(mine / "precious.txt"), "-q"]) == 2
    assert "is a file; give a new or empty folder" in capsys.readouterr().err
