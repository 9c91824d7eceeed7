"""The long tail of a sample: its smallest classes (multi-label: labels). One rule for the
report's "Long tail" section (decide/rationale.py) and the stress slices' rare classes
(measure/stress.py), so that both name the same classes."""

from __future__ import annotations

from itertools import groupby

LONG_TAIL_SHARE = 0.2


def long_tail_classes(sizes: dict[str, int], share: float = LONG_TAIL_SHARE) -> list[str]:
    """Names of the long-tail classes (class -> rows): the smallest classes that together hold
    at most ``share`` of the rows, smallest first.

    Classes are taken smallest first, classes of equal size together, while their rows summed
    stay within ``share`` of all rows. Equal sizes go together so that balanced classes have no
    long tail rather than an arbitrary one.
    """
    total = sum(sizes.values())
    chosen: list[str] = []
    held = 0
    for rows, group in groupby(sorted(sizes.items(), key=lambda item: item[1]), lambda i: i[1]):
        names = [name for name, _ in group]
        if held + rows * len(names) > share * total:
            break
        chosen += names
        held += rows * len(names)
    return chosen
