"""Every bad-input case, through the CLI: exit code 2, a message naming the problem and the
fix, and nothing written."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import scarce
from scarce.cli.main import main
from scarce.core.errors import DataError
from tests.conftest import write_text_csv


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def fit_fails(capsys, tmp_path: Path, data: Path, *extra: str) -> str:
    out = tmp_path / "model.scarce"
    code, _, err = run_cli(["fit", data, "--out", out, "--quiet", *extra], capsys)
    assert code == 2, err
    assert not out.exists()
    assert not list(tmp_path.glob(".model.scarce*"))
    return err


def test_truncated_image(tmp_path, image_folder, capsys):
    victim = next((image_folder / "trouser").iterdir())
    victim.write_bytes(victim.read_bytes()[:60])
    err = fit_fails(capsys, tmp_path, image_folder)
    assert str(victim) in err
    assert "cannot read this image" in err
    assert "remove it or replace it" in err


def test_unreadable_image(tmp_path, image_folder, capsys):
    bad = image_folder / "tshirt" / "notes.jpg"
    bad.write_text("this is not a jpeg")
    err = fit_fails(capsys, tmp_path, image_folder)
    assert "notes.jpg" in err
    assert "cannot read this image" in err


def test_empty_image_file(tmp_path, image_folder, capsys):
    (image_folder / "tshirt" / "zero.png").write_bytes(b"")
    err = fit_fails(capsys, tmp_path, image_folder)
    assert "zero.png: the file is empty" in err


def test_every_unreadable_image_is_named_in_one_error(tmp_path, image_folder, capsys):
    """Walk 5: three bad files took three runs to find, one each."""
    (image_folder / "tshirt" / "zero.png").write_bytes(b"")
    (image_folder / "trouser" / "notes.jpg").write_text("this is not a jpeg")
    victim = next((image_folder / "sneaker").iterdir())
    victim.write_bytes(victim.read_bytes()[:60])
    err = fit_fails(capsys, tmp_path, image_folder)
    assert "3 of " in err
    assert "images cannot be used; remove or replace them" in err
    for name in ("zero.png: the file is empty", "notes.jpg: cannot read", victim.name):
        assert name in err
    model = tmp_path / "m.scarce"
    (image_folder / "tshirt" / "zero.png").unlink()
    (image_folder / "trouser" / "notes.jpg").unlink()
    victim.unlink()
    assert main(["fit", str(image_folder), "--out", str(model), "-q"]) == 0
    new = tmp_path / "new"
    new.mkdir()
    for i in range(12):
        (new / f"bad{i:02}.png").write_bytes(b"")
    code, _, err = run_cli(["predict", model, new], capsys)
    assert code == 2
    assert "12 of 12 images" in err
    assert "bad09.png" in err
    assert "bad10.png" not in err
    assert "... and 2 more" in err
    # --skip-bad: the readable images are predicted, each bad one gets a row and its error,
    # in input order; a batch of nothing but bad images is still refused
    code, _, err = run_cli(["predict", model, new, "--skip-bad"], capsys)
    assert code == 2
    assert "12 of 12 images" in err
    good = sorted((image_folder / "tshirt").iterdir())[:2]
    for i, f in enumerate(good):
        shutil.copy(f, new / f"bad{i:02}.png")  # the first two become readable
    out = tmp_path / "p.jsonl"
    code, _, err = run_cli(["predict", model, new, "--skip-bad", "--out", out], capsys)
    assert code == 0, err
    assert "10 unreadable image(s) skipped" in err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(r["input"]).name for r in rows] == [f"bad{i:02}.png" for i in range(12)]
    assert [r["error"] == "" for r in rows] == [True, True] + [False] * 10
    assert rows[0]["prediction"] in ("tshirt", "trouser", "sneaker")
    assert rows[5]["prediction"] is None
    assert "the file is empty" in rows[5]["error"]


def test_what_predict_cannot_read_is_named_and_skip_bad_covers_missing_files(
    tmp_path, image_folder, capsys
):
    """Walk 27: a folder's SVG and text file were left out without a word; a table's missing
    file or URL stopped the batch even with --skip-bad; a path relative to the current folder
    got no hint that it was there."""
    model = tmp_path / "m.scarce"
    assert run_cli(["fit", image_folder, "--out", model, "-q"], capsys)[0] == 0
    new = tmp_path / "new"
    shutil.copytree(image_folder / "tshirt", new)
    (new / "x.svg").write_text("<svg/>")
    (new / "gone.png").symlink_to(tmp_path / "nowhere.png")
    code, out, err = run_cli(["predict", model, new], capsys)
    assert code == 0, err
    assert (
        "ignored 2 file(s) that are not images scarce reads (gone.png (a broken link), x.svg)"
        in err
    )
    assert len(out.strip().splitlines()) == 1 + 6
    table = tmp_path / "sub" / "t.csv"
    table.parent.mkdir()
    first = next(iter(sorted(new.glob("*.png"))))
    table.write_text(f"path\n{first}\nhttp://example.com/a.png\nmissing.png\n")
    code, _, err = run_cli(["predict", model, table], capsys)
    assert code == 2
    assert "row 2: image 'http://example.com/a.png' not found" in err
    assert "fetches no URL" in err
    assert "1 more row(s) name images that are not there: row 3 ('missing.png')" in err
    (table.parent / "note.png").write_text("not an image")  # walk 29: said a run later
    table.write_text(f"path\n{first}\nmissing.png\nnote.png\n")
    code, _, err = run_cli(["predict", model, table], capsys)
    assert code == 2
    assert "row 2: image 'missing.png' not found" in err
    assert "Also: " in err
    assert "note.png" in err
    # walk 30: a row without a label hid every other fault of the table
    labeled = table.parent / "labeled.csv"
    labeled.write_text(f"path,label\n{first},a\nmissing.png,b\nnote.png,\n,a\n")
    err = fit_fails(capsys, tmp_path, labeled)
    assert "row 3: no label in column 'label'" in err
    assert "Also: " in err
    assert "row 2: image 'missing.png' not found" in err
    assert "row 4 (no path)" in err
    table.write_text(f"path\n{first}\nhttp://example.com/a.png\nmissing.png\n")
    out_file = tmp_path / "p.csv"
    code, _, err = run_cli(["predict", model, table, "--skip-bad", "--out", out_file], capsys)
    assert code == 0, err
    rows = out_file.read_text().splitlines()
    assert len(rows) == 1 + 3
    assert rows[2].startswith("http://example.com/a.png,")  # as written, both slashes
    assert "fetches no URL" in rows[2]
    assert "missing.png: no such image file" in rows[3]
    monkey = os.getcwd()
    try:
        os.chdir(tmp_path)
        table.write_text(f"path\n{first.relative_to(tmp_path)}\n")
        code, _, err = run_cli(["predict", model, table], capsys)
    finally:
        os.chdir(monkey)
    assert code == 2
    assert "It is there relative to the current folder: write paths relative to" in err


def test_class_with_no_examples(tmp_path, image_folder, capsys):
    (image_folder / "dress").mkdir()
    err = fit_fails(capsys, tmp_path, image_folder)
    assert "class 'dress'" in err
    assert "has no images" in err
    assert "Also" not in err
    # walk 29: the unreadable images were said only once the empty folder was gone
    (image_folder / "coat").mkdir()
    (image_folder / "trouser" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    err = fit_fails(capsys, tmp_path, image_folder)
    assert "classes 'coat', 'dress' (in " in err
    assert "have no images" in err
    assert "Also: " in err
    assert "broken.png" in err


def test_only_one_class(tmp_path, image_folder, capsys):
    for d in ("trouser", "sneaker"):
        shutil.rmtree(image_folder / d)
    err = fit_fails(capsys, tmp_path, image_folder)
    assert "only one class ('tshirt'" in err
    assert "at least two classes" in err


def test_images_without_class_folders(tmp_path, capsys):
    d = tmp_path / "flat"
    d.mkdir()
    err = fit_fails(capsys, tmp_path, d)
    assert "no class sub-folders" in err


def test_non_utf8_text(tmp_path, capsys):
    p = tmp_path / "latin.csv"
    p.write_bytes("text,label\nhello,a\ncaf\xe9 au lait,b\n".encode("latin-1"))
    err = fit_fails(capsys, tmp_path, p)
    assert "line 3: not valid UTF-8" in err
    assert "iconv" in err


def test_utf16_text_names_its_encoding(tmp_path, capsys):
    p = tmp_path / "excel.csv"
    p.write_bytes("text,label\nhello,a\nbye,b\n".encode("utf-16"))  # with its BOM
    err = fit_fails(capsys, tmp_path, p)
    assert "the file is UTF-16" in err
    assert "iconv -f utf-16 -t utf-8" in err


def test_separators_are_read_from_the_header(tmp_path):
    from scarce.data.sources import load_labeled

    rows = [("Le pain, le vin", "food"), ("La lune", "space"), ("Du fromage", "food")]
    semi = tmp_path / "excel.csv"  # Excel in a ';' locale: BOM, CRLF, commas inside texts
    semi.write_bytes(("\ufefftext;label\r\n" + "".join(f"{t};{y}\r\n" for t, y in rows)).encode())
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    commas = tmp_path / "commas.tsv"
    commas.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows))
    for p in (semi, tabs, commas):
        ds = load_labeled(p)
        assert ds.inputs.items == tuple(t for t, _ in rows), p
        assert ds.classes == ("food", "space")


def test_a_row_with_too_many_fields_says_to_quote(tmp_path, capsys):
    p = tmp_path / "bad.csv"
    p.write_text("text,label\nfine,a\nsalt, pepper,b\n")
    err = fit_fails(capsys, tmp_path, p)
    assert "put such texts in double quotes" in err
    assert "\n)" not in err


def test_empty_text_file(tmp_path, capsys):
    p = tmp_path / "empty.csv"
    p.write_text("")
    assert "the file is empty" in fit_fails(capsys, tmp_path, p)


def test_header_only(tmp_path, capsys):
    p = tmp_path / "head.csv"
    p.write_text("text,label\n")
    assert "no rows" in fit_fails(capsys, tmp_path, p)


def test_missing_column_suggests(tmp_path, capsys):
    p = write_text_csv(tmp_path / "t.csv", ["a b", "c d"], ["x", "y"])
    p.write_text(p.read_text().replace("text,label", "sentence,label"))
    err = fit_fails(capsys, tmp_path, p)
    assert "missing column 'text'" in err
    assert "--text-column" in err


def test_missing_label_in_a_row(tmp_path, capsys):
    p = tmp_path / "t.csv"
    p.write_text("text,label\nfirst,a\nsecond,\nthird,b\n")
    err = fit_fails(capsys, tmp_path, p)
    assert "row 2: no label" in err


def test_jsonl_bad_line(tmp_path, capsys):
    p = tmp_path / "t.jsonl"
    p.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": \n')
    assert "line 2: invalid JSON" in fit_fails(capsys, tmp_path, p)


def test_a_missing_text_and_label_are_named_together(tmp_path, capsys):
    """Walk 27: a missing text column, then a missing label column (or an empty text, then an
    empty label) took one run each to find."""
    p = tmp_path / "t.csv"
    long = "Return the value of the named attribute of an object or the default"
    p.write_text(f"doc,module\n{long} one,a\n{long} two,\n,b\n{long} four,b\n")
    err = fit_fails(capsys, tmp_path, p)
    assert "missing column 'text'" in err
    assert "Also missing column 'label'" in err
    assert "Pass --text-column doc" in err
    err = fit_fails(capsys, tmp_path, p, "--text-column", "doc", "--label-column", "module")
    assert "row 3: empty 'doc'" in err
    assert "t.csv, row 2: no label in column" in err


def test_a_json_file_that_is_not_an_array_of_records_is_explained(tmp_path, capsys):
    p = tmp_path / "t.json"
    p.write_text('{"text": ["a", "b"], "label": ["x", "y"]}')  # pandas' default orient
    assert 'holds a JSON object. In pandas: df.to_json(path, orient="records")' in fit_fails(
        capsys, tmp_path, p
    )
    p.write_text('[{"text": "a", "label": "x"}, ["b", "y"]]')
    assert "t.json, item 2: expected a JSON object" in fit_fails(capsys, tmp_path, p)
    p.write_text('[{"text": "a", "label": "x"},\n {"text": "b" "label": "y"}]')
    assert "t.json, line 2: invalid JSON" in fit_fails(capsys, tmp_path, p)


def test_lone_surrogates_become_replacement_characters(tmp_path, caplog):
    """JSON allows "\\ud800" (an exporter that cut an emoji in two), UTF-8 does not: fit,
    predict and in-memory texts crashed with UnicodeEncodeError (walk 11)."""
    from scarce.data.sources import load_labeled
    from scarce.data.types import Inputs

    p = tmp_path / "t.jsonl"
    p.write_text(
        '{"text": "fine", "label": "x"}\n{"text": "half \\ud83d an emoji", "label": "y"}\n'
    )
    with caplog.at_level("WARNING", logger="scarce"):
        ds = load_labeled(p)
    assert ds.inputs.items == ("fine", "half \ufffd an emoji")
    assert "1 line(s) held lone UTF-16 surrogates (half an emoji, e.g. line 2)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="scarce"):
        x = Inputs.from_texts(["ok", "cut \ud83d", "whole \U0001f600"])
    assert x.items == ("ok", "cut \ufffd", "whole \U0001f600")
    assert "1 text(s) held lone UTF-16 surrogates (half an emoji, e.g. text 1)" in caplog.text


def test_text_single_class(tmp_path, capsys):
    p = write_text_csv(tmp_path / "t.csv", ["one", "two", "three"], ["x", "x", "x"])
    assert "only one class ('x'" in fit_fails(capsys, tmp_path, p)


def test_unknown_test_labels(tmp_path, text_csv, capsys):
    test = write_text_csv(tmp_path / "test.csv", ["the court ruled", "a bill"], ["law", "politics"])
    err = fit_fails(capsys, tmp_path, text_csv, "--test", str(test))
    assert "'law' (1, first at row 1), 'politics' (1, first at row 2) are not in the" in err


def test_small_layout_mistakes_get_their_own_message(tmp_path, image_folder, capsys):
    from scarce.data.episodes import sample_episodes

    # a path,label CSV written on Windows: backslashes are read as folders
    names = sorted(p.name for p in (image_folder / "tshirt").iterdir())[:2]
    win = tmp_path / "win.csv"
    rows = [f"imgs\\tshirt\\{n},tshirt" for n in names]
    rows += [
        f"imgs\\trouser\\{p.name},trouser" for p in sorted((image_folder / "trouser").iterdir())[:2]
    ]
    win.write_text("path,label\n" + "\n".join(rows) + "\n")
    from scarce.data.sources import load_labeled

    assert load_labeled(win).classes == ("trouser", "tshirt")
    # labeled rows in a .txt, and a file with no extension
    txt = tmp_path / "t.txt"
    txt.write_text("text,label\nbread,food\nmoon,space\n")
    assert "rename it to .csv" in fit_fails(capsys, tmp_path, txt)
    bare = tmp_path / "data"
    bare.write_text("text,label\nbread,food\n")
    assert "no file extension" in fit_fails(capsys, tmp_path, bare)
    with pytest.raises(DataError, match="the data has only 3: lower --ways to 3"):
        sample_episodes(np.array([0, 1, 2] * 10), ("a", "b", "c"), 5, 1, 2, 3, 0)


def test_image_csv_missing_file(tmp_path, image_folder, capsys):
    p = tmp_path / "imgs.csv"
    p.write_text("path,label\nimgs/tshirt/0.png,tshirt\nimgs/nothere.png,x\n")
    err = fit_fails(capsys, tmp_path, p)
    assert "row 2: image 'imgs/nothere.png' not found" in err


def test_missing_data_path(tmp_path, capsys):
    assert "no such file or folder" in fit_fails(capsys, tmp_path, tmp_path / "nope")


def test_duplicates_across_train_and_test_warn(tmp_path, text_csv, capsys):
    out = tmp_path / "m.scarce"
    code, _, err = run_cli(["fit", text_csv, "--test", text_csv, "--out", out], capsys)
    assert code == 0, err
    assert f"24 test examples ({text_csv}) also appear in the training data ({text_csv})" in err
    assert "training row 1 = test row 1" in err
    assert out.exists()


def test_repeated_inputs_in_the_training_data_warn(tmp_path, text_csv, capsys):
    import pandas as pd

    df = pd.read_csv(text_csv)
    clash = df.iloc[[0]].assign(label="sports" if df.label[0] != "sports" else "food")
    pd.concat([df, clash, df.iloc[[1]]]).to_csv(tmp_path / "rep.csv", index=False)
    code, _, err = run_cli(["fit", tmp_path / "rep.csv", "--out", tmp_path / "m.scarce"], capsys)
    assert code == 0, err
    assert f"row 1 is {df.label[0]!r} but row 25 is" in err
    assert "exact copies of another with the same label (row 26 repeats row 2)" in err
    code, _, err = run_cli(["fit", text_csv, "--out", tmp_path / "m.scarce"], capsys)
    assert "copies" not in err
    assert "another label" not in err


def test_bad_knob_is_exit_2(tmp_path, text_csv, capsys):
    err = fit_fails(capsys, tmp_path, text_csv, "--set", "C=-1")
    assert "linear-probe.C must be >= 1e-08, got -1.0" in err


def test_unknown_method_suggests(tmp_path, text_csv, capsys):
    err = fit_fails(capsys, tmp_path, text_csv, "--method", "linear_probe")
    assert "Did you mean 'linear-probe'" in err


def test_wrong_backbone_modality(tmp_path, text_csv, capsys):
    err = fit_fails(capsys, tmp_path, text_csv, "--backbone", "efficientnet-lite0")
    assert "is for image data but the data is text" in err


def test_real_binary_exit_code(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    scarce = Path(sys.executable).parent / "scarce"
    r = subprocess.run(
        [str(scarce), "fit", str(p), "--out", str(tmp_path / "m.scarce")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 2
    assert "error:" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [["fit"], ["predict"], ["nonsense"]])
def test_usage_errors_exit_2(args, capsys):
    code, _, _ = run_cli(args, capsys)
    assert code == 2


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_image_cut_in_the_middle(tmp_path, image_folder, capsys, fmt):
    import numpy as np
    from PIL import Image

    victim = image_folder / "sneaker" / f"big.{fmt.lower()}"
    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(noise).save(victim, format=fmt)
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) * 2 // 3])
    err = fit_fails(capsys, tmp_path, image_folder)
    assert "big." in err
    assert "cannot read this image" in err


@pytest.mark.parametrize("fmt", ["tsv", "jsonl", "json", "json-lines", "parquet"])
def test_text_formats_load(tmp_path, fmt):
    import pandas as pd

    from scarce.data.sources import load_labeled

    df = pd.DataFrame({"text": ["a b", "c d", "e f"], "label": [1, 2, 1]})
    p = tmp_path / f"t.{fmt}"
    if fmt == "tsv":
        df.to_csv(p, sep="\t", index=False)
    elif fmt == "jsonl":
        df.to_json(p, orient="records", lines=True)
    elif fmt == "json":  # walk 27: an array of records was refused as an unknown format
        df.to_json(p, orient="records")
    elif fmt == "json-lines":  # JSON Lines under a .json name
        p = tmp_path / "t.json"
        df.to_json(p, orient="records", lines=True)
    else:
        df.to_parquet(p)
    ds = load_labeled(p)
    assert ds.classes == ("1", "2")
    assert ds.y.tolist() == [0, 1, 0]
    assert ds.inputs.items == ("a b", "c d", "e f")


def test_a_long_thin_strip_reads_without_a_huge_intermediate():
    """A 20000x1 strip was resized whole (to 4,480,000 x 224: 4 GB) before the crop; now only
    the centre square is resampled, with the same pixels as resize-then-crop elsewhere."""
    from PIL import Image

    from scarce.data.images import read_rgb

    strip = (np.random.default_rng(0).random((1, 20000, 3)) * 255).astype(np.uint8)
    assert read_rgb(strip, 224).size == (224, 224)
    photo = Image.fromarray((np.random.default_rng(1).random((300, 200, 3)) * 255).astype("uint8"))
    old = photo.resize((100, 150), Image.Resampling.BICUBIC, reducing_gap=3.0)
    old = old.crop((0, 25, 100, 125))
    new = read_rgb(np.asarray(photo), 100)
    assert np.abs(np.asarray(new, float) - np.asarray(old, float)).max() <= 1


@pytest.mark.parametrize("mode", ["F", "I", "I;16"])
def test_high_depth_images_keep_their_contrast(tmp_path, mode):
    """Float TIFFs in [0, 1] became black through convert('RGB'); integers were already fine."""
    from PIL import Image

    from scarce.data.images import read_rgb

    ramp = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    arr = {"F": ramp, "I": (ramp * 70000).astype(np.int32), "I;16": (ramp * 4000).astype(np.uint16)}
    path = tmp_path / "deep.tif"
    Image.fromarray(arr[mode]).save(path)
    with Image.open(path) as im:
        assert im.mode.startswith(mode[0])
    px = np.asarray(read_rgb(path, 32))
    assert px.min() < 10
    assert px.max() > 245


def test_a_decompression_bomb_is_called_too_large(tmp_path, image_folder, monkeypatch, capsys):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert main(["fit", str(image_folder), "--out", str(tmp_path / "m.scarce"), "-q"]) == 2
    assert "too large to read safely" in capsys.readouterr().err


# the filter scarce.data.images installs, which pytest's "error" setting replaces per test
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_very_large_image_is_named_once_and_quiet_means_quiet(tmp_path, monkeypatch, caplog):
    """Walk 26: Pillow's own DecompressionBombWarning named no file, came twice per image,
    and ignored --quiet."""

    from PIL import Image

    from scarce.data import images

    path = tmp_path / "big.png"
    Image.new("RGB", (40, 40)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 pixels: a warning, not an error
    images.check_image_bytes(path.read_bytes(), str(path))
    for _ in range(2):
        assert images.read_rgb(path, 32).size == (32, 32)
    # outside pytest (which replaces the filters per test) Pillow's own warning stays quiet
    code = (
        "from PIL import Image; import scarce.data.images as im; "
        f"Image.MAX_IMAGE_PIXELS = 1000; im.read_rgb({str(path)!r}, 32)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "DecompressionBombWarning" not in run.stderr
    assert "a very large image (1,600 pixels)" in run.stderr
    said = [r.getMessage() for r in caplog.records if "very large image" in r.getMessage()]
    assert said == [
        f"{path}: a very large image (1,600 pixels); every read takes seconds. "
        "Shrink it (for example to 4000 pixels on the longer side) to go faster."
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["fit", "{data}", "--seed", "-5"], "--seed must be an integer from 0 to 4294967295"),
        (["fit", "{data}", "--seed", str(2**32)], "--seed must be an integer"),
        (["eval", "{data}", "--seed", "-1", "--out", "{tmp}/r.json"], "--seed must be"),
        (["fit", "{data}", "--method", "auto", "--budget", "0"], "--budget must be a positive"),
        (["fit", "{data}", "--method", "auto", "--budget", "-1"], "--budget must be a positive"),
        (
            ["eval", "{data}", "--protocol", "kfold", "--folds", "1", "--out", "{tmp}/r.json"],
            "--folds must be 2 or more",
        ),
        (
            ["eval", "{data}", "--protocol", "kfold", "--shots", "2", "--out", "{tmp}/r.json"],
            "--shots is for --protocol kshot, episodes, not kfold",
        ),
        (  # walk 5: silently ignored
            ["eval", "{data}", "--protocol", "episodes", "--repeats", "3", "--out", "{tmp}/r.json"],
            "not episodes (episodes are counted by --episodes)",
        ),
        (["eval", "{data}", "--ways", "3", "--out", "{tmp}/r.json"], "--ways is for --protocol"),
        (["eval", "{data}", "--protocol", "kfolds", "--out", "{tmp}/r.json"], "--protocol must"),
    ],
)
def test_out_of_range_numbers_exit_2(tmp_path, text_csv, capsys, args, says):
    args = [a.format(data=text_csv, tmp=tmp_path) for a in args]
    if args[0] == "fit":
        args += ["--out", str(tmp_path / "m.scarce")]
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert says in err


def test_a_folder_given_as_text_data_is_called_a_folder(tmp_path, image_folder, text_csv, capsys):
    err = fit_fails(capsys, tmp_path, image_folder, "--modality", "text")
    assert "is a folder, but text data is one file" in err
    err = fit_fails(capsys, tmp_path, text_csv, "--test", str(image_folder))
    assert "--test" in err
    assert "holds image data but DATA is text" in err


def test_an_image_model_given_a_text_table_says_so(tmp_path, image_folder, text_csv, capsys):
    m = tmp_path / "img.scarce"
    assert main(["fit", str(image_folder), "--out", str(m), "-q"]) == 0
    code, _, err = run_cli(["predict", m, text_csv], capsys)
    assert code == 2
    assert "this is an image model" in err


def test_renamed_columns_carry_to_test_and_predict(tmp_path, text_csv, capsys):
    """--text-column/--label-column name DATA's columns; --test may use them or the defaults,
    and predict reads the fitted column without being told again."""
    import pandas as pd

    renamed = tmp_path / "renamed.csv"
    pd.read_csv(text_csv).rename(columns={"text": "body", "label": "topic"}).to_csv(
        renamed, index=False
    )
    m = tmp_path / "m.scarce"
    args = ["fit", renamed, "--text-column", "body", "--label-column", "topic", "--out", m]
    code, out, err = run_cli([*args, "--test", text_csv, "-q"], capsys)
    assert code == 0, err
    assert "test accuracy" in out
    code, out, err = run_cli(["predict", m, renamed], capsys)
    assert code == 0, err
    assert len(out.splitlines()) == 1 + 24
    code, out, err = run_cli(["predict", m, text_csv], capsys)  # the default name works too
    assert code == 0, err
    broken = tmp_path / "broken.csv"
    broken.write_text("words,tag\nhello,food\n")
    code, _, err = run_cli([*args, "--test", broken], capsys)
    assert code == 2
    assert "read with DATA's column names, 'body' and 'topic', or else 'text'" in err
    # walk 5: with DATA's default names the companion's error advised --label-column, which
    # renames DATA's column too
    code, _, err = run_cli(["fit", text_csv, "--test", broken, "--out", m], capsys)
    assert code == 2
    assert "--test: " in err
    assert "rename its columns to match" in err
    assert "--text-column" not in err
    assert "--label-column" not in err


def test_predict_keeps_going_past_an_empty_text(tmp_path, text_csv, capsys):
    """Training refuses empty texts; prediction predicts them, warns, keeps every row."""
    m = tmp_path / "m.scarce"
    assert main(["fit", str(text_csv), "--out", str(m), "-q"]) == 0
    capsys.readouterr()
    inp = tmp_path / "in.csv"
    inp.write_text('text\nfresh bread\n""\nthe match went to penalties\n" "\n')
    code, out, err = run_cli(["predict", m, inp], capsys)
    assert code == 0, err
    assert "2 empty text(s) (row 2, 4)" in err
    assert [r.split(",")[0] for r in out.splitlines()[1:]] == ["1", "2", "3", "4"]
    # a blank line is a row too (numbers must match the file's); trailing ones are not
    for name, body in (
        ("in.csv", "text\nfresh bread\n\nthe match\n\n\n"),
        ("in.txt", "a\n\nb\n\n"),
    ):
        inp = tmp_path / name
        inp.write_text(body)
        code, out, err = run_cli(["predict", m, inp], capsys)
        assert code == 0, err
        assert "1 empty text(s) (row 2)" in err
        assert [r.split(",")[0] for r in out.splitlines()[1:]] == ["1", "2", "3"]


def test_a_table_of_numbers_is_called_tabular(tmp_path, capsys):
    p = tmp_path / "iris.csv"
    rows = [f"{5 + i / 10},{3 + i / 20},{1 + i / 7},{'a' if i % 2 else 'b'}" for i in range(10)]
    p.write_text("sepal,width,petal,label\n" + "\n".join(rows) + "\n")
    err = fit_fails(capsys, tmp_path, p)
    assert "looks like tabular data" in err
    assert "'sepal'" in err
    # walk 7: categorical columns only was "missing column 'text'"
    cat = tmp_path / "cars.csv"
    rows = [f"{c},{s},{'yes' if i % 3 else 'no'}" for i, (c, s) in enumerate(
        [("red", "S"), ("blue", "M"), ("green", "L")] * 4
    )]  # fmt: skip
    cat.write_text("color,size,label\n" + "\n".join(rows) + "\n")
    err = fit_fails(capsys, tmp_path, cat)
    assert "looks like tabular data (feature columns such as 'color', 'size', 0 of 2" in err
    # a text column under another name is not tabular: the column is named instead
    named = tmp_path / "named.csv"
    named.write_text("body,label\nthe soup was cold,food\na late goal won it,sport\n")
    err = fit_fails(capsys, tmp_path, named)
    assert "tabular" not in err
    assert "missing column 'text'" in err


def test_blank_texts_in_unlabeled_training_data_are_refused(tmp_path):
    from scarce.api import _unlabeled
    from scarce.core.errors import DataError

    p = tmp_path / "u.csv"
    p.write_text('text\nsome words\n""\n')
    with pytest.raises(DataError, match="row 2: empty 'text'"):
        _unlabeled(p, "text", "text", "--unlabeled", "DATA")


def test_a_bad_row_in_test_data_is_not_read_another_way(tmp_path, text_csv, capsys):
    """--test with DATA's column names failing on a blank row fell back to the 'text' column."""
    import pandas as pd

    renamed = tmp_path / "renamed.csv"
    pd.read_csv(text_csv).rename(columns={"text": "body"}).to_csv(renamed, index=False)
    test = tmp_path / "test.csv"
    test.write_text('body,text,label\n"",fresh bread,food\n')
    err = fit_fails(capsys, tmp_path, renamed, "--text-column", "body", "--test", str(test))
    assert "row 1: empty 'body'" in err


