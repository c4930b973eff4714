"""Pipe tables as every writer of the paper's includes and of the claims register sets them.

A cell's own text can hold a `|` (a check on "mean |second difference|"), which would end the
cell and push the rest of the row into the wrong columns: `row` escapes it in every cell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CODE_SPAN = re.compile(r"((?<!\\)`[^`]*`)")
"""Inline code: pandoc reads a `|` inside it as text, and shows a backslash before it as is."""


def cell(content: object) -> str:
    """`content` as one cell of a pipe table: every `|` outside inline code escaped."""
    parts = CODE_SPAN.split(str(content))
    # split() with a group: code spans at the odd positions, the text around them at the even
    return "".join(p if i % 2 else p.replace("|", "\\|") for i, p in enumerate(parts))


def row(cells: Iterable[object]) -> str:
    """One table row of these cells (`cell` each)."""
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def header(titles: Iterable[str], align: Iterable[str]) -> list[str]:
    """A table's header row and its alignment row (`---`, `---:`, ... per column)."""
    return [row(titles), "|" + "|".join(align) + "|"]


def literal(text: str) -> str:
    """Text shown as written (a generated sample), not read as markdown: emphasis and code
    marks escaped (a table cell escapes its pipes itself)."""
    return re.sub(r"([*_`])", r"\\\1", text)
