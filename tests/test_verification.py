"""The verification stage: finalists fine-tuned, scored against their frozen probe on the same
held-out rows, re-ranked on what they reach fine-tuned; cached; the reports say what changed."""

import numpy as np
from conftest import ENVIRONMENT
from sklearn.metrics import f1_score

from modelscout import build_spec, metrics
from modelscout.data import TaskData
from modelscout.decide import decide
from modelscout.measure.paired import scored_truth
from modelscout.records import Candidate, Measurement, ModelMeta, Outcome
from modelscout.report import build_results
from modelscout.report.markdown import render_markdown
from modelscout.results import Results
from modelscout.run import RunResult
from modelscout.verification import Verification, finalists_of, scored

N = 500
rng = np.random.default_rng(3)
CLASSES = rng.integers(0, 5, N)
HELD_OUT = np.arange(0, N, 5)  # 100 rows


def _noisy(right: float, seed: int) -> np.ndarray:
    draw = np.random.default_rng(seed)
    return np.where(draw.random(N) < right, CLASSES, draw.integers(0, 5, N))


def _outcome(cid: str, frozen: np.ndarray, p95: float, source: str = "folder") -> Outcome:
    f1 = f1_score(CLASSES, frozen, average="macro")
    found = {
        metrics.MACRO_F1: Measurement(metrics.MACRO_F1, f1, "fraction", 0.01),
        metrics.latency_p95(1): Measurement(metrics.latency_p95(1), p95, "ms"),
        metrics.PEAK_MEMORY: Measurement(metrics.PEAK_MEMORY, 100.0, "MB"),
    }
    return Outcome(Candidate(cid, source), ModelMeta(), "measured", None, found)


def _decided(frozen: dict[str, np.ndarray], tuned: dict[str, np.ndarray], skipped=None):
    """A run of ``frozen`` predictions (in the order of their frozen quality), then a
    verification whose fine-tuned predictions of the held-out rows are ``tuned``."""
    data = TaskData.of_texts([f"t{i}" for i in range(N)], CLASSES, list("abcde"))
    spec = build_spec(data="d.csv", weights={"quality": 0.9, "latency": 0.1}, verify=3)
    outcomes = [_outcome(cid, p, 10.0) for cid, p in frozen.items()]
    result = RunResult(spec, data, data, outcomes, ENVIRONMENT, predictions=frozen)
    finalists = list(frozen)
    done = Verification("full", 3, finalists, len(HELD_OUT), 1, skipped=dict(skipped or {}))
    done.truth = scored_truth(result.sample.targets)[HELD_OUT]
    for outcome in outcomes:
        cid = outcome.candidate.id
        if cid in tuned:
            predictions = tuned[cid][HELD_OUT]
            outcome.measurements.update(scored(result, cid, predictions, HELD_OUT))
            done.predictions[cid] = predictions
            done.verified.append(cid)
    result.verification = done
    return decide(result)


def test_verification_changes_the_pick_when_the_runner_up_fine_tunes_clearly_better():
    frozen = {"a": _noisy(0.8, 1), "b": _noisy(0.7, 2), "c": _noisy(0.5, 3)}
    decision = _decided(frozen, {"a": _noisy(0.8, 4), "b": _noisy(0.97, 5)})
    assert [r.id for r in decision.rows] == ["b", "a", "c"]
    verdict = decision.verification
    assert verdict["frozen_pick"] == "a" and verdict["pick"] == "b" and verdict["changed"]
    assert decision.recommendation == "b"
    assert decision.rationale.startswith("Verification (full fine-tune on 100 held-out rows)")
    assert "changed the pick from a to b" in decision.rationale
    row = next(r for r in decision.rows if r.id == "b")
    found = row.outcome.measurements[metrics.verified(metrics.MACRO_F1)]
    assert found.detail["low"] <= found.value <= found.detail["high"]
    assert found.detail["gain"] > 0 and found.detail["gain_low"] > 0  # a real gain, paired
    expected = f1_score(CLASSES[HELD_OUT], frozen["b"][HELD_OUT], average="macro")
    assert abs(found.detail["frozen"] - expected) < 1e-12


def test_verification_that_agrees_confirms_the_pick_and_keeps_the_order():
    frozen = {"a": _noisy(0.8, 1), "b": _noisy(0.6, 2)}
    decision = _decided(frozen, {"a": _noisy(0.95, 6), "b": _noisy(0.7, 7)})
    assert decision.recommendation == "a" and not decision.verification["changed"]
    assert "Verification (full fine-tune on 100 held-out rows) confirmed the pick" in (
        decision.rationale
    )