def test_frozen_encoder_refusals_suggest_methods_that_can_run():
    from scarce.methods._tuning import frozen_methods

    names = frozen_methods()
    assert "linear-probe" in names
    assert not {"mcc", "dann", "maml", "reptile", "finetune", "setfit"} & set(names)


def test_lookalike_labels_are_warned_about(caplog):
    from scarce.data.sources import labeled_set
    from scarce.data.types import Inputs
    from scarce.data.validate import check_trainable

    labels = ["1", "1.0", "2", "Cat", "cat", "dog", "café", "cafe\u0301"]
    ds = labeled_set(Inputs.from_texts([f"t{i}" for i in range(8)]), labels, "t.csv")
    with caplog.at_level("WARNING", logger="scarce"):
        check_trainable(ds)
    assert (
        "'1' and '1.0' (they differ in number form); 'Cat' and 'cat' (they differ in letter "
        "case); 'cafe\\u0301' and 'café' (they differ in Unicode form (an accent composed, or "
        "written as a separate mark)) are different classes"
    ) in caplog.text


def test_arrays_mixed_with_paths_name_every_bad_item(tmp_path):
    """Arrays beside image paths (Python API) are checked item by item: every bad one is
    named in one error, as a folder's bad files are."""
    from scarce.api import as_inputs

    good = np.zeros((8, 8), np.uint8)
    (tmp_path / "empty.png").write_bytes(b"")
    items = [good, str(tmp_path / "missing.png"), np.zeros(5), str(tmp_path / "empty.png")]
    with pytest.raises(DataError) as e:
        as_inputs(items, "image")
    msg = str(e.value)
    assert "3 of 4 images cannot be used" in msg
    for part in ("missing.png: no such image file", "input 2", "empty.png: the file is empty"):
        assert part in msg


