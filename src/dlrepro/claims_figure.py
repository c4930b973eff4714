"""The claims stage's verdicts as pictures: one forest plot per section (claims.json), shown in
the paper beside that section's claims table.

Claims compare accuracies, errors, BLEU, returns and episodes, so raw differences share no
axis. Each row shows the difference divided by its standard error (the t statistic, the
difference in the units its test judges it by) with the 95 % confidence interval scaled the
same way: the interval clears 0 exactly when the unscaled one does. Timing claims have no
standard error (one process's rounds, not seeds): a second panel, in the sections that have
them, shows their median ratio with the range over rounds on a log axis. Claims with no
interval (exact checks, censored measures, the tuning questions) are listed as such. Each row
is labelled with the claim's whole text, wrapped, never cut: two claims that differ only at
their end (the same statement for two networks) stay apart.

    dlrepro claims-figure    results/claims/claims.json -> paper/figures/claims/<section>.png
"""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING

from scipy import stats

from dlrepro import claims
from dlrepro.paths import PAPER
from dlrepro.results import save_figure, subplots
from dlrepro.sections import SECTIONS

if TYPE_CHECKING:
    from pathlib import Path

    import matplotlib.pyplot as plt

FIGURES = PAPER / "figures" / "claims"
COLOURS = {
    "holds": "#1a9850",
    "fails": "#d73027",
    "inconclusive": "#808080",
    claims.NOT_TESTABLE: "#c2a5cf",
}
LINEAR_WITHIN = 10  # the t axis is linear within ±this, logarithmic beyond
WIDTH = 8.5  # inches: set at the PDF's text width, its 10-point labels read at about 7 points
LABEL_CHARS = 50  # a label's line length, in characters, before it wraps
LINE_HEIGHT = 0.19  # inches per line of a row's label
ROW_PADDING = 0.12  # inches between rows
FONT = 10


def figure_path(section: str) -> Path:
    """Where a section's forest plot goes (a DVC output of stage claims_figure)."""
    return FIGURES / f"{section}.png"


def standard_error(record: claims.Claim) -> float | None:
    """The standard error of a claim's difference, recovered from its 95 % CI's half-width and
    the test's degrees of freedom; None where the claim has no interval."""
    if record["ci_low"] is None or record.get("df") is None:
        return None
    half_width = (record["ci_high"] - record["ci_low"]) / 2
    if half_width <= 0:
        return None
    return half_width / stats.t.ppf(1 - claims.ALPHA / 2, record["df"])


def label(record: claims.Claim) -> str:
    """The claim's whole text, wrapped to LABEL_CHARS; our additions marked."""
    says = record["says"] + (" (our addition)" if record["origin"] == "addition" else "")
    return textwrap.fill(says, LABEL_CHARS)


def _rows(records: list[claims.Claim]) -> tuple[list[tuple[float, claims.Claim]], float]:
    """(y in inches from the top, record) per claim, each row as tall as its wrapped label,
    and the height of them all."""
    rows, top = [], 0.0
    for record in records:
        height = LINE_HEIGHT * (label(record).count("\n") + 1) + ROW_PADDING
        rows.append((top + height / 2, record))
        top += height
    return rows, top


def _marker(ax: plt.Axes, x: float, y: float, record: claims.Claim, **transform) -> None:
    """Filled for the report's claims, hollow for our additions; coloured by verdict."""
    colour = COLOURS[record["verdict"]]
    face = colour if record["origin"] == "report" else "white"
    ax.plot(x, y, "o", color=colour, markerfacecolor=face, markersize=6, zorder=3, **transform)