def test_a_finalist_that_was_not_fine_tuned_keeps_its_place_and_is_named_with_its_reason():
    frozen = {"tfidf": _noisy(0.85, 1), "a": _noisy(0.7, 2), "b": _noisy(0.6, 3)}
    why = {"tfidf": "a baseline, with no torch weights to fine-tune"}
    decision = _decided(frozen, {"a": _noisy(0.7, 8), "b": _noisy(0.95, 9)}, skipped=why)
    assert [r.id for r in decision.rows] == ["tfidf", "b", "a"]
    assert not decision.verification["changed"]
    assert "could not fine-tune the pick, tfidf" in decision.rationale
    assert "Not fine-tuned: tfidf (a baseline, with no torch weights" in decision.rationale
    results = build_results(decision)
    Results.model_validate(results)
    text = render_markdown(results)
    assert "## Verification" in text and "not fine-tuned: a baseline, with no torch weights" in text


def test_fine_tuned_finalists_tied_on_the_held_out_rows_are_split_by_the_other_criteria():
    frozen = {"slow": _noisy(0.8, 1), "fast": _noisy(0.7, 2)}
    tuned_slow = _noisy(0.9, 10)
    tuned_fast = tuned_slow.copy()
    tuned_fast[HELD_OUT[:2]] = (CLASSES[HELD_OUT[:2]] + 1) % 5  # two rows apart: a tie
    data_decision = _decided(frozen, {"slow": tuned_slow, "fast": tuned_fast})
    assert data_decision.verification["tied_with_best"] in (["fast"], ["slow"])
    assert "statistically tied with the best" in data_decision.verification["sentence"]


def test_more_finalists_asked_than_ranked_are_clamped_with_a_note():
    note = "verify: 5 asked, 2 candidates ranked; verified 2"
    assert finalists_of(["a", "b"], 5) == (["a", "b"], [note])
    assert finalists_of(["a", "b", "c"], 2) == (["a", "b"], [])


def _verify_spec(small_csv, tiny_st, tiny_bert, tmp_path, **verify):
    return build_spec(
        data=small_csv,
        candidates=[str(tiny_st), str(tiny_bert)],
        max_samples=100,
        batch_sizes=[1],
        latency_budget_s=0.2,
        estimators=["logme"],
        output=tmp_path,
        cost={"price_per_hour": 0.36},
        verify={"top": 5, "mode": "head", "epochs": 2, **verify},
    )


def test_rank_with_verify_fine_tunes_the_finalists_and_a_rerun_fine_tunes_nothing(
    small_csv, tiny_st, tiny_bert, tmp_path, isolated_store
):
    import sqlite3

    from modelscout.api import rank_and_report

    spec = _verify_spec(small_csv, tiny_st, tiny_bert, tmp_path)
    decision, results, _ = rank_and_report(spec)
    verdict = results["verification"]
    assert verdict["notes"] == ["verify: 5 asked, 3 candidates ranked; verified 3"]
    assert sorted(verdict["verified"]) == sorted([str(tiny_st), str(tiny_bert)])
    assert verdict["skipped"]["baseline:tfidf"] == "a baseline, with no torch weights to fine-tune"
    assert verdict["rows"] == 20  # the first of 5 folds of 100 rows
    Results.model_validate(results)
    model = next(c for c in results["candidates"] if c["id"] == str(tiny_st))
    found = model["metrics"]
    tuned = found["verified.macro_f1"]
    assert tuned["detail"]["low"] <= tuned["value"] <= tuned["detail"]["high"]
    assert found["verify.train_seconds"]["value"] > 0
    assert found["cost.verify_usd"]["value"] == 0.36 * found["verify.train_seconds"]["value"] / 3600
    ece = found["verified.ece"]
    assert 0.0 <= ece["value"] <= 1.0 and sum(ece["detail"]["reliability"]["count"]) == 20
    note = found["verify.note"]["detail"]
    assert note["mode"] == "head" and note["device"] == "cpu" and len(note["folds"]) == 1
    assert verdict["sentence"] in decision.rationale
    html = (tmp_path / "report.html").read_text()
    assert (
        "<h3>Verification</h3>" in html
        and "## Verification" in (tmp_path / "results.md").read_text()
    )

    def stored() -> int:
        with sqlite3.connect(isolated_store) as db:
            return db.execute(
                "SELECT count(*) FROM measurements WHERE name = 'verify.train_seconds'"
            ).fetchone()[0]

    before = stored()
    again, results_again, _ = rank_and_report(spec)
    assert stored() == before == 2  # the second run fine-tuned nothing
    assert results_again["verification"]["verified"] == verdict["verified"]
    same = next(c for c in results_again["candidates"] if c["id"] == str(tiny_st))
    assert same["metrics"]["verified.macro_f1"]["value"] == tuned["value"]
