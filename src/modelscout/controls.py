"""Terminal control sequences taken out of outside strings (candidate ids, labels, reasons)
before they reach a terminal, a Markdown file or a log: ``\\x1b[31m`` or a bell in a model's
name must not drive the reader's terminal, whichever output shows it."""

from __future__ import annotations

import re

# Hand-written because neither rich nor the standard library strips escape sequences:
# ANSI CSI (colours, cursor moves), OSC (window titles, hyperlinks), other ESC sequences,
# then C0 and C1 control characters and DEL. Tab and newline are kept.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: ESC [ parameters intermediates final
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: ESC ] ... BEL or ESC \
    r"|\x1b[@-_]?"  # any other ESC sequence, or a lone ESC
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # C0 (but tab, newline), DEL, C1
)


def strip_controls(text: object) -> str:
    """``text`` as a string without terminal control sequences or control characters."""
    return _CONTROL.sub("", str(text))
