"""``--force``: a run that measures again what the store holds, on a real tiny model."""

from conftest import rewrite_timings

from modelscout import build_spec
from modelscout.run import run

QUICK = {"batch_sizes": [1], "max_samples": 60, "latency_budget_s": 0.2, "estimators": ["logme"]}


def test_force_measures_everything_again_and_the_next_run_reuses_it(
    small_csv, tiny_bert, isolated_store
):
    spec = build_spec(data=small_csv, candidates=[str(tiny_bert)], baseline=False, **QUICK)
    first = run(spec)
    assert first.measured > 0 and first.fresh_after is None
    rewrite_timings(isolated_store, reliable=True, p50_ci_relative=0.0)  # settled: replayable
    steps = []
    forced = run(spec.model_copy(update={"force": True}), step=lambda *s: steps.append(s))
    assert forced.reused == 0 and forced.measured == first.measured
    assert forced.fresh_after is not None
    # the features it encoded are what its probe and estimators read: no second encoding
    assert [what for cid, what in steps if cid == str(tiny_bert)].count(
        "loading, encoding, timing"
    ) == 1
    measured = [m for o in forced.outcomes for m in o.measurements.values()]
    assert not any(m.reused for m in measured)
    rewrite_timings(isolated_store, reliable=True, p50_ci_relative=0.0)
    again = run(spec)
    assert again.measured == 0 and again.reused == forced.measured
