"""The paper without Quarto: the same sources, built with the two engines Quarto itself drives.

Quarto is the reference renderer (`quarto render paper`). Where it is not installed (it cannot
be, on machines that reach only package registries), `dlrepro render-paper` resolves what Quarto
would: `{{< include >}}` files, `{{< var >}}` values from _variables.yml, and cross-references
(@fig-, @tbl-, @sec-, numbered in order of appearance as Quarto numbers them, and [-@fig-] as
the number alone; left alone, pandoc would read them as citations). The result is one
pandoc-markdown file, rendered to
  paper/_render/index.html  by pandoc 3.9 (pypandoc-binary), with citeproc, figures embedded and
                            paper/paper.css;
  paper/_render/index.pdf   by pandoc's Typst writer and the `typst` compiler, with paper/paper.typ,
                            the document date set to none and only Typst's own fonts, so that
                            the same sources always give the same bytes.
Both pass through paper/tables.lua. The three files are the ones _quarto.yml names, so a reader
with Quarto sees the same tables.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from dlrepro.failures import StageFailure
from dlrepro.paper_assets import INCLUDE, LABELLED_FIGURE, VAR, variable

OUTPUT = "_render"
TABLES_FILTER = "tables.lua"
HTML_STYLE = "paper.css"
TYPST_STYLE = "paper.typ"
STYLE = (TABLES_FILTER, HTML_STYLE, TYPST_STYLE)
TABLE = re.compile(r"^::: \{#(?P<label>tbl-[\w-]+)\}\n(?P<body>.*?)\n:::$", re.S | re.M)
SECTION = re.compile(r"^# (?P<title>.+?) \{#(?P<id>sec-[\w-]+)\}$", re.M)
# A cross-reference as Quarto reads it: @fig-x ("Figure 3"), [@fig-x] (the same) or [-@fig-x]
# (the number alone, "3", for "Figures [-@fig-a]–[-@fig-b]").
REFERENCE = re.compile(
    r"\[(?P<suppress>-?)@(?P<bracketed>(?:fig|tbl|sec)-[\w-]+)\]|@(?P<bare>(?:fig|tbl|sec)-[\w-]+)"
)


class RenderError(StageFailure, RuntimeError):
    """The manuscript cannot be resolved; the message names what is missing."""


def expand_includes(text: str, folder: Path) -> str:
    def include(match: re.Match) -> str:
        path = folder / match.group(1)
        if not path.exists():
            raise RenderError(f"include {match.group(1)} is missing; run `dvc repro paper_assets`")
        return expand_includes(path.read_text(), path.parent).rstrip("\n")

    return INCLUDE.sub(include, text)


def fill_variables(text: str, variables: dict) -> str:
    def value(match: re.Match) -> str:
        found = variable(variables, match.group(1))
        if found is None:
            raise RenderError(f"var {match.group(1)!r} is not a value in _variables.yml")
        return str(found)

    return VAR.sub(value, text)


def number_references(text: str, figure_numbers: bool = True) -> str:
    """Number figures and tables in order of appearance, prefix their captions, and turn every
    @fig-/@tbl-/@sec- reference into a link carrying that number. `figure_numbers=False`
    leaves figure captions to an engine that numbers figures itself (Typst)."""
    labels = {}
    body = text.split("\n---\n", 1)[-1]  # sections are counted after the front matter
    numbered = [m for m in re.finditer(r"^# .+$", body, re.M) if ".unnumbered" not in m.group()]
    for number, heading in enumerate(numbered, start=1):
        if section := SECTION.match(heading.group()):
            labels[section["id"]] = f"Section {number}"
    for kind, pattern in (("Figure", LABELLED_FIGURE), ("Table", TABLE)):
        for number, match in enumerate(pattern.finditer(text), start=1):
            labels[match["label"]] = f"{kind} {number}"

    def figure(match: re.Match) -> str:
        caption = (
            f"{labels[match['label']]}: {match['caption']}" if figure_numbers else match["caption"]
        )
        return f"![{caption}]({match['path']}){{#{match['label']}}}"

    def table(match: re.Match) -> str:
        *content, caption = match["body"].rstrip().split("\n\n")
        captioned = f"**{labels[match['label']]}.** {caption}"
        return f"::: {{#{match['label']}}}\n" + "\n\n".join([*content, captioned]) + "\n:::"

    def reference(match: re.Match) -> str:
        label = match["bracketed"] or match["bare"]
        if label not in labels:
            raise RenderError(f"@{label} refers to no figure, table or section")
        shown = labels[label].split()[-1] if match["suppress"] else labels[label]
        return f"[{shown}](#{label})"

    text = TABLE.sub(table, LABELLED_FIGURE.sub(figure, text))
    return REFERENCE.sub(reference, text)


def _variables(paper: Path) -> dict:
    variables_file = paper / "_variables.yml"
    if not variables_file.exists():
        raise RenderError(f"{variables_file} is missing; run `dvc repro paper_assets`")
    return yaml.safe_load(variables_file.read_text())


def resolve(paper: Path, figure_numbers: bool = True) -> str:
    """index.qmd with includes, cross-references and vars resolved: plain pandoc markdown.
    Vars are filled last: a caption's source note holds a link, which the figure pattern
    would not read past."""
    text = expand_includes((paper / "index.qmd").read_text(), paper)
    return fill_variables(number_references(text, figure_numbers), _variables(paper))


def _pandoc(source: str, to: str, paper: Path, *extra: str) -> str:
    import pypandoc

    args = [
        "--standalone",
        "--number-sections",
        "--citeproc",
        f"--bibliography={paper / 'references.bib'}",
        f"--lua-filter={paper / TABLES_FILTER}",
    ]
    return pypandoc.convert_text(
        source, to, format="markdown", extra_args=[*args, f"--resource-path={paper}", *extra]
    )


def render_fallback(paper: Path) -> list[Path]:
    """paper/_render/index.html and index.pdf from the resolved manuscript."""
    import typst

    if missing := [name for name in STYLE if not (paper / name).exists()]:
        raise RenderError(f"{', '.join(missing)} missing from {paper}; restore it from git")
    out = paper / OUTPUT
    out.mkdir(exist_ok=True)
    source = resolve(paper)
    (out / "index.md").write_text(source)
    html = out / "index.html"
    # pandoc leaves out its own stylesheet when given one, unless document-css is set.
    style = (f"--css={paper / HTML_STYLE}", "--variable=document-css")
    html.write_text(_pandoc(source, "html5", paper, "--embed-resources", "--toc", *style))
    # Typst numbers figures itself, and resolves "/figures/..." against the root it is given.
    for_typst = resolve(paper, figure_numbers=False).replace("](figures/", "](/figures/")
    typ = _pandoc(for_typst, "typst", paper, f"--include-in-header={paper / TYPST_STYLE}")
    (out / "index.typ").write_text("#set document(date: none)\n" + typ)
    pdf = out / "index.pdf"
    typst.compile(
        str(out / "index.typ"), output=str(pdf), root=str(paper), ignore_system_fonts=True
    )
    return [html, pdf]


def render(paper: Path = Path("paper")) -> list[Path]:
    """Quarto when installed (the reference renderer), otherwise the pandoc + Typst fallback."""
    if shutil.which("quarto"):
        subprocess.run(["quarto", "render", str(paper)], check=True)
        return sorted((paper / OUTPUT).glob("index.*"))
    return render_fallback(paper)