def test_a_companion_folder_without_classes_gets_no_column_advice(tmp_path, image_folder, capsys):
    """Walk 6: a --test folder without class sub-folders was also told to rename its
    'text' and 'label' columns."""
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in list((image_folder / "tshirt").iterdir())[:3]:
        shutil.copy(f, flat / f.name)
    err = fit_fails(capsys, tmp_path, image_folder, "--test", str(flat))
    assert "--test: " in err
    assert "no class sub-folders" in err
    assert "columns" not in err.replace("columns path,label", "")


def test_a_wrong_modality_is_blamed_on_the_flag_not_the_data(tmp_path, text_csv, capsys):
    """Walk 6: --modality image on a text table said to rename a column to 'path', and on a
    domain fit that --source 'holds text data but DATA is image'."""
    err = fit_fails(capsys, tmp_path, text_csv, "--modality", "image")
    assert "It reads as text data: drop --modality image." in err
    err = fit_fails(
        capsys, tmp_path, text_csv, "--modality", "image", "--source", str(text_csv),
        "--method", "mcc",
    )  # fmt: skip
    assert "--source" in err
    assert "holds text data, but --modality image was given: drop --modality." in err


def test_dark_image_arrays_are_warned_about(caplog):
    """Walk 7: scikit-learn's digits (floats 0..16) were read as nearly black, silently."""
    from sklearn.datasets import load_digits

    from scarce.api import as_inputs

    images = list(load_digits().images[:4])
    with caplog.at_level("WARNING", logger="scarce"):
        as_inputs([im / 16.0 for im in images], "image")  # [0, 1] floats: the convention
        assert "nearly black" not in caplog.text
        as_inputs(images, "image")
    assert "brightest value in these image arrays is 16 (of 255)" in caplog.text


