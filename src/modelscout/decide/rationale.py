"""Every sentence the reports show about the decision, written here and carried in results.json.

The rationale paragraph and its caveats, the busy-machine warnings and the flag lines, the
"what would change the pick" sentences, and the long-tail note. The functions take plain
values (not a RunResult), so that report/json.py can write the same sentences for a
results.json of an older schema that lacks them.
"""

from __future__ import annotations

from typing import Any

from modelscout import metrics
from modelscout.catalog.constraints import DROP_WORDS, LATENCY_WORDS
from modelscout.data.tail import LONG_TAIL_SHARE, long_tail_classes
from modelscout.decide import stress
from modelscout.decide.baselines import MEAN_PREDICTOR, floor
from modelscout.decide.records import LongTail, Row
from modelscout.measure.paired import Pair, Ties
from modelscout.spec import BASELINE_PIXELS, BASELINE_TFIDF, Weights

QUALITY = metrics.DEFAULT_QUALITY["classification"]  # a run's own: Decision.quality_metric
P95 = metrics.latency_p95(1)
SPEED = ("faster at p95", "slower at p95", "about as fast at p95")
MEMORY = ("lighter in memory", "heavier in memory", "about as heavy in memory")
# what a baseline is called in a sentence; another (the columns one) by its id
BASELINE_NAMES = {BASELINE_TFIDF: "the TF-IDF baseline", BASELINE_PIXELS: "the raw-pixels baseline"}


def _q(row: Row, quality: str) -> tuple[float, float]:
    """The row's quality value and its fold spread (0 when none)."""
    found = row.outcome.measurements[quality]
    return found.value, found.spread or 0.0


def _show(quality: str, value: float) -> str:
    """``value`` in the quality metric's format: '0.412' (R²), '41.2' (MAE)."""
    return metrics.spec(quality).show(value)


def _signed(row: Row, quality: str) -> float:
    """The row's quality with the sign that makes larger better, whatever the direction."""
    value = _q(row, quality)[0]
    return value if metrics.spec(quality).higher_is_better else -value


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


def rationale(
    order: list[Row],
    others: list[Row],
    weights: Weights,
    constraints: Any,
    quality: str = QUALITY,
    names: dict[str, str] | None = None,
    ties: Ties | None = None,
    verdict: dict[str, Any] | None = None,
) -> str:
    """One paragraph naming the trade-off behind the pick, with numbers.

    ``quality``: the run's quality metric; ``names``: baseline id -> how a sentence names it
    (``baseline_name``); the pick is compared with each reference in its ``beats``;
    ``ties``: the paired test, whose verdict replaces the fold-spread heuristic (kept only
    without it); ``verdict``: what verification decided (decide/verified.py): when it changed
    the pick, its sentence leads, since the frozen trade-off no longer explains the pick."""
    excluded = ""
    counts = {s: sum(r.status == s for r in others) for s in ("rejected", "failed", "stopped")}
    if any(counts.values()):
        words = {"stopped": "stopped by successive halving"}
        parts = [f"{n} {words.get(s, s)}" for s, n in counts.items() if n]
        listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        excluded = f" Not ranked: {listed} (reasons in the matrix)."
    if not order:
        return "No candidate could be ranked." + excluded
    pick = order[0]
    value, spread = _q(pick, quality)
    best = max(order, key=lambda r: _signed(r, quality))
    sentences = []
    if verdict is not None and verdict["changed"]:
        sentences.append(verdict["sentence"])
    elif len(order) == 1:
        sentences.append(
            f"{pick.id} is the only candidate ranked ({metrics.label(quality)} "
            f"{_show(quality, value)} ± {_show(quality, spread)})."
        )
    elif best is pick:
        sentences += _best_pick(pick, order[1], quality, heuristic=ties is None)
    else:
        sentences += _traded_pick(pick, best, weights, quality, heuristic=ties is None)
    if ties is not None and len(order) > 1 and not (verdict and verdict["changed"]):
        sentences += tie_sentences(pick, order, ties, weights)
    if verdict is not None and not verdict["changed"]:
        sentences.append(verdict["sentence"])
    budget = getattr(constraints, "max_latency_ms_p95", None)
    p95 = pick.raw(P95)
    latency_flagged = any(f.startswith(LATENCY_WORDS) for f in pick.flags)
    if budget and p95 is not None and not latency_flagged:
        sentences.append(f"Its p95 latency of {p95:.1f} ms is within the {budget:g} ms budget.")
    sentences += against_references(pick, others + order, quality, names or {})
    return " ".join(sentences) + excluded


