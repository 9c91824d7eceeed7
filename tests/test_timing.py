import subprocess
import sys
import time

import numpy as np

from modelscout.measure.memory import MemoryWatch
from modelscout.measure.timing import (
    judge,
    measure_latency,
    measure_latency_reliably,
    median_ci_relative,
    quantile_ci,
    round_spread,
    summarize,
    usable_cores,
)


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


def test_quantile_ci_takes_the_order_statistics_at_the_binomial_ranks():
    ranks = np.arange(1.0, 101.0)  # the k-th smallest sample is k
    assert quantile_ci(ranks, 0.5) == (40.0, 61.0)  # the textbook median CI for n = 100
    assert quantile_ci(ranks, 0.95) == (90.0, 100.0)
    assert quantile_ci(ranks[:50], 0.95) == (44.0, None)  # 50 runs cannot bound a p95 above


def test_p95_interval_covers_the_true_p95_at_least_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    true_p95 = -np.log(0.05)  # of the unit exponential, a skewed latency-like distribution
    intervals = [quantile_ci(rng.exponential(size=200), 0.95) for _ in range(2000)]
    coverage = np.mean([low <= true_p95 <= high for low, high in intervals])
    assert 0.945 <= coverage <= 0.99


def test_summary_carries_the_p95_interval_around_the_p95():
    latency = summarize(np.random.default_rng(2).lognormal(-4, 0.3, 300))
    low, high = latency.p95_ci_ms
    assert low <= latency.p95_ms <= high


def test_a_slow_round_shows_in_the_spread_of_the_round_medians():
    assert round_spread([1.0] * 100) == 0.0
    assert round_spread([1.0] * 80 + [2.0] * 20) == 1.0  # the last of 5 rounds ran at half speed


def conditions(cpu_per_wall=1.0, others_load=0.0, cores=4):
    return {"cpu_per_wall": cpu_per_wall, "others_load": others_load, "cores": cores}


def test_a_descheduled_process_makes_its_timing_unreliable_with_the_figure():
    latency = summarize([0.01] * 100)
    judge(latency, conditions(cpu_per_wall=0.4), threads=1, cpu_bound=True)
    assert not latency.reliable
    assert latency.unreliable_reasons == [
        "the process ran 0.40 CPU s per wall s (under 0.75: it waited for a core)"
    ]
    judge(latency, conditions(cpu_per_wall=0.4), threads=1, cpu_bound=False)  # a GPU wait
    assert latency.reliable and latency.unreliable_reasons == []


def test_other_processes_on_the_cores_our_threads_need_make_a_timing_unreliable():
    latency = summarize([0.01] * 100)
    judge(latency, conditions(others_load=2.0, cores=4), threads=2, cpu_bound=True)
    assert latency.reliable  # two cores were left for two threads
    judge(latency, conditions(others_load=3.0, cores=4), threads=2, cpu_bound=True)
    assert latency.unreliable_reasons == [
        "other processes kept 3.0 of 4 cores busy (2 measuring threads)"
    ]


def test_a_round_much_slower_than_the_others_makes_a_timing_unreliable():
    latency = summarize([0.01] * 80 + [0.03] * 20)
    latency.round_spread = round_spread(latency.samples_ms)
    judge(latency, conditions(), threads=1, cpu_bound=True)
    assert latency.unreliable_reasons == [
        "the medians of 5 rounds of runs differ by 200% (over 30%)"
    ]


def spin(batch):
    end = time.perf_counter() + 0.002
    while time.perf_counter() < end:
        pass


def test_busy_processes_on_every_core_are_seen_while_timing():
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(usable_cores() + 1)
    ]
    try:
        time.sleep(0.3)
        latency = measure_latency(spin, ["a"], min_runs=20, budget_s=0.5)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert not latency.reliable
    assert latency.conditions["others_load"] > 0.5 * usable_cores()


def test_an_unreliable_timing_is_measured_again_and_stays_marked():
    # a call that sleeps gets no CPU time while it runs, as a descheduled one would
    latency = measure_latency_reliably(
        lambda batch: time.sleep(0.001), ["a"], retries=2, wait_s=0, min_runs=20, budget_s=0.05
    )
    assert latency.attempts == 3 and not latency.reliable
    assert "CPU s per wall s" in latency.unreliable_reasons[0]


def test_round_medians_are_compared_only_with_enough_runs_a_round():
    few = measure_latency(spin, ["a"], min_runs=20, budget_s=0.0)  # stops at 20 runs
    assert few.runs == 20 and few.round_spread is None
    many = measure_latency(spin, ["a"], min_runs=50, max_runs=50, budget_s=10)
    assert many.runs == 50 and many.round_spread is not None


def test_a_timing_goes_on_from_earlier_runs_and_judges_only_its_own():
    from modelscout.measure.timing import measure_latency

    def predict(batch):
        return sum(len(text) for text in batch)

    prior = [5.0] * 60  # earlier runs, much slower than these: pooled, not re-judged
    latency = measure_latency(predict, ["a b", "c"], budget_s=0.05, prior_ms=prior)
    assert latency.samples_ms[:60] == prior and latency.runs >= 70
    fresh = latency.runs - 60
    assert latency.round_spread is None if fresh < 50 else latency.round_spread < 5
