"""The rendered paper as a reader sees it. Headless Chromium (Debian's `chromium`) opens the HTML
built from the committed assets: every table and figure must be laid out, the figures decoded,
each table show the reproduced values of its generated source, no number cell wrap over lines,
and the sections carry the report's numbers. The PDF, read by poppler (`pdftotext`, `pdftoppm`),
must show every number unbroken and the same section numbers. Screenshots of the first screen,
Section 1's table and its claims figure, in the HTML and as PDF pages, are kept in
test-artifacts/ (git-ignored) for a person to look at."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dlrepro.paper_assets import labelled_assets
from dlrepro.render import render_fallback

from .conftest import REPO

ARTIFACTS = REPO / "test-artifacts"
# What the screenshots show besides the first screen: Section 1's table and its claims figure.
SHOWN = ("tbl-s1", "fig-s1-claims")
# A table cell that is a number: digits with signs, separators, brackets and exponents, as
# "0.828 ± 0.016", "-0.044 [-0.0589, -0.0291]", "8.58e-05 (0.00352)" or "×2.76 (2.1–2.97)".
NUMBER_CELL = r"^[\d.,±+\-−–×%/\se\[\]()]*\d[\d.,±+\-−–×%/\se\[\]()]*$"
# Runs after load: what the layout engine made of every table, figure, number cell and section
# heading, as JSON in the DOM. A number cell is on one line when its text is less than two
# font sizes high (two lines are more than 2.3).
PROBE = """<script>
window.addEventListener("load", () => {
  const shown = (el) => {
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden";
  };
  const lines = (cell) => {
    const text = document.createRange();
    text.selectNodeContents(cell);
    return text.getBoundingClientRect().height / parseFloat(getComputedStyle(cell).fontSize);
  };
  const number = new RegExp(NUMBER_CELL);
  const report = {
    tables: [...document.querySelectorAll("div[id^=tbl-] table")].map((t) => ({
      id: t.closest("div[id^=tbl-]").id, shown: shown(t), text: t.innerText })),
    figures: [...document.querySelectorAll("figure[id^=fig-] img")].map((img) => ({
      id: img.closest("figure").id, shown: shown(img),
      decoded: img.complete && img.naturalWidth > 0 })),
    numbers: [...document.querySelectorAll("div[id^=tbl-] td")]
      .filter((td) => number.test(td.innerText.trim()))
      .map((td) => ({ id: td.closest("div[id^=tbl-]").id, text: td.innerText,
                      height: lines(td) })),
    sections: [...document.querySelectorAll("h1[id^=sec-]")].map((h) => ({
      id: h.id, number: h.dataset.number,
      title: h.innerText.replace(/^\\S+\\s+/, "") })),
    abstract: [...document.querySelectorAll("div.abstract")].map((a) => ({
      bottom: a.getBoundingClientRect().bottom, text: a.innerText })),
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
});
</script>""".replace("NUMBER_CELL", json.dumps(NUMBER_CELL))
# Runs after load: hides everything before the element the page's #fragment names, so that it
# heads the first screen, laid out as it is in place (Chromium's --screenshot does not scroll).
FOCUS = """<script>
window.addEventListener("load", () => {
  for (let el = document.getElementById(location.hash.slice(1)); el !== document.body;
       el = el.parentElement) {
    for (let before = el.previousElementSibling; before; before = before.previousElementSibling)
      before.style.display = "none";
  }
});
</script>"""


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


def _poppler(tool: str, *args: str) -> str:
    if shutil.which(tool) is None:
        pytest.skip(f"no {tool} (apt-get install poppler-utils); `make system-deps` installs it")
    return subprocess.run(
        [tool, *args], capture_output=True, text=True, timeout=120, check=True
    ).stdout


def _with_script(page: Path, name: str, script: str) -> Path:
    copy = page.with_name(name)
    copy.write_text(page.read_text().replace("</body>", script + "</body>"))
    return copy


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    shot.unlink(missing_ok=True)
    return shot


def _is_png(shot: Path) -> bool:
    return shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    paper = tmp_path_factory.mktemp("paper") / "paper"
    shutil.copytree(REPO / "paper", paper, ignore=shutil.ignore_patterns("_render"))
    page, pdf = render_fallback(paper)
    return paper, page, pdf


@pytest.fixture(scope="module")
def probed(rendered, tmp_path_factory) -> dict:
    """The probe's report on the rendered HTML."""
    _, page, _ = rendered
    dom = _chromium(
        "--virtual-time-budget=10000",
        "--dump-dom",
        _with_script(page, "probed.html", PROBE).as_uri(),
        profile=tmp_path_factory.mktemp("chromium"),
    ).stdout
    return json.loads(html.unescape(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)[1]))


def _unbroken(text: str) -> str:
    """A number as the reader reads it: Typst sets "-" before a digit as "−", and tables.lua
    joins a number's parts with non-breaking spaces."""
    return text.replace("\u2212", "-").replace("\xa0", " ")