def baseline_name(candidate_id: str, columns: list[str] | None = None) -> str:
    """How a sentence names a baseline: 'the TF-IDF baseline', or its id with the table
    columns it was fitted on: 'baseline:columns (room_type)'."""
    if candidate_id in BASELINE_NAMES:
        return BASELINE_NAMES[candidate_id]
    return f"{candidate_id} ({', '.join(columns)})" if columns else candidate_id


def against_references(
    pick: Row, rows: list[Row], quality: str, names: dict[str, str]
) -> list[str]:
    """One sentence per reference in ``pick.beats`` (each baseline, the mean predictor):
    'It is 0.121 R² above baseline:columns (room_type).' or 'It does not beat ...: R² 0.300
    vs 0.412.'"""
    value = _q(pick, quality)[0]
    found = {r.id: r.raw(quality) for r in rows} | {MEAN_PREDICTOR: floor(pick, quality)}
    label = metrics.label(quality)
    word = "above" if metrics.spec(quality).higher_is_better else "below"
    sentences = []
    for ref, beaten in pick.beats.items():
        name = "the mean predictor" if ref == MEAN_PREDICTOR else names.get(ref, ref)
        other = found.get(ref)
        if other is None:
            continue
        if beaten:
            gap = _show(quality, abs(value - other))
            sentences.append(f"It is {gap} {label} {word} {name}.")
        else:
            sentences.append(
                f"It does not beat {name}: {label} {_show(quality, value)} vs "
                f"{_show(quality, other)}."
            )
    return sentences


def floor_reason(quality: str, value: float, mean: float) -> str:
    """Why a regression candidate is rejected: 'does not beat the mean predictor: R² -0.021
    vs floor 0.000'."""
    return (
        f"does not beat the mean predictor: {metrics.label(quality)} {_show(quality, value)} "
        f"vs floor {_show(quality, mean)}"
    )


def _best_pick(pick: Row, rival: Row, quality: str, heuristic: bool = True) -> list[str]:
    """Sentences for a pick with the best quality: the gap to the runner-up, and the speed."""
    value, spread = _q(pick, quality)
    rival_value, rival_spread = _q(rival, quality)
    speed = _compare(pick.raw(P95), rival.raw(P95), "ms", SPEED)
    gap = abs(value - rival_value)
    # the runner-up's number is lower for a higher-is-better metric, higher for MAE
    side = "lower" if metrics.spec(quality).higher_is_better else "higher"
    label = metrics.label(quality)
    sentences = [
        f"{pick.id} has the best {label} ({_show(quality, value)} ± {_show(quality, spread)}); "
        f"the runner-up {rival.id} is {_show(quality, gap)} {side} "
        f"({_show(quality, rival_value)})" + (f", and {pick.id} is {speed}" if speed else "") + "."
    ]
    if heuristic and gap <= max(spread, rival_spread):
        sentences.append(
            "The quality gap is within the fold-to-fold spread, so the two are "
            "not clearly apart on quality."
        )
    return sentences


def _traded_pick(
    pick: Row, best: Row, weights: Weights, quality: str, heuristic: bool = True
) -> list[str]:
    """Sentences for a pick below the best quality: what it gains in exchange, at which
    weights, and whether the quality gap is beyond the folds' spread."""
    value, spread = _q(pick, quality)
    best_value, best_spread = _q(best, quality)
    memory = metrics.PEAK_MEMORY
    trade = [
        p
        for p in (
            _compare(pick.raw(P95), best.raw(P95), metrics.unit(P95), SPEED),
            _compare(pick.raw(memory), best.raw(memory), metrics.unit(memory), MEMORY),
        )
        if p
    ]
    label, gap = metrics.label(quality), abs(best_value - value)
    side = "below" if metrics.spec(quality).higher_is_better else "above"
    sentences = [
        f"{pick.id} is recommended: it is {_show(quality, gap)} {label} {side} {best.id} "
        f"({_show(quality, value)} vs {_show(quality, best_value)}) but "
        + (" and ".join(trade) or "scores higher overall")
        + f", which outweighs the gap at the weights used (quality {weights.quality:g}, "
        f"latency {weights.latency:g}, memory {weights.memory:g}, size {weights.size:g})."
    ]
    widest = max(spread, best_spread)
    if heuristic and gap <= widest:
        sentences.append(
            f"The {label} gap is within the fold-to-fold spread (± {_show(quality, widest)}), "
            "so the two are not clearly apart on quality."
        )
    return sentences


