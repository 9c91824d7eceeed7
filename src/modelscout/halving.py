"""Successive halving over the candidates, within the spec's ``budget``.

Every candidate gets the cheap measurements on a small stratified sample of the run's sample:
its metadata checked, a short feature pass, the probe, the estimators, a short latency check;
the better part goes on to a larger sample; the last round is the full run (the whole sample,
every timing, the learning curves, ONNX and the GPU where asked) of the finalists, and only
they are verified. The survivors of a round are its best on the run's quality metric, plus
every candidate the paired bootstrap (measure/paired.py) cannot tell from the weakest of
them: a candidate statistically tied with the survivors is never dropped on noise.

The schedule (Jamieson & Talwalkar 2016, "Non-stochastic Best Arm Identification and
Hyperparameter Optimization", AISTATS; Li et al. 2018, "Hyperband", JMLR): each round keeps
about 1/eta of its candidates (never fewer than the finalists) and the sample grows eta-fold
per round up to the whole sample in the last. One *pass* is one candidate measured on the
whole sample; a round of m candidates on a fraction f of the rows costs m x f passes. The
number of finalists is the largest whose schedule fits the budget (at least
``halving.finalists`` where the budget allows it), planned again before every round from
what is left: a budget in seconds is turned into passes at the rate the rounds so far took.

Each round is an ordinary run (run.py) on its own sample: its measurements are stored under
that sample's fingerprint, so a rerun measures nothing again, and the last round's are
exactly those a run without a budget takes of the same candidates. Baselines are not halved:
they are the floor every candidate is compared with, and are measured in the last round.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from modelscout import metrics
from modelscout.catalog.constraints import check_measured
from modelscout.data import TaskData, stratified_sample
from modelscout.errors import UserError
from modelscout.executors import Executor
from modelscout.inputs import Prepared
from modelscout.measure.paired import paired_bootstrap, scored_truth, scorer_for
from modelscout.records import Candidate, Measurement, Outcome
from modelscout.run import RunResult, Step, run
from modelscout.spec import Spec
from modelscout.store import Store, default_store_path

HALVING_KEY = "halving"  # the store's candidate column for a round's own figures
ROUND_VERSION = "1"
LIGHT_LATENCY_BUDGET_S = 0.25  # an early round's latency check: a sanity figure, not ranked


@dataclass
class Plan:
    """The rounds still to run: candidates at the start of each, and rows of each."""

    counts: list[int]
    rows: list[int]
    rows_total: int  # the whole sample: one pass

    @property
    def passes(self) -> float:
        return sum(c * r for c, r in zip(self.counts, self.rows, strict=True)) / self.rows_total


def ladder(candidates: int, finalists: int, eta: int) -> list[int]:
    """Candidates at the start of each round: ``candidates``, then about 1/eta of the last,
    never below ``finalists``, down to ``finalists``."""
    counts = [candidates]
    while counts[-1] > finalists:
        counts.append(max(finalists, math.ceil(counts[-1] / eta)))
    return counts


def plan(
    candidates: int,
    finalists: int,
    eta: int,
    rows_total: int,
    min_rows: int,
    start_rows: int = 0,
) -> Plan:
    """The rounds from here: the sample grows eta-fold per round to ``rows_total`` in the
    last, each round at ``min_rows`` at the least (the first round's floor: enough rows of
    every class for the folds) and at ``start_rows`` x eta^r (the rounds so far: the sample
    never shrinks)."""
    counts = ladder(candidates, finalists, eta)
    last = len(counts) - 1
    rows: list[int] = []
    for r in range(len(counts)):
        # as the loop in ``_Halver.run`` grows it: at least eta times the round before
        floor = rows[-1] * eta if rows else start_rows
        rows.append(min(rows_total, max(min_rows, floor, round(rows_total / eta ** (last - r)))))
    # a round on the whole sample is the last (halving.py's loop): its candidates finalists
    whole = rows.index(rows_total)
    return Plan(counts[: whole + 1], rows[: whole + 1], rows_total)


def best_plan(
    candidates: int, fits: Callable[[Plan], bool], shape: tuple[int, int, int, int]
) -> Plan:
    """The plan with the most finalists that ``fits`` (``shape``: eta, rows of the whole
    sample, the first round's floor, the rows the next round starts at least at); the
    cheapest (one finalist) when none does."""
    for finalists in range(candidates, 0, -1):
        found = plan(candidates, finalists, *shape)
        if fits(found):
            return found
    return plan(candidates, 1, *shape)


@dataclass
class Standing:
    """How far one candidate went, and why it stopped."""

    rounds: int = 0  # rounds it was measured in
    rows: int = 0  # rows of its last round
    value: float | None = None  # its quality on its last round's sample
    status: str = "measured"  # finalist | stopped | failed | rejected | baseline
    reason: str | None = None


@dataclass
class Halving:
    """What successive halving did (results.json ``halving``)."""

    budget: str
    eta: int
    finalists_asked: int
    metric: str
    rounds: list[dict[str, Any]] = field(default_factory=list)
    candidates: dict[str, Standing] = field(default_factory=dict)
    passes: float = 0.0  # spent
    exhaustive_passes: float = 0.0  # measuring every candidate on the whole sample
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    sentence: str = ""

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["passes"] = round(self.passes, 3)
        share = self.passes / self.exhaustive_passes if self.exhaustive_passes else None
        found["ratio"] = None if share is None else round(share, 4)
        return found


def check_budget(spec: Spec, prepared: Prepared) -> None:
    """A budget too small for the candidates, told before any executor starts."""
    _Halver(spec, prepared, lambda *_: None, None, None).check_budget()


def run_halving(
    spec: Spec,
    *,
    prepared: Prepared,
    step: Step | None = None,
    on_candidate: Any = None,
    executor: Executor | None = None,
) -> RunResult:
    """Measure ``prepared``'s candidates by successive halving within ``spec.budget``: the
    last round's ``RunResult``, with a ``stopped`` outcome for each candidate left behind and
    ``result.halving`` saying what was done."""
    return _Halver(spec, prepared, step or (lambda *_: None), on_candidate, executor).run()


class _Halver:
    def __init__(
        self, spec: Spec, prepared: Prepared, step: Step, tell: Any, executor: Executor | None
    ) -> None:
        self.spec, self.prepared, self.step, self.executor = spec, prepared, step, executor
        self.tell = tell or (lambda _: None)
        sample = prepared.sample
        self.rows_total = len(sample)
        groups = int(np.count_nonzero(np.bincount(sample.targets.stratify_key())))
        # every group of the first round needs a row per fold
        self.min_rows = min(self.rows_total, max(spec.halving.min_rows, groups * spec.folds))
        self.quality = metrics.quality_metric(sample.task, spec.quality_metric)
        self.wanted = max(spec.halving.finalists, spec.verify.top)
        self.record = Halving(str(spec.budget), spec.halving.eta, self.wanted, self.quality)
        self.outcomes: dict[str, Outcome] = {}  # the candidates decided before the last round
        self.started = time.perf_counter()
        self.fresh_after = time.time() if spec.force else None

    def run(self) -> RunResult:
        baselines = [c for c in self.prepared.candidates if c.is_baseline]
        alive = [c for c in self.prepared.candidates if not c.is_baseline]
        self.record.exhaustive_passes = float(len(alive))
        self.check_budget()
        totals = {"measured": 0, "reused": 0}
        number, rows = 0, 0
        while True:
            number += 1
            # The sample grows at least eta-fold a round whatever the plan from here says,
            # so that the whole sample, and with it the last round, is reached.
            grown = min(self.rows_total, rows * self.spec.halving.eta)
            ahead = self._plan(len(alive), grown)
            rows = ahead.rows[0]
            last = len(ahead.counts) == 1 or rows >= self.rows_total
            result = self._round(number, alive + (baselines if last else []), rows, last)
            totals["measured"] += result.measured
            totals["reused"] += result.reused
            if last:
                return self._finish(result, totals)
            keep = ahead.counts[1]
            alive = self._survivors(number, result, keep, self._shape(rows * self.spec.halving.eta))

    # -- the plan ---------------------------------------------------------------------------
    def check_budget(self) -> None:
        """``UserError`` for a budget in passes below the cheapest schedule (one finalist)."""
        alive = sum(not c.is_baseline for c in self.prepared.candidates)
        cheapest = plan(alive, 1, self.spec.halving.eta, self.rows_total, self.min_rows)
        budget = self.spec.budget.passes  # type: ignore[union-attr]
        if budget is not None and cheapest.passes > budget + 1e-9:
            raise UserError(
                f"budget {self.spec.budget} is below the cheapest halving schedule for "
                f"{alive} candidates ({cheapest.passes:.2f} passes, one finalist); raise "
                f"budget to at least {math.ceil(cheapest.passes * 100) / 100:g} passes or name "
                "fewer candidates"
            )

    def _fits(self, ahead: Plan) -> bool:
        """Whether the rounds of ``ahead`` fit what the budget leaves: in passes; or in
        seconds, at the rate the rounds so far took plus the last round's timings of its
        finalists (early rounds time briefly). Before any round a budget in seconds has no
        rate: the first round is planned for the finalists asked."""
        budget, record = self.spec.budget, self.record
        assert budget is not None
        if budget.passes is not None:
            return ahead.passes <= budget.passes - record.passes + 1e-9
        if record.passes == 0:
            return ahead.counts[-1] <= self.wanted
        rate = record.seconds / record.passes  # seconds per pass so far
        needed = ahead.passes * rate + ahead.counts[-1] * self._timing_s
        return needed <= budget.seconds - record.seconds  # type: ignore[operator]

    @property
    def _timing_s(self) -> float:
        """The last round's timing of one finalist, estimated: each batch size timed for up
        to its latency budget end to end and again by stage, ONNX's too."""
        spec = self.spec
        return 2 * len(spec.batch_sizes) * spec.latency_budget_s * (2 if spec.onnx else 1)

    def _shape(self, start_rows: int) -> tuple[int, int, int, int]:
        eta = self.spec.halving.eta
        return eta, self.rows_total, self.min_rows, min(self.rows_total, start_rows)

    def _plan(self, candidates: int, start_rows: int) -> Plan:
        """The rounds from here with the most finalists the budget left affords."""
        return best_plan(candidates, self._fits, self._shape(start_rows))

    def _affords(self, survivors: int, shape: tuple[int, int, int, int]) -> bool:
        """Whether the budget left affords going on with ``survivors`` candidates to the
        finalists asked (or all of them, when fewer)."""
        return self._fits(plan(survivors, min(self.wanted, survivors), *shape))

    # -- one round --------------------------------------------------------------------------
    def _round(self, number: int, candidates: list[Candidate], rows: int, last: bool) -> RunResult:
        """One round: the full run on the whole sample when ``last``, else a light one on a
        stratified sample of ``rows`` rows."""
        spec, prepared = self.spec, self.prepared
        sample = prepared.sample if rows >= self.rows_total else self._sample(rows)
        round_spec = spec if last else _light(spec)
        label = f"round {number}, {len(sample):,} rows"
        step = lambda cid, what: self.step(cid, f"{label}: {what}")  # noqa: E731
        started = time.perf_counter()
        result = run(
            round_spec,
            prepared=Prepared(prepared.data, sample, candidates),
            step=step,
            on_candidate=self.tell if last else None,
            executor=self.executor,
            light=not last,
            fresh_after=self.fresh_after,  # with --force: one start for every round
        )
        seconds = self._seconds(result, candidates, not last, time.perf_counter() - started)
        spent = len([c for c in candidates if not c.is_baseline]) * len(sample)
        self.record.passes += spent / self.rows_total
        self.record.seconds += seconds
        self.record.rounds.append(
            {
                "round": number,
                "rows": len(sample),
                "candidates": [c.id for c in candidates],
                "survivors": [],
                "kept_on_ties": [],
                "tied_over_budget": [],
                "seconds": round(seconds, 2),
                "passes": round(spent / self.rows_total, 3),
                "last": last,
            }
        )
        for outcome in result.outcomes:
            standing = self.record.candidates.setdefault(outcome.candidate.id, Standing())
            standing.rounds += 1
            standing.rows = len(sample)
            standing.value = outcome.value(self.quality)
        return result

    def _seconds(
        self, result: RunResult, candidates: list[Candidate], light: bool, took: float
    ) -> float:
        """What the round cost: the seconds it took, stored under its sample and candidates;
        for a round the store answered whole (a rerun), the seconds it took when measured, so
        that a budget in seconds plans a rerun as it planned the first run."""
        settings = {"candidates": sorted(c.key for c in candidates), "light": light}
        name = "halving.round_seconds"
        data = result.sample.fingerprint
        with Store(self.spec.store or default_store_path(), fresh_after=self.fresh_after) as store:
            stored = store.get(HALVING_KEY, data, name, ROUND_VERSION, settings)
            if result.measured == 0 and stored is not None and stored.value is not None:
                return stored.value
            store.put(
                HALVING_KEY, data, Measurement(name, took, "s", None, settings, took, ROUND_VERSION)
            )
        return took

    def _sample(self, rows: int) -> TaskData:
        return stratified_sample(
            self.prepared.sample, rows, self.spec.seed, min_per_class=self.spec.folds
        )

    # -- who goes on --------------------------------------------------------------------------
    def _survivors(
        self, number: int, result: RunResult, keep: int, shape: tuple[int, int, int, int]
    ) -> list[Candidate]:
        """The best ``keep`` of a round on the quality metric, plus those the paired bootstrap
        ties with the weakest of them, as many as the budget affords (the closest first); the
        others become ``stopped`` outcomes."""
        scored = []
        for outcome in result.outcomes:
            if outcome.status != "measured":  # rejected or failed: final as it is
                self._decided(outcome)
            elif broken := self._breaks(outcome):  # no finalist slot for what will be rejected
                self._decided(Outcome(outcome.candidate, outcome.meta, "rejected", broken))
            elif outcome.value(self.quality) is None:
                why = f"no {metrics.label(self.quality)} measured"
                self._decided(Outcome(outcome.candidate, outcome.meta, "failed", why))
            else:
                scored.append(outcome)
        scored.sort(
            key=lambda o: o.value(self.quality), reverse=metrics.spec(self.quality).higher_is_better
        )
        going, behind = scored[:keep], scored[keep:]
        cut = going[-1] if going else None
        tied = self._tied(result, cut.candidate.id, behind) if cut and behind else {}
        entry = self.record.rounds[-1]
        for outcome in behind:
            cid = outcome.candidate.id
            is_tied = cid in tied and tied[cid] is None
            if is_tied and self._affords(len(going) + 1, shape):
                going.append(outcome)
                entry["kept_on_ties"].append(cid)
                continue
            if is_tied:
                entry["tied_over_budget"].append(cid)
            self._stop(number, outcome, cut, tied.get(cid), over_budget=is_tied)
        entry["survivors"] = [o.candidate.id for o in going]
        return [o.candidate for o in going]

    def _breaks(self, outcome: Outcome) -> str | None:
        """Why a candidate measured in an early round breaks the latency or memory limit,
        or None. Its latency is a brief timing: only a p95 whose whole 95% interval is over
        the budget rejects (catalog/constraints.py). Its peak memory never exceeds the last
        round's (fewer batch sizes). ``min_quality`` waits for the whole sample."""
        constraints = self.spec.constraints.model_copy(update={"min_quality": None})
        values = {name: m.value for name, m in outcome.measurements.items()}
        p95 = outcome.measurements.get(metrics.latency_p95(1))
        reason = check_measured(values, constraints, p95.detail if p95 else None)
        if reason is None:
            return None
        return (
            f"{reason} (round {len(self.record.rounds)}, {self.record.rounds[-1]['rows']:,} rows)"
        )

    def _tied(
        self, result: RunResult, cut: str, behind: list[Outcome]
    ) -> dict[str, tuple[float, float, float] | None]:
        """Per candidate below the cut: None when the paired bootstrap ties it with the cut
        candidate, else (difference, low, high) to the cut; {} without a scorer."""
        scorer = scorer_for(result.sample.task, self.quality)
        if scorer is None or cut not in result.predictions:
            return {}
        found: dict[str, tuple[float, float, float] | None] = {}
        predictions = {cut: result.predictions[cut]}
        predictions |= {
            o.candidate.id: result.predictions[o.candidate.id]
            for o in behind
            if o.candidate.id in result.predictions
        }
        truth = scored_truth(result.sample.targets)
        for pair in paired_bootstrap(truth, predictions, cut, scorer, seed=self.spec.seed):
            found[pair.candidate] = None if pair.tied else (pair.difference, pair.low, pair.high)
        return found

    def _stop(
        self,
        number: int,
        outcome: Outcome,
        cut: Outcome | None,
        gap: tuple[float, float, float] | None,
        over_budget: bool = False,
    ) -> None:
        show = metrics.spec(self.quality).show
        value = outcome.value(self.quality)
        reason = (
            f"stopped after round {number} ({self.record.rounds[-1]['rows']:,} rows): "
            f"{metrics.label(self.quality)} {show(value)}"
        )
        if cut is not None:
            reason += (
                f" below the last survivor {cut.candidate.id} ({show(cut.value(self.quality))})"
            )
        if gap is not None:
            low, high = show(gap[1]), show(gap[2])
            reason += f"; paired difference {show(gap[0])}, 95% interval [{low}, {high}]"
        if over_budget:
            reason += "; statistically tied with it, but the budget affords no more survivors"
        self._decided(Outcome(outcome.candidate, outcome.meta, "stopped", reason))

    def _decided(self, outcome: Outcome) -> None:
        self.outcomes[outcome.candidate.id] = outcome
        standing = self.record.candidates.setdefault(outcome.candidate.id, Standing())
        standing.status, standing.reason = outcome.status, outcome.reason
        self.tell(outcome)

    # -- the result -----------------------------------------------------------------------------
    def _finish(self, last: RunResult, totals: dict[str, int]) -> RunResult:
        final = {o.candidate.id: o for o in last.outcomes}
        for cid, outcome in final.items():
            standing = self.record.candidates.setdefault(cid, Standing())
            if outcome.candidate.is_baseline:
                standing.status = "baseline"
            else:
                standing.status = "finalist" if outcome.status == "measured" else outcome.status
            standing.reason = outcome.reason
        ordered = [
            final.get(c.id) or self.outcomes[c.id]
            for c in self.prepared.candidates
            if c.id in final or c.id in self.outcomes
        ]
        last.outcomes = ordered
        last.measured, last.reused = totals["measured"], totals["reused"]
        last.seconds = time.perf_counter() - self.started
        self._notes(sum(s.status == "finalist" for s in self.record.candidates.values()))
        self.record.sentence = halving_sentence(self.record)
        last.halving = self.record.as_dict()
        return last

    def _notes(self, finalists: int) -> None:
        """What the reader should know: fewer finalists than asked, a budget overspent."""
        record, budget = self.record, self.spec.budget
        assert budget is not None
        if finalists < min(self.wanted, int(record.exhaustive_passes)):
            record.notes.append(
                f"the budget left room for {finalists} finalist(s) of the {self.wanted} "
                "asked (halving.finalists, verify.top)"
            )
        spent, allowed = (
            (record.passes, budget.passes)
            if budget.passes is not None
            else (record.seconds, budget.seconds)
        )
        if allowed is not None and spent > allowed * 1.001:
            tied = sum(len(r["kept_on_ties"]) for r in record.rounds)
            why = f"; {tied} candidate(s) kept on statistical ties" if tied else ""
            unit = "passes" if budget.passes is not None else "s"
            record.notes.append(f"spent {spent:.2f} {unit}, over the budget {budget}{why}")


def _light(spec: Spec) -> Spec:
    """An early round's settings: the latency at batch 1 only, briefly; no ONNX, no GPU, no
    prediction at another row count (the learning curves are left out by ``run(light=True)``)."""
    return spec.model_copy(
        update={
            "batch_sizes": [1],
            "latency_budget_s": min(spec.latency_budget_s, LIGHT_LATENCY_BUDGET_S),
            "onnx": False,
            "gpu": "off",
            "predict_rows": None,
            "cost": spec.cost.model_copy(update={"batch_size": 1}),
        }
    )


def halving_sentence(record: Halving) -> str:
    """What halving did, in one sentence the reports show."""
    rounds = record.rounds
    if not rounds:
        return ""
    rows = ", ".join(f"{r['rows']:,}" for r in rounds)
    finalists = sum(s.status == "finalist" for s in record.candidates.values())
    share = record.passes / record.exhaustive_passes if record.exhaustive_passes else 0.0
    return (
        f"Successive halving measured {int(record.exhaustive_passes)} candidates in "
        f"{len(rounds)} round{'s' if len(rounds) > 1 else ''} ({rows} rows); {finalists} "
        f"reached the last round, for {record.passes:.2f} of the "
        f"{record.exhaustive_passes:g} passes measuring every candidate would take "
        f"({share:.0%}, budget {record.budget})."
    )
