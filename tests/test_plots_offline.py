"""`dvc plots show` offline: the page DVC writes from the committed results carries Vega,
Vega-Lite and Vega-Embed inline (.dvc/plots/offline.html, built by dlrepro.plots_template), and
headless Chromium that can resolve no host name draws every interactive plot of it, where DVC's
own page (scripts from a CDN) draws none. A screenshot of the first screen is kept in
test-artifacts/."""

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dvc_render.html import PAGE_HTML

from dlrepro.plots_template import SCRIPTS, TEMPLATE, VENDOR, build

from .conftest import REPO
from .test_browser import ARTIFACTS, _chromium

# What `dvc plots show` reads: the plot definitions, their params, DVC's config naming the
# template, and the committed plot data.
NEEDED = ("dvc.yaml", "params.yaml", ".dvc/config", ".dvc/plots", "results", "paper/figures")
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND"  # no host resolves: no CDN, no network
# Runs after the charts are embedded: the pixels of each chart's canvas that have colour. Data
# marks are coloured; axes, grid and text are grey, so a chart without its data counts ~0.
PROBE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const coloured = (canvas) => {
    const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) {
      const rgb = [px[i], px[i + 1], px[i + 2]];
      if (px[i + 3] > 0 && Math.max(...rgb) - Math.min(...rgb) > 60) n++;
    }
    return n;
  };
  const report = {};
  for (const chart of document.querySelectorAll(".vega-embed")) {
    const canvas = chart.querySelector("canvas.marks");
    report[chart.id] = canvas ? coloured(canvas) : 0;
  }
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
}, 2000));
</script>"""


def test_committed_template_is_what_the_vendored_libraries_make():
    committed = (REPO / TEMPLATE).read_text(encoding="utf8")
    assert committed == build(REPO / VENDOR), "stale template: run `dlrepro plots-template`"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    for name in NEEDED:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, root / name)
    return root


def _plots_show(repo: Path, out: str, *args: str) -> Path:
    dvc = Path(sys.executable).parent / "dvc"
    command = [str(dvc), "plots", "show", "--out", out, *args]
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return repo / out / "index.html"


@pytest.fixture(scope="module")
def page(repo):
    return _plots_show(repo, "offline")


def _embedded(page: Path) -> list[str]:
    """The ids of the charts the page asks Vega-Embed to draw."""
    return re.findall(r"vegaEmbed\('#([^']+)'", page.read_text(encoding="utf8"))


def test_page_inlines_the_vega_libraries_and_loads_no_script(page):
    text = page.read_text(encoding="utf8")
    assert not re.search(r"<script[^>]*\ssrc\s*=", text)
    for name in SCRIPTS:
        assert (REPO / VENDOR / name).read_text(encoding="utf8") in text, name
    assert _embedded(page)


def _drawn(page: Path, profile: Path) -> dict[str, int]:
    """Coloured pixels per chart, as offline Chromium drew them."""
    # The last </body>: Vega-Embed's code holds one in a string.
    head, end, tail = page.read_text(encoding="utf8").rpartition("</body>")
    probed = page.with_name("probed.html")
    probed.write_text(head + PROBE + end + tail, encoding="utf8")
    dom = _chromium(
        OFFLINE, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri(), profile=profile
    ).stdout
    return json.loads(html.unescape(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)[1]))


def test_offline_chromium_draws_every_plot_where_dvcs_own_page_draws_none(repo, page, tmp_path):
    drawn = _drawn(page, tmp_path / "p1")
    assert sorted(drawn) == sorted(_embedded(page))
    assert all(pixels > 300 for pixels in drawn.values()), drawn

    # The control: DVC's default page loads the libraries from the CDN, so offline it is blank.
    (tmp_path / "cdn.html").write_text(PAGE_HTML)
    cdn = _plots_show(repo, "cdn", "--html-template", str(tmp_path / "cdn.html"))
    assert re.search(r'<script src="https://cdn\.jsdelivr\.net/npm/vega@', cdn.read_text())
    assert _drawn(cdn, tmp_path / "p2") == {}

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dvc-plots-offline.png"
    shot.unlink(missing_ok=True)
    _chromium(
        OFFLINE,
        "--virtual-time-budget=10000",
        f"--screenshot={shot}",
        page.as_uri(),
        profile=tmp_path / "p3",
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
