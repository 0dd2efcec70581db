"""The report in a real headless browser (Debian's chromium): a screenshot that is not blank, and no
horizontal overflow at 1280 px, for a run page full of long and hostile values and for the index."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from crm_ops.report import render_index, render_run
from tests.report_sample import sample_run

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs it with apt where it can)"
)
MEASURE = """<script>addEventListener("load", () => {
  const m = document.createElement("pre"); m.id = "measure";
  m.textContent = JSON.stringify({scroll: document.documentElement.scrollWidth,
                                  client: document.documentElement.clientWidth,
                                  height: document.documentElement.scrollHeight});
  document.body.appendChild(m);
});</script>"""


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _pixels(png: bytes) -> list[int]:
    """The grey levels of a PNG's pixels (8-bit RGB or RGBA, as chromium writes them)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    channels = 4
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        data = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, colour = struct.unpack(">IIBB", data[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 4 if colour == 6 else 3
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for start in range(0, len(raw), stride + 1):
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return [sum(row[i : i + 3]) // 3 for row in rows for i in range(0, stride, channels)]


def _check(page: str, folder: Path, name: str) -> Path:
    path = folder / f"{name}.html"
    path.write_text(page)
    shot = folder / f"{name}.png"
    done = _chromium("--window-size=1280,1600", "--force-device-scale-factor=0.25", f"--screenshot={shot}",
                     path.as_uri())  # fmt: skip
    assert shot.exists(), done.stderr
    grey = _pixels(shot.read_bytes())
    mean = sum(grey) / len(grey)
    variance = sum((g - mean) ** 2 for g in grey) / len(grey)
    assert variance > 50, f"{name}: the screenshot is blank (variance {variance:.1f})"
    assert sum(g < 128 for g in grey) > 0.005 * len(grey), f"{name}: hardly any text drawn"
    measured = folder / f"{name}-measured.html"
    measured.write_text(page.replace("</body>", MEASURE + "</body>"))  # the report itself has no script
    dom = _chromium("--window-size=1280,900", "--dump-dom", measured.as_uri()).stdout
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom)
    assert found, dom[-500:]
    size = json.loads(found.group(1).replace("&quot;", '"'))
    assert size["client"] == 1280
    assert size["scroll"] <= 1280, f"{name}: the page overflows sideways ({size['scroll']} px wide at 1280)"
    return shot


@needs_chromium
def test_the_run_report_reads_in_a_browser(tmp_path: Path) -> None:
    _check(render_run(sample_run()), tmp_path, "report")


@needs_chromium
def test_the_run_index_reads_in_a_browser(tmp_path: Path) -> None:
    _check(render_index("prod", sample_run().history), tmp_path, "index")


@needs_chromium
def test_the_check_catches_an_overflowing_page(tmp_path: Path) -> None:
    """The measure is real: a page with a 2000 px wide element fails it."""
    wide = render_run(sample_run()).replace("</body>", "<div style='width:2000px'>wide</div></body>")
    with pytest.raises(AssertionError, match="overflows sideways"):
        _check(wide, tmp_path, "wide")


BARS = """<script>addEventListener("load", () => {
  const m = document.createElement("pre"); m.id = "bars";
  m.textContent = JSON.stringify([...document.querySelectorAll(".bar")].map(
    b => [b.className, Math.round(b.getBoundingClientRect().width)]));
  document.body.appendChild(m);
});</script>"""


@needs_chromium
def test_a_merges_waterfall_draws_its_bars_in_a_browser(tmp_path: Path) -> None:
    """The waterfall of why a merge's records match (issue 28): one bar per term, drawn, the widest
    (the prior's, -13.29) the longest, the null field's none."""
    page = render_run(sample_run())
    assert "Why the merges match" in page
    path = tmp_path / "bars.html"
    path.write_text(page.replace("</body>", BARS + "</body>"))
    dom = _chromium("--window-size=1280,900", "--dump-dom", path.as_uri()).stdout
    found = re.search(r'<pre id="bars">(.*?)</pre>', dom)
    assert found, dom[-500:]
    bars = json.loads(found.group(1).replace("&quot;", '"'))
    assert [kind for kind, _ in bars] == ["bar neg", "bar pos", "bar neg", "bar pos", "bar pos"]
    widths = [width for _, width in bars]
    assert widths[0] == max(widths) > 0 and widths[1] > widths[3] > 0 and widths[-1] == 0