TIES_NOTES = {
    "no_scorer": "No statistical test of ties: {label} has no paired scorer, so the fold-to-fold "
    "spread is the only guide to how far apart candidates are.",
    "no_predictions": "No statistical test of ties: the probes' out-of-fold predictions are not "
    "available, so the fold-to-fold spread is the only guide to how far apart candidates are.",
    "alone": "No statistical test of ties: fewer than two candidates were ranked.",
    "some_missing": "{missing} ranked candidate(s) had no out-of-fold predictions and are left "
    "out of the test of ties.",
}


def ties_note(kind: str, quality: str, missing: int = 0) -> str:
    """Why the paired test did not run (``TIES_NOTES`` key ``kind``), or what it left out."""
    return TIES_NOTES[kind].format(label=metrics.label(quality), missing=missing)


def ties_sentence(ties: Ties) -> str:
    """What the test of ties is: 'Paired bootstrap of macro-F1 over the 2,000 sample rows
    (2,000 resamples, 95% percentile intervals) ...'."""
    tied = _listed(ties.tied_with_best) if ties.tied_with_best else "none"
    return (
        f"{ties.method.capitalize()} of {metrics.label(ties.metric)} over the {ties.rows:,} "
        f"sample rows ({ties.resamples:,} resamples, {ties.confidence:.0%} percentile "
        f"intervals): each candidate against the best, {ties.best}, on the same drawn rows "
        f"(the probes' out-of-fold predictions); tied when the interval holds 0. Tied with "
        f"{ties.best}: {tied}."
    )


