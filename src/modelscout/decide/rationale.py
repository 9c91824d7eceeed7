"""Every sentence the reports show about the decision, written here and carried in results.json.

The rationale paragraph and its caveats, the busy-machine warnings and the flag lines, the
"what would change the pick" sentences, and the long-tail note. The functions take plain
values (not a RunResult), so that report/json.py can write the same sentences for a
results.json of an older schema that lacks them.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from modelscout import metrics
from modelscout.decide.records import LongTail, Row
from modelscout.spec import Weights

LONG_TAIL_SHARE = 0.2
QUALITY = metrics.MACRO_F1
P95 = metrics.latency_p95(1)
SPEED = ("faster at p95", "slower at p95", "about as fast at p95")
MEMORY = ("lighter in memory", "heavier in memory", "about as heavy in memory")


def _f1(row: Row) -> tuple[float, float]:
    found = row.outcome.measurements[QUALITY]
    return found.value, found.spread or 0.0


def _compare(
    a: float | None, b: float | None, unit: str, words: tuple[str, str, str]
) -> str | None:
    """'3.1x faster (4.2 ms vs 13.0 ms)': a against b, lower being better.

    ``words`` are what to say when a is better, worse, or within 10% of b.
    """
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    better, worse, same = words
    numbers = f"({a:.1f} {unit} vs {b:.1f} {unit})"
    if abs(a / b - 1) < 0.1:
        return f"{same} {numbers}"
    return f"{b / a:.1f}x {better} {numbers}" if a < b else f"{a / b:.1f}x {worse} {numbers}"


def rationale(order: list[Row], others: list[Row], weights: Weights, constraints: Any) -> str:
    """One paragraph naming the trade-off behind the pick, with numbers."""
    excluded = ""
    rejected = sum(r.status == "rejected" for r in others)
    failed = sum(r.status == "failed" for r in others)
    if rejected or failed:
        parts = [f"{rejected} rejected" if rejected else "", f"{failed} failed" if failed else ""]
        excluded = f" Not ranked: {' and '.join(p for p in parts if p)} (reasons in the matrix)."
    if not order:
        return "No candidate could be ranked." + excluded
    pick = order[0]
    f1, spread = _f1(pick)
    best = max(order, key=lambda r: _f1(r)[0])
    sentences = []
    if len(order) == 1:
        sentences.append(
            f"{pick.id} is the only candidate ranked (macro-F1 {f1:.3f} ± {spread:.3f})."
        )
    elif best is pick:
        sentences += _best_pick(pick, order[1])
    else:
        sentences += _traded_pick(pick, best, weights)
    budget = getattr(constraints, "max_latency_ms_p95", None)
    p95 = pick.raw(P95)
    if budget and p95 is not None and not pick.flags:
        sentences.append(f"Its p95 latency of {p95:.1f} ms is within the {budget:g} ms budget.")
    baseline = next((r for r in order if r.outcome.candidate.source == "baseline"), None)
    if baseline is not None and baseline is not pick:
        gain = f1 - _f1(baseline)[0]
        word = "above" if gain >= 0 else "below"
        sentences.append(f"It is {abs(gain):.3f} macro-F1 {word} the TF-IDF baseline.")
    return " ".join(sentences) + excluded


def _best_pick(pick: Row, rival: Row) -> list[str]:
    """Sentences for a pick with the best macro-F1: the gap to the runner-up, and the speed."""
    f1, spread = _f1(pick)
    rival_f1, rival_spread = _f1(rival)
    speed = _compare(pick.raw(P95), rival.raw(P95), "ms", SPEED)
    gap = f1 - rival_f1
    sentences = [
        f"{pick.id} has the best macro-F1 ({f1:.3f} ± {spread:.3f}); the runner-up {rival.id} "
        f"is {gap:.3f} lower ({rival_f1:.3f})"
        + (f", and {pick.id} is {speed}" if speed else "")
        + "."
    ]
    if gap <= max(spread, rival_spread):
        sentences.append(
            "The quality gap is within the fold-to-fold spread, so the two are "
            "not clearly apart on quality."
        )
    return sentences


def _traded_pick(pick: Row, best: Row, weights: Weights) -> list[str]:
    """Sentences for a pick below the best macro-F1: what it gains in exchange, at which
    weights, and whether the quality gap is beyond the folds' spread."""
    f1, spread = _f1(pick)
    best_f1, best_spread = _f1(best)
    memory = metrics.PEAK_MEMORY
    trade = [
        p
        for p in (
            _compare(pick.raw(P95), best.raw(P95), metrics.unit(P95), SPEED),
            _compare(pick.raw(memory), best.raw(memory), metrics.unit(memory), MEMORY),
        )
        if p
    ]
    sentences = [
        f"{pick.id} is recommended: it is {best_f1 - f1:.3f} macro-F1 below {best.id} "
        f"({f1:.3f} vs {best_f1:.3f}) but "
        + (" and ".join(trade) or "scores higher overall")
        + f", which outweighs the gap at the weights used (quality {weights.quality:g}, "
        f"latency {weights.latency:g}, memory {weights.memory:g}, size {weights.size:g})."
    ]
    widest = max(spread, best_spread)
    if best_f1 - f1 <= widest:
        sentences.append(
            f"The macro-F1 gap is within the fold-to-fold spread (± {widest:.3f}), "
            "so the two are not clearly apart on quality."
        )
    return sentences