def forest(records: list[claims.Claim], title: str) -> plt.Figure:
    """The forest plot of one section's `records` (claims.json), titled `title`: one row per
    claim, labelled with its text; a timing panel beside it when some claim is on timing."""
    import matplotlib.transforms as transforms
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    rows, height = _rows(records)
    timed = any("ratio" in record for record in records)
    fig, axes = subplots(
        2 if timed else 1,
        width=WIDTH,
        height=height + 2.4,
        sharey=True,
        **({"width_ratios": (3, 1)} if timed else {}),
    )
    scaled, timing = axes[0], axes[1] if timed else None
    scaled.axvline(0, color="black", linewidth=0.8)
    scaled.grid(axis="x", color="0.9")
    # |t| runs from 0 to over 100: linear where verdicts turn (|t| near its critical value of 2
    # to 4), logarithmic beyond, so that small effects keep their width beside large ones.
    scaled.set_xscale("symlog", linthresh=LINEAR_WITHIN)
    scaled.tick_params(labelsize=FONT - 1)
    at_left = {
        "transform": transforms.blended_transform_factory(scaled.transAxes, scaled.transData)
    }
    if timing is not None:
        timing.axvline(1, color="black", linewidth=0.8)
        timing.grid(axis="x", color="0.9")
        timing.set_xscale("log")
        as_ratio = FuncFormatter(lambda value, _: f"×{value:g}")
        timing.xaxis.set_major_formatter(as_ratio)
        timing.xaxis.set_minor_formatter(as_ratio)
        timing.tick_params(axis="x", which="both", labelsize=FONT - 2)
        scaled.set_title("claims tested on seeds", fontsize=FONT)
        timing.set_title("timing claims", fontsize=FONT)
        timing.set_xlabel("time ratio:\nmedian, range over rounds", fontsize=FONT)
    for y, record in rows:
        colour = COLOURS[record["verdict"]]
        error = standard_error(record)
        if "ratio" in record and timing is not None:
            low, high = record["ratio"]["range"]
            timing.plot([low, high], [y, y], color=colour, linewidth=2)
            _marker(timing, record["ratio"]["median"], y, record)
        elif error is not None:
            low, high = record["ci_low"] / error, record["ci_high"] / error
            scaled.plot([low, high], [y, y], color=colour, linewidth=2)
            _marker(scaled, record["difference"] / error, y, record)
            if record["margin"] is not None:  # equivalence: the margin, scaled like the CI
                margin = record["margin"] / error
                scaled.plot([-margin, margin], [y, y], "|", color="black", markersize=8)
        else:
            _marker(scaled, 0.015, y, record, **at_left)
            scaled.text(
                0.035,
                y,
                f"no interval ({record['test']})",
                va="center",
                fontsize=FONT - 1,
                **at_left,
            )
    scaled.set_yticks([y for y, _ in rows], [label(record) for _, record in rows])
    scaled.tick_params(axis="y", labelsize=FONT)
    scaled.set_ylim(height, 0)
    scaled.set_xlabel(
        "t = the difference / its standard error,\n95 % CI scaled alike\n"
        f"(linear within ±{LINEAR_WITHIN}, log beyond)",
        fontsize=FONT,
    )
    handles = [
        Line2D([], [], color=colour, marker="o", linewidth=2, label=verdict)
        for verdict, colour in COLOURS.items()
    ]
    handles += [
        Line2D([], [], color="black", marker="o", linestyle="", label="the report's claim"),
        Line2D(
            [],
            [],
            color="black",
            marker="o",
            markerfacecolor="white",
            linestyle="",
            label="our addition",
        ),
        Line2D([], [], color="black", marker="|", linestyle="", label="± equivalence margin"),
    ]
    fig.suptitle(title, fontsize=FONT + 2, fontweight="bold")
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - 0.45 / fig.get_figheight()),
        ncol=4,
        fontsize=FONT - 1,
        frameon=False,
        title="verdict (false discovery rate 5 %, Benjamini-Hochberg)",
        title_fontsize=FONT - 1,
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 1.0 / fig.get_figheight()))
    return fig


def figures(records: list[claims.Claim]) -> dict[str, plt.Figure]:
    """A forest plot per section whose claims table the paper shows and that has claims, keyed
    by section, titled as the section (the tuning questions have no interval to draw)."""
    return {
        key: forest(chosen, f"{section.title}: the claims checked")
        for key, section in SECTIONS.items()
        if section.claims_in_paper and (chosen := [r for r in records if r["section"] == key])
    }


def write() -> None:
    records = json.loads((claims.OUT / "claims.json").read_text())
    for key, fig in figures(records).items():
        save_figure(fig, figure_path(key))
        print(f"written {figure_path(key)}")