def _ctrl_c(*a, **k):
    raise KeyboardInterrupt


def _sigterm(*a, **k):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)  # the handler raises in this thread before the sleep ends


@pytest.mark.parametrize(
    ("stop", "code", "said"),
    [
        # click turned Ctrl-C into a silent exit 130; the user should hear what happened
        (_ctrl_c, 130, "interrupted; nothing was written"),
        # timeout, docker stop and a cancelled CI job send SIGTERM: it got no message (exit
        # 143 from the signal itself) and, mid-write, left the bundle's temporary file behind
        (_sigterm, 143, "terminated (SIGTERM); nothing was written"),
    ],
)
def test_an_interrupt_says_nothing_was_written(
    tmp_path, text_csv, capsys, monkeypatch, stop, code, said
):
    import scarce.api

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(scarce.api, "fit", stop)
    out = tmp_path / "m.scarce"
    got, _, err = run_cli(["fit", text_csv, "--out", out], capsys)
    assert got == code
    assert said in err
    assert not out.exists()
    assert signal.getsignal(signal.SIGTERM) == before  # restored for whoever called main


def test_an_interrupt_after_the_bundle_is_written_is_no_failure(
    tmp_path, text_csv, capsys, monkeypatch
):
    """Walk 39: a Ctrl-C just after `wrote m.scarce` exited 130 ("nothing was written")
    beside a complete bundle, which a script checking the code would throw away."""
    import scarce.cli.main as cli

    def ctrl_c(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_echo", ctrl_c)  # the summary, printed after the save
    out = tmp_path / "m.scarce"
    got, _, err = run_cli(["fit", text_csv, "--out", out], capsys)
    assert got == 0
    assert "interrupted after every output was written: they are complete" in err
    assert scarce.load(out).predict(["a text"]).shape == (1,)


def test_ctrl_c_on_serve_says_it_stopped(tmp_path, text_csv, capsys, monkeypatch):
    import scarce.serve

    bundle = tmp_path / "m.scarce"
    assert run_cli(["fit", text_csv, "--out", bundle, "--quiet"], capsys)[0] == 0

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(scarce.serve, "serve", interrupted)
    code, _, err = run_cli(["serve", bundle], capsys)
    assert code == 130
    assert err.strip().endswith("stopped")
    assert "nothing was written" not in err


def test_fit_summary_with_many_or_unequal_classes():
    """53 classes printed as 53 'name: n' pairs on one line of 1,000 characters; and an
    accuracy on data that is 77% one class needs that floor beside it."""
    from scarce.cli.main import _balanced, _counts_text, _majority

    assert _counts_text({"a": 5, "b": 5}) == "a: 5, b: 5"
    assert _counts_text({f"c{i}": 5 for i in range(53)}) == "53 classes, 5 each"
    many = {f"c{i}": 3 for i in range(19)} | {"libs": 200}
    assert _counts_text(many) == "20 classes, 3 (c0) to 200 (libs) each"
    assert _majority({"a": 5, "b": 5}) == ""
    assert _majority({"a": 8, "b": 8, "c": 7}) == ""  # equal classes, split unevenly
    assert _majority({"a": 1, "b": 2}) == "; always answering 'b' would score 0.667"
    assert _majority({"a": 9, "b": 7}) == "; always answering 'a' would score 0.562"
    assert _majority(many) == "; always answering 'libs' would score 0.778"
    # walk 17: beside a balanced accuracy, the floor in that metric (1 / classes)
    assert _majority(many, balanced=True) == "; always answering 'libs' would score 0.050"
    assert _balanced(0.7, 0.7002) == ""
    assert _balanced(0.865, 0.596) == ", balanced accuracy 0.596"
    assert _balanced(0.865, None) == ""


def test_walk15_layout_messages_say_what_to_do(tmp_path, image_folder, text_csv, capsys):
    """Walk 15: an image table with 'Path' was called tabular; a wrong --text-column offered
    the label column; an empty .txt asked for a header; an empty folder said no fix."""
    import pandas as pd

    rows = [
        f"{p.relative_to(tmp_path)},{p.parent.name}" for p in sorted(image_folder.rglob("*.png"))
    ]
    caps = tmp_path / "caps.csv"
    caps.write_text("Path,Label\n" + "\n".join(rows) + "\n")
    err = fit_fails(capsys, tmp_path, caps)
    assert "column 'Path' holds image files" in err
    assert "rename 'Path' to 'path'" in err
    assert "tabular" not in err
    renamed = tmp_path / "renamed.csv"
    pd.read_csv(text_csv).rename(columns={"text": "quote", "label": "topic"}).to_csv(
        renamed, index=False
    )
    err = fit_fails(capsys, tmp_path, renamed, "--text-column", "nope", "--label-column", "topic")
    assert "Did you mean 'quote'? Pass --text-column quote (Python: text_column='quote')." in err
    code, _, err = run_cli(["fit", text_csv, "--out", tmp_path / "m.scarce", "-q"], capsys)
    assert code == 0
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, _, err = run_cli(["predict", tmp_path / "m.scarce", empty], capsys)
    assert code == 2
    assert "the file is empty. Add one text per line." in err
    img = tmp_path / "img.scarce"
    assert run_cli(["fit", image_folder, "--out", img, "-q"], capsys)[0] == 0
    (tmp_path / "none").mkdir()
    code, _, err = run_cli(["predict", img, tmp_path / "none"], capsys)
    assert code == 2
    assert "Give image files (.jpg, .png, ...) or folders" in err
    # a refused batch names the escape hatch; with it, every image is there
    bad = tmp_path / "batch"
    shutil.copytree(image_folder / "tshirt", bad)
    (bad / "junk.png").write_bytes(b"not an image")
    code, _, err = run_cli(["predict", img, bad], capsys)
    assert code == 2
    assert "add --skip-bad" in err
    code, out, _ = run_cli(["predict", img, bad, "--skip-bad", "-q"], capsys)
    assert code == 0
    assert len(out.strip().splitlines()) == 1 + 7


def test_walk15_labels_that_print_alike(tmp_path, image_folder, capsys, caplog):
    """'café' as e + combining accent (macOS folder names) and as one character (a CSV) is
    one class; labels apart only by case or invisible characters are named as such."""
    import unicodedata

    from scarce.data.sources import load_labeled
    from scarce.data.validate import align_to

    nfd = unicodedata.normalize("NFD", "café")
    root = tmp_path / "nf"
    shutil.copytree(image_folder / "tshirt", root / nfd)
    shutil.copytree(image_folder / "trouser", root / "tea")
    shutil.copytree(image_folder / "sneaker", root / "__MACOSX")  # from a macOS zip: not a class
    train = load_labeled(root)
    assert train.classes == ("café", "tea")
    # spaces around a folder's name go, as around a table's label (walk 32); folders that
    # become one class say so
    shutil.copytree(image_folder / "sneaker", root / " tea ")
    spaced = load_labeled(root)
    assert spaced.classes == ("café", "tea")
    assert "the folders ' tea ', 'tea' are one class, 'tea'" in caplog.text
    shutil.rmtree(root / " tea ")
    assert train.classes[0] == unicodedata.normalize("NFC", "café")
    test = tmp_path / "test.csv"
    first = next((image_folder / "tshirt").iterdir())
    test.write_text(f"path,label\n{first},café\n{first},te\u200ba\n{first},TEA\n")
    with pytest.raises(DataError) as e:
        align_to(load_labeled(test), train.classes)
    assert (
        "'te\\u200ba' is not 'tea': they differ by invisible characters (U+200B ZERO WIDTH SPACE)"
        in str(e.value)
    )
    assert "'café'" not in str(e.value).split("are not in")[0]  # café itself is known
    assert "'TEA' is not 'tea': they differ in letter case" in str(e.value)


def test_walk15_a_flat_array_is_one_message():
    from sklearn.datasets import load_digits

    import scarce

    d = load_digits()
    with pytest.raises(DataError, match=r"^got one 2-D array of shape \(40, 64\)") as e:
        scarce.fit(d.data[:40], d.target[:40])
    assert "\n" not in str(e.value)


def test_walk15_a_knob_given_twice_is_refused(tmp_path, text_csv, capsys):
    err = fit_fails(capsys, tmp_path, text_csv, "--set", "C=0.5", "--set", "C=1")
    assert "--set C is given twice ('0.5' and '1')" in err


def test_walk15_labels_of_mixed_types_are_warned_about(caplog):
    from scarce.api import labeled_from_arrays

    with caplog.at_level("WARNING", logger="scarce"):
        ds = labeled_from_arrays(["a b", "c d", "e f", "g h"], [1, "1", "x", "x"], "text")
    assert ds.classes == ("1", "x")
    assert "labels mix numbers and strings (e.g. 1 and '1')" in caplog.text


def test_walk16_image_tables_and_hidden_folders(tmp_path, image_folder, text_csv, capsys, caplog):
    """A text model given an image table, an image model given 'Path', a table with text
    and image files; hidden folders are read by neither fit nor predict."""
    rows = [
        f"{p.relative_to(tmp_path)},{p.parent.name}" for p in sorted(image_folder.rglob("*.png"))
    ]
    caps = tmp_path / "caps.csv"
    caps.write_text("Path,Label\n" + "\n".join(rows) + "\n")
    both = tmp_path / "both.csv"
    both.write_text("text,file,label\n" + "".join(f"a note,{r}\n" for r in rows))
    # before any CLI call: its logging setup takes caplog's handler off the root logger
    with caplog.at_level("WARNING", logger="scarce"):
        from scarce.data.sources import detect_modality

        assert detect_modality(both) == "text"
    assert "rename 'file' to 'path' and pass --modality image" in caplog.text
    txt, img = tmp_path / "t.scarce", tmp_path / "i.scarce"
    assert run_cli(["fit", text_csv, "--out", txt, "-q"], capsys)[0] == 0
    code, _, err = run_cli(["predict", txt, caps], capsys)
    assert code == 2
    assert "column 'Path' holds image files, but this is a text model" in err
    hidden = image_folder / "tshirt" / ".thumbnails"
    hidden.mkdir()
    shutil.copy(next((image_folder / "trouser").iterdir()), hidden / "x.png")
    code, out, _ = run_cli(["fit", image_folder, "--out", img], capsys)
    assert code == 0
    assert "on 18 examples" in out
    code, out, err = run_cli(["predict", img, caps], capsys)
    assert code == 2
    assert "Column 'Path' holds image files: rename it to 'path'." in err
    code, out, _ = run_cli(["predict", img, image_folder, "-q"], capsys)
    assert len(out.strip().splitlines()) == 1 + 18  # not the hidden one
    err = fit_fails(capsys, tmp_path, both, "--modality", "image")
    assert "Column 'file' holds image files: rename it to 'path'." in err
    assert "drop --modality" not in err
    err = fit_fails(capsys, tmp_path, text_csv, "--set", "linear-probe.C=1")
    assert "write C=1 (no method prefix)" in err


def test_multi_label_data_is_refused_not_made_into_label_sets(tmp_path):
    """walk 19: lists as labels became classes named "['a', 'b']", and the fit exited 0."""
    texts = ["a recipe", "a court", "a bill", "a cake"] * 3
    tags = [["food", "law"], ["law"], ["law", "food"], ["food"]] * 3
    with pytest.raises(DataError, match=r"label 0 is list .* multi-label data"):
        scarce.fit(texts, tags, backbone="minilm-l3")
    rows = [json.dumps({"text": t, "label": g}) for t, g in zip(texts, tags, strict=True)]
    (tmp_path / "tags.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="row 1: the label in column 'label' is list"):
        scarce.fit(tmp_path / "tags.jsonl", backbone="minilm-l3")


def test_a_text_column_of_image_file_names_is_refused_unless_text_is_asked_for(
    tmp_path, image_folder, capsys
):
    """Walk 29: --text-column naming an image table's file column trained a text model on
    the names ('img/circle_003.png'), which scored 1.000 by reading the label off them."""
    import pandas as pd

    files = sorted(image_folder.glob("*/*.png"))
    table = image_folder / "t.csv"
    names = [str(f.relative_to(image_folder)) for f in files]
    pd.DataFrame({"file_path": names, "label": [f.parent.name for f in files]}).to_csv(
        table, index=False
    )
    err = fit_fails(capsys, tmp_path, table, "--text-column", "file_path")
    assert "column 'file_path' (--text-column) holds image file names, not texts" in err
    assert "rename 'file_path' to 'path'" in err
    assert "add --modality text" in err
    out = tmp_path / "names.scarce"
    args = ["fit", table, "--text-column", "file_path", "--modality", "text", "--out", out]
    assert run_cli([*args, "-q"], capsys)[0] == 0
    frame = pd.DataFrame({"file_path": names, "label": [f.parent.name for f in files]})
    with pytest.raises(DataError, match=r"\(text_column=\) holds image file names"):
        scarce.fit(frame, text_column="file_path")
