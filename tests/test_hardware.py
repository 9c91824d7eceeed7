import time

import numpy as np

from modelscout.measure.hardware import MemoryWatch, measure_latency, median_ci_relative


def test_median_ci_narrows_with_more_runs_and_is_zero_for_constant_times():
    rng = np.random.default_rng(0)
    assert median_ci_relative(np.full(50, 3.0)) == 0.0
    few, many = rng.lognormal(1, 0.3, 30), rng.lognormal(1, 0.3, 3000)
    assert median_ci_relative(many) < median_ci_relative(few)


def test_latency_of_a_steady_call_stops_once_the_median_is_stable():
    latency = measure_latency(lambda batch: time.sleep(0.002), ["a", "b"], budget_s=10)
    assert 2.0 <= latency.p50_ms <= latency.p95_ms <= latency.p99_ms
    assert 100 <= latency.runs < 1000 and latency.p50_ci_relative < 0.05


def test_latency_respects_the_time_budget_for_a_noisy_call():
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    latency = measure_latency(
        lambda batch: time.sleep(rng.choice([0.001, 0.02])), ["a"], budget_s=0.3
    )
    assert time.perf_counter() - start < 1.5
    assert latency.runs >= 20


def test_latency_batches_are_drawn_from_the_given_texts():
    seen = []
    measure_latency(seen.extend, ["x", "y", "z"], batch_size=4, min_runs=20, budget_s=0.01)
    assert set(seen) <= {"x", "y", "z"} and len(seen) % 4 == 0


def test_memory_watch_sees_a_transient_allocation():
    with MemoryWatch() as watch:
        block = np.ones(150 * 2**20 // 8)  # 150 MB, touched
        time.sleep(0.05)
        del block
    assert watch.peak_mb > 120
