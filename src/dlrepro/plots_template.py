"""The HTML template `dvc plots show|diff` fills (`plots.html_template` in .dvc/config).

DVC's own page loads Vega, Vega-Lite and Vega-Embed from cdn.jsdelivr.net, so without internet
every interactive plot is blank. DVC substitutes only `{plot_divs}`, `{refresh_tag}` and
`{scripts}` (the CDN tags, which this template leaves out), so the libraries must be in the
template file itself: this module inlines the copies vendored under .dvc/plots/vendor/, and
tests/test_plots_offline.py checks that the committed template is what it writes.
"""

from __future__ import annotations

from pathlib import Path

PLOTS = Path(".dvc/plots")
TEMPLATE = PLOTS / "offline.html"
VENDOR = PLOTS / "vendor"
# In load order: Vega-Lite needs Vega, Vega-Embed needs both.
SCRIPTS = ("vega/vega.min.js", "vega-lite/vega-lite.min.js", "vega-embed/vega-embed.min.js")
# dvc_render's HTML.embed replaces these anywhere in the page, inlined scripts included.
PLACEHOLDERS = ("{scripts}", "{plot_divs}", "{refresh_tag}")

# DVC's default page (dvc_render.html.PAGE_HTML) with a charset, since the libraries hold
# non-ASCII text and the page is opened from disk.
HEAD = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC Plot</title>
"""
TAIL = """    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


class PlotsTemplateError(ValueError):
    """A vendored library that cannot be inlined as it is."""


def build(vendor: Path = VENDOR) -> str:
    """The template page with every vendored library inlined, in load order."""
    inlined = []
    for name in SCRIPTS:
        source = (vendor / name).read_text(encoding="utf8")
        if "</script" in source.lower():
            raise PlotsTemplateError(f"{vendor / name} contains '</script', which ends inlining")
        found = [p for p in PLACEHOLDERS if p in source]
        if found:
            raise PlotsTemplateError(f"{vendor / name} contains {found[0]}, which DVC replaces")
        inlined.append(f"    <!-- {name} -->\n    <script>\n{source}\n    </script>\n")
    return HEAD + "".join(inlined) + TAIL


def write(template: Path = TEMPLATE, vendor: Path = VENDOR) -> Path:
    template.write_text(build(vendor), encoding="utf8")
    return template
