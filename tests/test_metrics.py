"""metrics.py is the one place a metric name is written: it covers every name a run produces,
builds and parses the family names, and no renderer or decide module spells a name itself."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modelscout import build_spec, metrics, rank
from modelscout.measure.transferability.names import FEATURE_ESTIMATORS, HEAD_ESTIMATORS
from modelscout.report import build_results

DATA = Path(__file__).parent / "data"
SRC = Path(metrics.__file__).parent


def _names(results: dict) -> set[str]:
    return {name for c in results["candidates"] for name in c["metrics"]}


@pytest.mark.parametrize("name", ["demo_results.json", "demo_results_ranked.json"])
def test_registry_covers_every_metric_of_the_demo_runs(name):
    results = json.loads((DATA / name).read_text(encoding="utf-8"))
    unknown = {n for n in _names(results) if not metrics.is_known(n)}
    assert not unknown
    for candidate in results["candidates"]:
        for found, metric in candidate["metrics"].items():
            assert metrics.unit(found) == metric["unit"], found


def test_registry_covers_every_metric_of_a_run_with_onnx_cost_and_every_estimator(
    small_csv, tiny_bert, tiny_classifier
):
    spec = build_spec(
        data=small_csv,
        candidates=[str(tiny_bert), str(tiny_classifier)],
        onnx=True,
        batch_sizes=[1, 2],
        max_samples=60,
        estimators=[*FEATURE_ESTIMATORS, *HEAD_ESTIMATORS],
        cost={"instance": "aws-c7i.large", "requests_per_day": 10_000},
        latency_budget_s=0.2,
    )
    results = build_results(rank(spec))
    names = _names(results)
    assert not {n for n in names if not metrics.is_known(n)}
    assert {metrics.ONNX_OK, metrics.COST_PER_YEAR, *HEAD_ESTIMATORS} <= names
    for candidate in results["candidates"]:
        for found, metric in candidate["metrics"].items():
            assert metrics.unit(found) == metric["unit"], found


def test_every_estimator_the_spec_accepts_has_a_spec_that_ranks_higher_first():
    for name in (*FEATURE_ESTIMATORS, *HEAD_ESTIMATORS):
        assert metrics.spec(name).direction == "higher"


def test_family_names_are_built_and_parsed_back():
    assert metrics.latency_p95(1) == "latency.p95_ms@1"
    assert metrics.gpu_name("fp16", metrics.latency_p95(1)) == "gpu.fp16.latency.p95_ms@1"
    found, batch, precision = metrics.parse("gpu.fp16.latency.p95_ms@8")
    assert (found.name, batch, precision) == (metrics.LATENCY_P95, 8, "fp16")
    assert metrics.parse(metrics.onnx_latency("p50"))[1] == 1
    assert metrics.parse("gpu.bf16.cosine_min")[0].direction == "higher"
    assert metrics.parse(metrics.MACRO_F1) == (metrics.REGISTRY[metrics.MACRO_F1], None, None)
    assert metrics.label(metrics.latency_p95(1)) == "p95 ms @1"


@pytest.mark.parametrize(
    "name", ["latency.p95_ms", "probe.macro_f1@1", "latency.p42_ms@1", "gpu.fp16.nothing"]
)
def test_names_no_spec_covers_are_refused(name):
    assert not metrics.is_known(name)
    with pytest.raises(KeyError, match="no metric spec covers"):
        metrics.parse(name)


def test_specs_for_a_task_leave_the_probe_to_classification():
    regression = {s.name for s in metrics.for_task("regression")}
    assert metrics.LATENCY_P95 in regression and metrics.MACRO_F1 not in regression


# A quoted string that starts like a metric name: "latency.", 'probe.', f"gpu.{... (the spec
# setting cost.instance, named in an error message, is not one)
QUOTED_NAME = re.compile(
    r"""[frb]*["'](probe|latency|throughput|memory|load|length|deploy|gpu|cost)\.(?!instance\b)"""
    r"""|[frb]*["'](logme|logme_icml|h_score|regularized_h_score|transrate|gbc|sfda|parc|nleep"""
    r"""|knn|leep|nce)["']"""
)


# Where names are defined: the metric registry, and the estimators (whose names are theirs).
DEFINE_NAMES = (
    "metrics.py",
    "estimator_names.py",
    "transferability.py",
    "measure/transferability/",
)


def _every_source() -> list:
    files = sorted(SRC.rglob("*.py")) + sorted((SRC / "report" / "templates").glob("*.j2"))
    return [p for p in files if not str(p.relative_to(SRC)).startswith(DEFINE_NAMES)]


@pytest.mark.parametrize(
    "path",
    _every_source(),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_no_module_but_the_registries_spells_a_metric_name(path):
    text = path.read_text(encoding="utf-8")
    found = [m.group(0) for m in QUOTED_NAME.finditer(text)]
    template_names = re.findall(r"\b(probe|latency|cost|gpu)\.[a-z_]+", text)
    assert not found, f"{path.name} spells metric names: {found}; use modelscout.metrics"
    if path.suffix == ".j2":
        assert not template_names, template_names
