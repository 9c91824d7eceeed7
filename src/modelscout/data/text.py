"""Text data: a table's text column as ``TextInputs``."""

from __future__ import annotations

import logging

import pandas as pd

from modelscout.data.inputs import TextInputs

# Every text is cut to this many characters when read. The models cut inputs to at most a few
# thousand tokens (512 for most encoders; a token is 3 to 5 characters of English), so 20,000
# characters is well past what any of them reads, while one 10 MB cell (192 s and 2.2 GB for a
# baseline-only run before the cap) can no longer stall TF-IDF or the tokenizers.
MAX_TEXT_CHARS = 20_000

log = logging.getLogger(__name__)


def text_inputs(texts: pd.Series, where: str) -> tuple[TextInputs, int, list[str]]:
    """The texts (checked filled and strings) cut to ``MAX_TEXT_CHARS`` characters, how many
    were cut, and the note that says so."""
    long = texts.str.len() > MAX_TEXT_CHARS
    cut = int(long.sum())
    if not cut:
        return TextInputs(texts.tolist()), 0, []
    note = f"{cut} text(s) longer than {MAX_TEXT_CHARS:,} characters were cut to that length"
    log.warning("%s: %s", where, note)
    return TextInputs(texts.str.slice(0, MAX_TEXT_CHARS).tolist()), cut, [note]
