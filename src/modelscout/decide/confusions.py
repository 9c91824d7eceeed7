"""The most confused class pairs of a candidate, in sentences, with example inputs.

The probe's breakdown (``measure/probe/classification.py``, ``confused_pairs``) records for
the most frequent (true, predicted) mistakes their count and a few row indices of the sample;
this module turns them into what the reports show: "X is taken for Y in N of its M rows", and
the inputs of those rows (image file paths, or texts cut to ``EXAMPLE_CHARS`` characters).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelscout import metrics
from modelscout.decide.records import Confusion, Row

EXAMPLE_CHARS = 200  # a text example is cut to this many characters, the ellipsis included


def confusion_sentence(true: str, predicted: str, count: int, class_rows: int) -> str:
    """'shirt is taken for t-shirt in 7 of its 40 rows (out-of-fold probe predictions).'"""
    return (
        f"{true} is taken for {predicted} in {count} of its {class_rows} rows "
        "(out-of-fold probe predictions)."
    )


def _example(item: str, modality: str) -> str:
    """An image file's path as is; a text cut to ``EXAMPLE_CHARS`` characters."""
    if modality == "image" or len(item) <= EXAMPLE_CHARS:
        return item
    return item[: EXAMPLE_CHARS - 1] + "…"


def confusions(
    pairs: list[dict[str, Any]], sizes: dict[str, int], items: Sequence[str], modality: str
) -> list[Confusion]:
    """The confused pairs of one probe breakdown (``detail["confusions"]``) with their sentences.

    ``sizes``: class -> rows in the sample; ``items``: the sample's inputs (``Inputs.items``,
    in the order the probe's row indices refer to); ``modality``: "image" keeps the example
    paths whole, "text" cuts the texts. A row index outside the sample is skipped rather than
    guessed at (a breakdown stored for another sample cannot be reused, its store key differs).
    """
    out = []
    for pair in pairs:
        true, predicted, count = str(pair["true"]), str(pair["predicted"]), int(pair["count"])
        class_rows = sizes.get(true, count)
        examples = [_example(items[i], modality) for i in pair["rows"] if 0 <= i < len(items)]
        sentence = confusion_sentence(true, predicted, count, class_rows)
        out.append(Confusion(true, predicted, count, class_rows, examples, sentence))
    return out


def row_confusions(
    row: Row, sizes: dict[str, int], items: Sequence[str], modality: str
) -> list[Confusion]:
    """A candidate's most confused pairs, from its probe breakdown (none where it has no
    breakdown, or one stored before the probe recorded confusions)."""
    breakdown = row.outcome.measurements.get(metrics.BREAKDOWN)
    pairs = (breakdown.detail or {}).get("confusions") if breakdown else None
    return confusions(pairs or [], sizes, items, modality)