def caveats(order: list[Row], warnings: list[str]) -> str:
    """Sentences the rationale ends with: flagged candidates, and busy-machine timings."""
    flagged = [row.id for row in order if row.flags]
    sentences = []
    if flagged:
        sentences.append(
            f" Not clearly within the latency budget, so flagged rather than rejected: "
            f"{', '.join(flagged)} (why in the flags)."
        )
    if warnings:
        sentences.append(
            f" Timings of {len(warnings)} candidate{'s' if len(warnings) > 1 else ''} were "
            "taken on a busy machine (see the warnings): their latency figures may be inflated."
        )
    return "".join(sentences)


def _where(name: str) -> str:
    """'batch 8', 'gpu fp16 batch 8' or 'onnx batch 1': where a median latency was taken."""
    spec, batch, precision = metrics.parse(name)
    where = f"gpu {precision} " if precision else ""
    if spec.name == metrics.ONNX_LATENCY_P50:
        where += "onnx "
    return f"{where}batch {batch}"


def timing_warnings(rows: list[Row]) -> list[str]:
    """One sentence per candidate whose timings the machine disturbed, with the figures."""
    medians = (metrics.LATENCY_P50, metrics.ONNX_LATENCY_P50)
    out = []
    for row in rows:
        disturbed = {}  # "batch 8" (or "gpu fp16 batch 8", "onnx batch 1") -> its detail
        for name, m in row.outcome.measurements.items():
            detail = m.detail or {}
            if not metrics.is_known(name) or metrics.spec(name).name not in medians:
                continue
            if detail.get("reliable") is False:
                disturbed[_where(name)] = detail
        if disturbed:
            first = next(iter(disturbed.values()))
            out.append(
                f"timings of {row.id} were taken on a busy machine "
                f"(at {', '.join(disturbed)}): {'; '.join(first['unreliable_reasons'])}"
            )
    return out


def alerts(warnings: list[str], flags: dict[str, list[str]]) -> list[str]:
    """The lines the reports put above the matrix: each warning, then each candidate's flags."""
    lines = [f"Warning: {w}." for w in warnings]
    return lines + [f"Flagged: {cid}: {flag}." for cid, found in flags.items() for flag in found]


def sensitivity_sentence(entry: dict[str, Any]) -> str:
    """What the sensitivity entry of one criterion means for the pick, in one sentence."""
    low, high = entry["pick_holds_from"], entry["pick_holds_to"]
    name, share, flips = entry["criterion"], entry["current_share"], entry["flips_to"]
    if low is None:
        return f"The pick does not hold at any share of {name}."
    if not flips:
        return f"Any share of {name} keeps the pick."
    limits = []
    if low > 0:
        limits.append(f"below {low:.2f}")
    if high < 1:
        limits.append(f"above {high:.2f}")
    where = " or ".join(limits) or "to some values in between"
    return (
        f"If {name}'s share of the total weight went {where} "
        f"(it is {share:.2f}), the pick would change to {', '.join(flips)}."
    )


def what_would_change(sensitivity: list[dict[str, Any]], ranked: int) -> list[str]:
    """The sentences under "What would change it": one per criterion, or why none can."""
    if sensitivity:
        return [entry["sentence"] for entry in sensitivity]
    plural = "" if ranked == 1 else "s"
    return [f"{ranked} candidate{plural} ranked: no change of the weights can change the pick."]


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


def long_tail(sizes: dict[str, int], share: float = LONG_TAIL_SHARE) -> LongTail:
    """The long tail of a sample (class -> rows) and the sentence that says how it is defined."""
    classes = long_tail_classes(sizes, share)
    rows, total = sum(sizes[name] for name in classes), sum(sizes.values())
    if not classes:
        sentence = (
            f"No long tail: no group of the smallest classes (taken smallest first, classes of "
            f"equal size together) holds at most {share:.0%} of the {total} sampled rows."
        )
        return LongTail(share, classes, rows, total, sentence)
    sentence = (
        f"Long tail ({len(classes)} classes, {rows} of {total} rows): the smallest classes that "
        f"together hold at most {share:.0%} of the sampled rows, taken smallest first with "
        "classes of equal size counted together (so balanced classes have no long tail)"
        + f": {', '.join(classes)}."
    )
    return LongTail(share, classes, rows, total, sentence)
