"""The Quarto-free build of the paper: vars, includes and cross-references resolved, then HTML
(pandoc) and PDF (Typst), byte-identical when rebuilt."""

from __future__ import annotations

import shutil
import struct
import zlib

import pytest

from dlrepro.render import STYLE, RenderError, render_fallback, resolve

from .conftest import REPO

MANUSCRIPT = """---
title: "A tiny paper"
---

# Results {#sec-results}

The accuracy is {{< var s1.acc >}} [@report]; see @tbl-acc and @fig-curve, and @sec-method.

::: {#tbl-acc}
{{< include generated/acc.md >}}

Accuracy per run. Stage `s1_train`.
:::

![A curve. Stage `s1_figures`.](figures/curve.png){#fig-curve}

# Method {#sec-method}

Nothing else.

# References {.unnumbered}
"""


def png(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80\x20\x20" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def paper(tmp_path):
    folder = tmp_path / "paper"
    (folder / "generated").mkdir(parents=True)
    (folder / "figures").mkdir()
    (folder / "index.qmd").write_text(MANUSCRIPT)
    (folder / "_variables.yml").write_text("s1:\n  acc: '0.91 ± 0.01'\n")
    (folder / "generated" / "acc.md").write_text("| Run | Acc. |\n|---|---:|\n| base | 0.91 |\n")
    (folder / "figures" / "curve.png").write_bytes(png())
    (folder / "references.bib").write_text(
        "@misc{report, title = {The report}, author = {Someone}, year = {2025}}\n"
    )
    for name in STYLE:
        shutil.copy(REPO / "paper" / name, folder / name)
    return folder


def test_resolve_fills_vars_includes_and_numbers_cross_references(paper):
    text = resolve(paper)
    assert "0.91 ± 0.01 [@report]" in text  # citations stay for citeproc
    assert "[Table 1](#tbl-acc)" in text and "[Figure 1](#fig-curve)" in text
    assert "[Section 2](#sec-method)" in text
    assert "| base | 0.91 |" in text and "**Table 1.** Accuracy per run." in text
    assert "![Figure 1: A curve." in text
    assert "{{<" not in text and "@tbl" not in text and "@fig" not in text


def test_a_reference_in_brackets_reads_as_quarto_reads_it(paper):
    """[-@fig-x] is the number alone (Quarto's suppressed prefix), [@fig-x] the full label;
    a bracketed citation stays for citeproc."""
    text = MANUSCRIPT.replace(
        "see @tbl-acc and @fig-curve", "see Tables [-@tbl-acc]–[-@tbl-acc], [@fig-curve]"
    )
    (paper / "index.qmd").write_text(text)
    resolved = resolve(paper)
    assert "see Tables [1](#tbl-acc)–[1](#tbl-acc), [Figure 1](#fig-curve)" in resolved
    assert "[@report]" in resolved and "[-" not in resolved
    page = render_fallback(paper)[0].read_text()
    assert 'Tables <a href="#tbl-acc">1</a>–<a href="#tbl-acc">1</a>' in page


def test_missing_value_or_reference_is_named(paper):
    (paper / "_variables.yml").write_text("s1: {}\n")
    with pytest.raises(RenderError, match=r"var 's1\.acc'"):
        resolve(paper)
    (paper / "_variables.yml").write_text("s1: {acc: 1}\n")
    (paper / "index.qmd").write_text(MANUSCRIPT.replace("@sec-method", "@sec-nowhere"))
    with pytest.raises(RenderError, match="@sec-nowhere"):
        resolve(paper)


def test_missing_stylesheet_is_named(paper):
    (paper / "paper.css").unlink()
    with pytest.raises(RenderError, match=r"paper\.css missing"):
        render_fallback(paper)


def test_fallback_writes_html_and_a_reproducible_pdf(paper, tmp_path):
    html, pdf = render_fallback(paper)
    page = html.read_text()
    assert "0.91 ± 0.01" in page and "<table" in page and "data:image/png;base64" in page
    assert "Someone. 2025." in page  # the bibliography, from citeproc
    assert pdf.read_bytes().startswith(b"%PDF")
    first = pdf.read_bytes()
    shutil.rmtree(paper / "_render")
    assert render_fallback(paper)[1].read_bytes() == first
