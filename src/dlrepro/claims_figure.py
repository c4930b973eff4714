"""The claims stage's verdicts as one picture: a forest plot of every claim (claims.json).

Claims compare accuracies, errors, BLEU, returns and episodes, so raw differences share no
axis. Each row shows the difference divided by its standard error (the t statistic, the
difference in the units its test judges it by) with the 95 % confidence interval scaled the
same way: the interval clears 0 exactly when the unscaled one does. Timing claims have no
standard error (one process's rounds, not seeds): a second panel shows their median ratio with
the range over rounds on a log axis. Claims with no interval (exact checks, censored measures,
the tuning questions) are listed as such.

    dlrepro claims-figure    results/claims/claims.json -> paper/figures/claims/forest.png
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
    import matplotlib.pyplot as plt

FIGURE = PAPER / "figures" / "claims" / "forest.png"
COLOURS = {"holds": "#1a9850", "fails": "#d73027", "inconclusive": "#808080"}
LINEAR_WITHIN = 10  # the t axis is linear within ±this, logarithmic beyond
ROW_HEIGHT = 0.24  # inches per row
LABEL_WIDTH = 95  # characters of a claim's text beside its row: the register's longest, qualified


def standard_error(record: claims.Claim) -> float | None:
    """The standard error of a claim's difference, recovered from its 95 % CI's half-width and
    the test's degrees of freedom; None where the claim has no interval."""
    if record["ci_low"] is None or record.get("df") is None:
        return None
    half_width = (record["ci_high"] - record["ci_low"]) / 2
    if half_width <= 0:
        return None
    return half_width / stats.t.ppf(1 - claims.ALPHA / 2, record["df"])


def _rows(
    records: list[claims.Claim],
) -> tuple[list[tuple[float, claims.Claim]], list[tuple[float, str]]]:
    """(y, record) per claim, sections in the report's order with a gap above each for its
    title, and (y, title) of those titles; y grows downwards."""
    rows, titles, y = [], [], 0.0
    for key, section in SECTIONS.items():
        chosen = [r for r in records if r["section"] == key]
        if not chosen:
            continue
        titles.append((y, section.title))
        y += 1
        for record in chosen:
            rows.append((y, record))
            y += 1
    return rows, titles


def _marker(ax: plt.Axes, x: float, y: float, record: claims.Claim, **transform) -> None:
    """Filled for the report's claims, hollow for our additions; coloured by verdict."""
    colour = COLOURS[record["verdict"]]
    face = colour if record["origin"] == "report" else "white"
    ax.plot(x, y, "o", color=colour, markerfacecolor=face, markersize=5, zorder=3, **transform)


def forest(records: list[claims.Claim]) -> plt.Figure:
    """The forest plot of `records` (claims.json): one labelled row per claim."""
    import matplotlib.transforms as transforms
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    rows, titles = _rows(records)
    n_rows = len(rows) + len(titles)
    fig, (scaled, timing) = subplots(
        2, width=13, height=ROW_HEIGHT * n_rows + 1.4, width_ratios=(3, 1), sharey=True
    )
    for ax in (scaled, timing):
        ax.axvline(1 if ax is timing else 0, color="black", linewidth=0.8)
        ax.grid(axis="x", color="0.9")
    # |t| runs from 0 to over 100: linear where verdicts turn (|t| near its critical value of 2
    # to 4), logarithmic beyond, so that small effects keep their width beside large ones.
    scaled.set_xscale("symlog", linthresh=LINEAR_WITHIN)
    timing.set_xscale("log")
    as_ratio = FuncFormatter(lambda value, _: f"×{value:g}")
    timing.xaxis.set_major_formatter(as_ratio)
    timing.xaxis.set_minor_formatter(as_ratio)
    timing.tick_params(axis="x", which="both", labelsize=7)
    scaled.set_title("claims tested on seeds", fontsize=9)
    timing.set_title("timing claims", fontsize=9)
    at_left = {
        "transform": transforms.blended_transform_factory(scaled.transAxes, scaled.transData)
    }
    for y, record in rows:
        colour = COLOURS[record["verdict"]]
        error = standard_error(record)
        if "ratio" in record:
            low, high = record["ratio"]["range"]
            timing.plot([low, high], [y, y], color=colour, linewidth=2)
            _marker(timing, record["ratio"]["median"], y, record)
        elif error is not None:
            low, high = record["ci_low"] / error, record["ci_high"] / error
            scaled.plot([low, high], [y, y], color=colour, linewidth=2)
            _marker(scaled, record["difference"] / error, y, record)
            if record["margin"] is not None:  # equivalence: the margin, scaled like the CI
                margin = record["margin"] / error
                scaled.plot([-margin, margin], [y, y], "|", color="black", markersize=7)
        else:
            _marker(scaled, 0.01, y, record, **at_left)
            scaled.text(
                0.025, y, f"no interval ({record['test']})", va="center", fontsize=7, **at_left
            )
    for y, title in titles:
        scaled.text(0.005, y, title, fontweight="bold", va="center", fontsize=8, **at_left)
    labels = [textwrap.shorten(record["says"], LABEL_WIDTH) for _, record in rows]
    scaled.set_yticks([y for y, _ in rows], labels, fontsize=7)
    scaled.set_ylim(n_rows - 0.5, -0.5)
    scaled.set_xlabel(
        "difference / its standard error (t), with the 95 % CI scaled alike\n"
        f"(linear within ±{LINEAR_WITHIN}, logarithmic beyond)"
    )
    timing.set_xlabel("time ratio:\nmedian, range over rounds")
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
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))
    return fig


def write() -> None:
    records = json.loads((claims.OUT / "claims.json").read_text())
    save_figure(forest(records), FIGURE)
    print(f"written {FIGURE}")
