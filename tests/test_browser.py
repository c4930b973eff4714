"""The rendered paper as a reader sees it: headless Chromium (Debian's `chromium`) opens the
HTML built from the committed assets, and every table and figure must be laid out, the figures
decoded, and each table show the reproduced values of its generated source. A screenshot of the
first screen is kept in test-artifacts/."""

import html
import json
import re
import shutil
import subprocess

import pytest

from dlrepro.paper_assets import labelled_assets
from dlrepro.render import render_fallback

from .conftest import REPO

ARTIFACTS = REPO / "test-artifacts"
# Runs after load: what the layout engine made of every table and figure, as JSON in the DOM.
PROBE = """<script>
window.addEventListener("load", () => {
  const shown = (el) => {
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden";
  };
  const report = {
    tables: [...document.querySelectorAll("div[id^=tbl-] table")].map((t) => ({
      id: t.closest("div[id^=tbl-]").id, shown: shown(t), text: t.innerText })),
    figures: [...document.querySelectorAll("figure[id^=fig-] img")].map((img) => ({
      id: img.closest("figure").id, shown: shown(img),
      decoded: img.complete && img.naturalWidth > 0 })),
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
});
</script>"""
NUMBER_CELL = re.compile(r"^[\d.,±+\-−%/ ]*\d[\d.,±+\-−%/ ]*$")


def _chromium(*args: str, profile) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("no headless Chromium (apt-get install chromium); .ci/run installs it")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        f"--user-data-dir={profile}",
        "--window-size=1280,1600",
    ]
    return subprocess.run(
        [browser, *flags, *args], capture_output=True, text=True, timeout=120, check=True
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    paper = tmp_path_factory.mktemp("paper") / "paper"
    shutil.copytree(REPO / "paper", paper, ignore=shutil.ignore_patterns("_render"))
    page = render_fallback(paper)[0]
    return paper, page


def _numeric_cells(markdown: str) -> list[str]:
    cells = []
    for line in markdown.splitlines()[2:]:  # past the header and the alignment row
        cells += [c.strip().strip("*") for c in line.strip("|").split("|")]
    return [c for c in cells if NUMBER_CELL.match(c)]


def test_tables_and_figures_are_visible_with_the_reproduced_values(rendered, tmp_path):
    paper, page = rendered
    probed = page.with_name("probed.html")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = _chromium(
        "--virtual-time-budget=10000", "--dump-dom", probed.as_uri(), profile=tmp_path / "p1"
    ).stdout
    report = json.loads(html.unescape(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)[1]))

    assets = labelled_assets(paper)
    tables = {t["id"]: t for t in report["tables"]}
    figures = {f["id"]: f for f in report["figures"]}
    assert set(tables) == {label for label in assets if label.startswith("tbl-")}
    assert set(figures) == {label for label in assets if label.startswith("fig-")}
    assert all(f["shown"] and f["decoded"] for f in figures.values()), figures
    for label, table in tables.items():
        assert table["shown"], label
        source = assets[label][0].read_text()
        for cell in _numeric_cells(source):
            assert cell in table["text"], f"{label}: {cell!r} not shown"


def test_first_screen_screenshot_is_kept(rendered, tmp_path):
    _, page = rendered
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "paper-first-screen.png"
    shot.unlink(missing_ok=True)
    _chromium(f"--screenshot={shot}", page.as_uri(), profile=tmp_path / "p2")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