def _listed(ids: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return ids[0] if len(ids) == 1 else f"{', '.join(ids[:-1])} and {ids[-1]}"


def tested(ties: Ties, pair: Pair) -> str:
    """'paired bootstrap over the 2,000 sample rows: MiniLM − tfidf difference -0.004, 95%
    interval -0.019 to 0.011'."""
    show = metrics.spec(ties.metric).show
    return (
        f"{ties.method} over the {ties.rows:,} sample rows: {pair.candidate} − {ties.best} "
        f"difference {show(pair.difference)}, {ties.confidence:.0%} interval "
        f"{show(pair.low)} to {show(pair.high)}"
    )


def _favoured(pick: Row, group: list[Row], weights: Weights) -> list[str]:
    """The weighted criteria other than quality on which the pick is the best of its tied
    group and not merely level with all of it."""
    found = []
    for name, weight in weights.model_dump().items():
        if name == "quality" or weight <= 0 or name not in pick.normalized:
            continue
        values = [r.normalized.get(name) for r in group if r is not pick]
        known = [v for v in values if v is not None]
        mine = pick.normalized[name]
        if known and mine >= max(known) and mine > min(known):
            found.append(name)
    return found


def tie_sentences(pick: Row, order: list[Row], ties: Ties, weights: Weights) -> list[str]:
    """The paired test's verdict on the pick: tied with the best (and what picked it among the
    tied), or apart from it (the gap is not chance)."""
    label = metrics.label(ties.metric)
    pairs = {p.candidate: p for p in ties.pairs}
    group = [ties.best, *ties.tied_with_best]
    if pick.id in group and len(group) > 1:
        rows = [r for r in order if r.id in group]
        cited = pairs.get(pick.id) or pairs[next(r.id for r in rows if r.id != ties.best)]
        favoured = _favoured(pick, rows, weights)
        why = f"for its {_listed(favoured)}" if favoured else "on its overall score"
        return [
            f"{_listed([r.id for r in rows])} are statistically tied on {label} "
            f"({tested(ties, cited)}); among them {pick.id} is picked {why}."
        ]
    other = pairs.get(pick.id) or pairs.get(order[1].id)
    if other is None:
        return []
    return [
        f"{other.candidate} and {ties.best} are not tied on {label}: the gap is beyond chance "
        f"({tested(ties, other)}, which excludes 0)."
    ]


def caveats(order: list[Row], warnings: list[str]) -> str:
    """Sentences the rationale ends with: flagged candidates (per budget), and busy-machine
    timings."""
    sentences = []
    for words, budget in ((LATENCY_WORDS, "the latency budget"), (DROP_WORDS, "max_quality_drop")):
        flagged = [row.id for row in order if any(f.startswith(words) for f in row.flags)]
        if flagged:
            sentences.append(
                f" Not clearly within {budget}, so flagged rather than rejected: "
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


def long_tail(
    sizes: dict[str, int], share: float = LONG_TAIL_SHARE, labels: bool = False
) -> LongTail:
    """The long tail of a sample (class -> rows) and the sentence that says how it is defined.

    ``labels``: the sizes are multi-label supports (label -> rows having it); the sentence then
    speaks of labels and of label assignments, since a row with two labels counts for both."""
    classes = long_tail_classes(sizes, share)
    rows, total = sum(sizes[name] for name in classes), sum(sizes.values())
    kind, units = ("labels", "label assignments") if labels else ("classes", "rows")
    if not classes:
        sentence = (
            f"No long tail: no group of the smallest {kind} (taken smallest first, {kind} of "
            f"equal size together) holds at most {share:.0%} of the {total} sampled {units}."
        )
        return LongTail(share, classes, rows, total, sentence)
    sentence = (
        f"Long tail ({len(classes)} {kind}, {rows} of {total} {units}): the smallest {kind} "
        f"that together hold at most {share:.0%} of the sampled {units}, taken smallest first "
        f"with {kind} of equal size counted together (so balanced {kind} have no long tail)"
        + f": {', '.join(classes)}."
    )
    return LongTail(share, classes, rows, total, sentence)


MODES = {"head": "a new head on frozen weights", "full": "full fine-tune", "lora": "LoRA"}


def _fine_tuned(row: Row, name: str) -> str:
    """'0.912 [0.884, 0.937], 0.031 above its frozen probe on the same rows'."""
    found = row.outcome.measurements[name]
    show, detail = metrics.spec(name).show, found.detail or {}
    text = f"{show(found.value)} [{show(detail.get('low'))}, {show(detail.get('high'))}]"
    if detail.get("gain") is not None:
        gain = detail["gain"]
        side = "above" if gain >= 0 else "below"
        text += f", {show(abs(gain))} {side} its frozen probe on the same rows"
    return text


def _budget_hit(row: Row) -> bool:
    note = row.outcome.measurements.get(metrics.VERIFY_NOTE)
    return bool(note is not None and (note.detail or {}).get("budget_hit"))


def verification_sentence(verdict: dict[str, Any], rows: dict[str, Row], quality: str) -> str:
    """What verification did to the pick: changed it, confirmed it, or could not judge it;
    then who was not fine-tuned and why."""
    name, label = verdict["metric"], metrics.label(quality)
    how = (
        f"{MODES.get(verdict['mode'], verdict['mode'])} on {verdict['rows']:,} held-out rows"
        f"{' of ' + str(verdict['folds']) + ' folds' if verdict['folds'] > 1 else ''}"
    )
    verified, pick, frozen = verdict["verified"], verdict["pick"], verdict["frozen_pick"]
    if not verified:
        sentence = (
            f"Verification fine-tuned none of the finalists ({how}); the frozen ranking stands."
        )
    elif verdict["changed"]:
        sentence = (
            f"Verification ({how}) changed the pick from {frozen} to {pick}: fine-tuned, {pick} "
            f"reaches {label} {_fine_tuned(rows[pick], name)}, and {frozen} "
            f"{_fine_tuned(rows[frozen], name)}."
        )
    elif pick in verified:
        others = [cid for cid in verified if cid != pick]
        rival = f"; {others[0]} reaches {_fine_tuned(rows[others[0]], name)}" if others else ""
        sentence = (
            f"Verification ({how}) confirmed the pick: fine-tuned, {pick} reaches {label} "
            f"{_fine_tuned(rows[pick], name)}{rival}."
        )
    else:
        sentence = (
            f"Verification ({how}) could not fine-tune the pick, {pick}, so its frozen figures "
            f"stand; among the finalists fine-tuned, {verified[0]} reaches {label} "
            f"{_fine_tuned(rows[verified[0]], name)}."
        )
    if verdict["tied_with_best"]:
        tied = verdict["tied_with_best"]
        sentence += (
            f" Fine-tuned, {_listed(tied)} {'is' if len(tied) == 1 else 'are'} statistically "
            "tied with the best (paired bootstrap on the held-out rows), so the other criteria "
            "decided among them."
        )
    stopped = [cid for cid in verified if _budget_hit(rows[cid])]
    if stopped:
        sentence += (
            f" {_listed(stopped)} stopped at the time budget (verify.budget_s): the best "
            "epoch reached was scored, and more time could change the figures."
        )
    skipped = [f"{cid} ({why})" for cid, why in verdict["skipped"].items()]
    if skipped:
        sentence += f" Not fine-tuned: {'; '.join(skipped)}."
    return sentence


def quality_evidence_sentence(used: list[str], quality: str, default: bool) -> str:
    """What the ranking's quality criterion is made of (``quality_evidence``), in a sentence."""
    label = metrics.label(quality)
    names = {
        "sample": f"the probe's {label} on the sample",
        "full_size": f"its {label} predicted at the data's full size (learning curve)",
    }
    parts = [names.get(s) or metrics.ESTIMATOR_LABELS.get(s, s) for s in used]
    if not parts:
        return "No candidate has a quality figure to rank on."
    if len(parts) == 1:
        text = f"Quality in the ranking is {parts[0]}."
    else:
        text = (
            f"Quality in the ranking is the mean of {_listed(parts)}, each scaled 0–1 over the "
            "candidates (a candidate without one uses the others)."
        )
    if default and len(parts) > 1:
        text += (
            " That combination predicted the full-train ranking best on the shared datasets "
            "(benchmarks/quality_evidence.py); each raw figure is in the matrix."
        )
    return text


def _drop(quality: str, found: dict[str, Any], prefix: str = "") -> str:
    """'0.142 [0.100, 0.180]': a slice's drop (``prefix`` 'rare_': its rare classes') and its
    95% interval, in the quality metric's format."""
    show = metrics.spec(quality).show
    low, high = found.get(f"{prefix}low"), found.get(f"{prefix}high")
    interval = f" [{show(low)}, {show(high)}]" if low is not None and high is not None else ""
    return show(found[f"{prefix}drop"]) + interval


def _falls(quality: str) -> str:
    """The verb for quality lost: a higher-is-better metric falls, MAE or RMSE rises."""
    return "falls" if metrics.spec(quality).higher_is_better else "rises"


def stress_sentences(order: list[Row], quality: str = QUALITY) -> list[str]:
    """What the stress slices say about the ranked ``order`` (best first): the pick's worst
    slice, the fragile candidate (decide/stress.py's rule) and where the pick's long tail
    breaks first; [] when no ranked candidate has stress slices."""
    if not order:
        return []
    pick, label, show = order[0], metrics.label(quality), metrics.spec(quality).show
    sentences = []
    worst = stress.worst_slice(pick)
    if worst is not None:
        sentences.append(
            f"Under stress, {pick.id} loses most under {worst['name']}: {label} "
            f"{_falls(quality)} {_drop(quality, worst)} ({show(worst['clean'])} clean, "
            f"{show(worst['quality'])} perturbed)."
        )
    found = stress.fragile(order)
    if found is pick:
        median = show(stress.others_median(order, pick))
        sentences.append(
            f"{pick.id} is the most fragile of the ranked: the other ranked candidates' median "
            f"worst drop is {median}."
        )
    elif found is not None:
        theirs = stress.worst_slice(found)
        against = f" (the pick loses {show(worst['drop'])})" if worst else ""
        sentences.append(
            f"{found.id} is fragile: {label} {_falls(quality)} {_drop(quality, theirs)} under "
            f"{theirs['name']}{against}."
        )
    broken = stress.rare_break(pick)
    if broken is not None:
        score = ((stress.stress_detail(pick) or {}).get("rare") or {}).get("score") or label
        sentences.append(
            f"The long tail breaks first: under {broken['name']}, {pick.id}'s rare classes lose "
            f"{_drop(quality, broken, 'rare_')} ({score}), against a {label} drop of "
            f"{show(broken['drop'])} over all the stressed rows."
        )
    return sentences