def _numeric_cells(markdown: str) -> list[str]:
    cells = []
    for line in markdown.splitlines()[2:]:  # past the header and the alignment row
        cells += [c.strip().strip("*") for c in line.strip("|").split("|")]
    return [c for c in cells if re.match(NUMBER_CELL, c)]


def test_tables_and_figures_are_visible_with_the_reproduced_values(rendered, probed):
    paper, _, _ = rendered
    assets = labelled_assets(paper)
    tables = {t["id"]: t for t in probed["tables"]}
    figures = {f["id"]: f for f in probed["figures"]}
    assert set(tables) == {label for label in assets if label.startswith("tbl-")}
    assert set(figures) == {label for label in assets if label.startswith("fig-")}
    assert all(f["shown"] and f["decoded"] for f in figures.values()), figures
    for label, table in tables.items():
        assert table["shown"], label
        source = assets[label][0].read_text()
        for cell in _numeric_cells(source):
            assert cell in _unbroken(table["text"]), f"{label}: {cell!r} not shown"


def test_the_first_screen_shows_the_verdict_counts(probed):
    """The abstract, under the title and above the contents, gives the headline and Holm's
    counts of the report's claims as the claims stage tallied them."""
    summary = json.loads((REPO / "results" / "claims" / "summary.json").read_text())
    (abstract,) = probed["abstract"]
    assert abstract["bottom"] < 800  # on a laptop's first screen
    counts, holm = summary["all"], summary["holm"]["all"]
    text = " ".join(abstract["text"].split())
    assert f"{counts['holds']} hold, {counts['fails']} fail" in text
    assert f"{holm['holds']} hold and {holm['fails']} fail" in text


def test_no_number_wraps_in_the_html(probed):
    numbers = probed["numbers"]
    assert len(numbers) > 300  # every table's numbers, not a few
    wrapped = [cell for cell in numbers if cell["height"] >= 2]
    assert not wrapped, wrapped


def test_no_number_breaks_in_the_pdf(rendered):
    paper, _, pdf = rendered
    text = _unbroken(_poppler("pdftotext", str(pdf), "-"))
    cells = [
        cell
        for label, (source, *_) in labelled_assets(paper).items()
        if label.startswith("tbl-")
        for cell in _numeric_cells(source.read_text())
    ]
    assert len(cells) > 300
    broken = [cell for cell in cells if _unbroken(cell) not in text]
    assert not broken, broken


def test_sections_carry_the_reports_numbers_in_html_and_pdf(rendered, probed):
    _, _, pdf = rendered
    report = {s["id"]: s for s in probed["sections"] if re.fullmatch(r"sec-s\d", s["id"])}
    assert sorted(report) == [f"sec-s{n}" for n in range(1, 7)]
    text = _poppler("pdftotext", str(pdf), "-")
    for label, section in report.items():
        number = label.removeprefix("sec-s")
        assert section["number"] == number, section
        first_words = r"\s+".join(map(re.escape, section["title"].split()[:2]))
        assert re.search(rf"^{number}\s+{first_words}", text, re.M), section


def test_first_screen_table_and_claims_figure_screenshots_are_kept(rendered, tmp_path):
    _, page, _ = rendered
    shot = _artifact("paper-first-screen.png")
    _chromium(f"--screenshot={shot}", page.as_uri(), profile=tmp_path / "first")
    assert _is_png(shot)
    focused = _with_script(page, "focused.html", FOCUS)
    for label in SHOWN:
        shot = _artifact(f"paper-{label}.png")
        _chromium(
            "--virtual-time-budget=5000",
            f"--screenshot={shot}",
            f"{focused.as_uri()}#{label}",
            profile=tmp_path / label,
        )
        assert _is_png(shot), label


def _caption(resolved: str, label: str) -> str:
    """'Table 2.' or 'Figure 1:' as the paper numbers the label (Typst numbers figures in the
    same order)."""
    if label.startswith("tbl-"):
        return re.search(rf"::: \{{#{label}\}}.*?\*\*(Table \d+\.)\*\*", resolved, re.S)[1]
    return re.search(rf"!\[(Figure \d+:)[^\n]*(?:\n[^\n]+)*?\{{#{label}\}}", resolved)[1]


def test_pdf_pages_of_the_first_screen_table_and_claims_figure_are_kept(rendered):
    paper, _, pdf = rendered
    pages = _poppler("pdftotext", str(pdf), "-").split("\f")
    resolved = (paper / "_render" / "index.md").read_text()
    wanted = {"first-page": 1}
    for label in SHOWN:
        caption = _caption(resolved, label)
        holding = [n for n, text in enumerate(pages, start=1) if caption in text]
        assert holding, f"{caption} ({label}) is on no page"
        wanted[label] = holding[0]
    for name, number in wanted.items():
        shot = _artifact(f"paper-pdf-{name}.png")
        stem = str(shot.with_suffix(""))
        _poppler(
            "pdftoppm",
            "-f",
            f"{number}",
            "-l",
            f"{number}",
            "-r",
            "100",
            "-png",
            "-singlefile",
            str(pdf),
            stem,
        )
        assert _is_png(shot), name
