"""Render a results.json to HTML and screenshot it with headless Chromium, to look at.

    python scripts/screenshot_report.py results.json report.png [--html report.html]

Chromium only shows the window, so a tall window (--height) is what captures a long page.
Console messages (none are expected: the report has no script) are printed to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",  # needed as root; the page is our own local file
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # every console message of the page goes to stderr as "...:CONSOLE:<line>] "msg", ..."
    "--enable-logging=stderr",
    "--v=0",
]
# older builds write CONSOLE(12), newer CONSOLE:12; the level is always INFO, so any
# console line counts
CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\]\s*(.*)$")


def find_chromium() -> str:
    """The Chromium binary, or a RuntimeError saying how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("no chromium found: install it with `apt-get install chromium`")


def screenshot(
    html: Path, png: Path, *, width: int = 1280, height: int = 4000, timeout: float = 60
) -> list[str]:
    """Screenshot `html` into `png`; return the page's console messages (empty = clean)."""
    html, png = Path(html).resolve(), Path(png).resolve()
    with tempfile.TemporaryDirectory(prefix="scarce-chromium-") as profile:
        cmd = [
            find_chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={png}",
            html.as_uri(),
        ]
        # own process group: on a timeout the renderer and GPU children go too
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise RuntimeError(f"chromium took over {timeout:g} s on {html}") from None
    if proc.returncode != 0 or not png.is_file():
        tail = "\n".join(err.splitlines()[-20:])
        raise RuntimeError(f"chromium failed (exit {proc.returncode}) on {html}:\n{tail}")
    return [m.group(1) for line in err.splitlines() if (m := CONSOLE.search(line))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="results.json written by `scarce eval`")
    ap.add_argument("png", type=Path, help="screenshot to write")
    ap.add_argument("--html", type=Path, help="keep the HTML here (default: a temporary file)")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=4000)
    a = ap.parse_args(argv)

    from scarce.report import write_report

    with tempfile.TemporaryDirectory(prefix="scarce-report-") as tmp:
        html = write_report(a.results, a.html or Path(tmp) / "report.html")
        console = screenshot(html, a.png, width=a.width, height=a.height)
    for line in console:
        print(f"console: {line}", file=sys.stderr)
    print(f"wrote {a.png}" + (f" and {a.html}" if a.html else ""))
    return 1 if console else 0


if __name__ == "__main__":
    sys.exit(main())
