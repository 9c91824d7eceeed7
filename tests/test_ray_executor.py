"""executor: ray on a real local Ray cluster the tests start: a head and a worker node, each a
raylet of its own on this machine, loopback only, stopped when the module ends (a reaper
process stops them should the tests die)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest
from conftest import rewrite_timings
from typer.testing import CliRunner

ray = pytest.importorskip("ray")

from ray._private import ray_constants  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from modelscout import build_spec, rank  # noqa: E402
from modelscout.catalog.candidate import describe, resolve_candidate  # noqa: E402
from modelscout.cli import app  # noqa: E402
from modelscout.errors import UserError  # noqa: E402
from modelscout.executors import executor_for  # noqa: E402
from modelscout.executors.ray import RayExecutor  # noqa: E402
from modelscout.measure.transferability import ESTIMATORS  # noqa: E402
from modelscout.measure.verify import NotVerifiable, VerifyJob, run_verify  # noqa: E402
from modelscout.run import run  # noqa: E402

STORE_MB = 100
FACTORIES = '''
"""Tiny numpy encoders; ``crash`` kills its own process while a marker file is there."""
import os
import signal
from pathlib import Path

import numpy as np


class Bytes:
    modality = "text"
    meta = {"license": "mit", "embedding_dim": 16, "modality": "text", "params": 0}

    def preprocess(self, texts):
        return [t.encode() for t in texts]

    def forward(self, batch):
        out = np.zeros((len(batch), 16), dtype=np.float32)
        for row, text in enumerate(batch):
            for byte in text:
                out[row, byte % 16] += 1
        return out / np.maximum(out.sum(axis=1, keepdims=True), 1)


def make():
    return Bytes()


def crash():
    if Path(__file__).with_name("crash-now").exists():
        os.kill(os.getpid(), signal.SIGKILL)
    return Bytes()


def broken():
    return object()


make.meta = crash.meta = Bytes.meta
'''


@pytest.fixture(scope="module")
def cluster():
    """A head and one worker node (1 CPU, a small object store each) on 127.0.0.1, Ray's
    files in a temporary folder of their own; the address to connect to."""
    folder = tempfile.mkdtemp(prefix="msray", dir="/tmp")  # short: Ray's socket paths
    env = {"RAY_TMPDIR": folder, "RAY_USAGE_STATS_ENABLED": "0"}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    with pytest.MonkeyPatch.context() as patch:
        # Ray resolves 127.0.0.1 to this machine's outside address unless told to stay local
        patch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
        node = {"num_cpus": 1, "object_store_memory": STORE_MB * 2**20}
        local = {"node_ip_address": "127.0.0.1", **node}
        head = {**local, "include_dashboard": False}
        started = Cluster(initialize_head=True, head_node_args=head)
        try:
            started.add_node(**local)
            yield started.address
        finally:
            if ray.is_initialized():
                ray.shutdown()
            started.shutdown()
            for name, value in saved.items():
                os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def factories(tmp_path, monkeypatch):
    """A module ``ray_factories`` on sys.path (the driver's; the workers find it by its file)."""
    (tmp_path / "ray_factories.py").write_text(textwrap.dedent(FACTORIES))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("ray_factories", None)


def quick_spec(data, tmp_path, name, **settings):
    return build_spec(
        data=data,
        max_samples=80,
        latency_budget_s=0.1,
        batch_sizes=[1],
        output=tmp_path / name,
        store=tmp_path / f"{name}.sqlite",
        **settings,
    )


def figures(decision):
    """candidate -> {metric: value} of every quality figure: probe, curve, estimators."""
    return {
        row.id: {
            name: m.value
            for name, m in row.outcome.measurements.items()
            if name.startswith(("probe.", "predicted.")) or name in ESTIMATORS
        }
        for row in decision.rows
    }


def test_the_same_spec_gives_the_same_ranking_and_figures_under_both_executors(
    cluster, small_csv, tiny_bert, tmp_path
):
    # one thread each, what a Ray task times with unless told (measure/cost.py): the two
    # runs' model passes then share their store keys
    local = quick_spec(small_csv, tmp_path, "local", candidates=[str(tiny_bert)], threads=1)
    on_ray = local.model_copy(
        update={"executor": "ray", "address": cluster, "store": tmp_path / "ray.sqlite"}
    )
    first, second = rank(local), rank(on_ray)
    assert {r.status for r in second.rows} == {"ranked"}, [r.outcome.reason for r in second.rows]
    assert [r.id for r in second.rows] == [r.id for r in first.rows]
    expected, found = figures(first), figures(second)
    assert "probe.macro_f1" in found[str(tiny_bert)]
    for candidate, values in expected.items():
        assert found[candidate].keys() == values.keys()
        for name, value in values.items():
            assert found[candidate][name] == pytest.approx(value, abs=1e-9), (candidate, name)
    # on the local run's store (timings settled: replayable), Ray computes nothing again
    rewrite_timings(local.store, reliable=True, p50_ci_relative=0.0)
    again = run(on_ray.model_copy(update={"store": local.store}))
    assert again.executor == "ray" and again.measured == 0 and again.reused > 0


def test_a_killed_worker_fails_its_candidate_and_a_rerun_computes_only_what_is_missing(
    cluster, small_csv, factories, tmp_path
):
    (factories / "crash-now").touch()
    good, doomed = "python:ray_factories:make", "python:ray_factories:crash"
    broken = "python:ray_factories:broken"  # raises in its task: the reason, as under local
    candidates = [good, doomed, broken]
    spec = quick_spec(
        small_csv, tmp_path, "crash", candidates=candidates, executor="ray", address=cluster
    )
    rows = {row.id: row for row in rank(spec).rows}
    assert rows[doomed].status == rows[broken].status == "failed"
    assert rows[doomed].outcome.reason.startswith("its Ray worker died (WorkerCrashedError")
    assert "without modality, preprocess, forward" in rows[broken].outcome.reason
    assert "\n" not in rows[broken].outcome.reason
    assert rows[good].status == rows["baseline:tfidf"].status == "ranked"

    (factories / "crash-now").unlink()
    rewrite_timings(spec.store, reliable=True, p50_ci_relative=0.0)
    steps = []
    rerun = run(spec, step=lambda candidate, what: steps.append(candidate))
    statuses = {outcome.candidate.id: outcome.status for outcome in rerun.outcomes}
    assert statuses == {
        good: "measured",
        doomed: "measured",
        broken: "failed",
        "baseline:tfidf": "measured",
    }
    assert set(steps) == {doomed, broken}  # the others' measurements all come from the store


def test_a_task_no_node_can_run_fails_its_candidate_at_once(cluster, small_csv, tmp_path):
    spec = quick_spec(small_csv, tmp_path, "big", executor="ray", address=cluster, threads=4)
    (row,) = rank(spec).rows  # each node has 1 CPU: the pass asking for 4 is never run
    assert row.status == "failed" and "no node of the Ray cluster has 4 CPUs" in row.outcome.reason


def test_a_fine_tune_runs_as_a_task_and_predicts_as_it_does_here(cluster, tiny_bert, example_frame):
    frame = example_frame.groupby("label").head(6).head(24)
    classes = frame["label"].astype("category").cat.codes.to_numpy()
    rows = np.arange(len(frame))
    candidate = resolve_candidate(str(tiny_bert))
    job = VerifyJob(
        candidate,
        describe(candidate),
        frame["text"].tolist(),
        classes,
        "classification",
        int(classes.max()) + 1,
        [rows[rows % 2 == 0]],
        [rows[rows % 2 == 1]],
        mode="head",
        epochs=1,
        threads=1,
    )
    executor = RayExecutor(1, address=cluster)
    try:
        found = executor.verify(job)
        with pytest.raises(NotVerifiable, match="no torch weights"):  # raised in the task
            baseline = resolve_candidate("baseline:tfidf")
            executor.verify(VerifyJob(**{**job.__dict__, "candidate": baseline}))
    finally:
        executor.close()
    assert np.array_equal(found.predictions, run_verify(job).predictions)


def test_an_address_that_does_not_answer_is_one_line_naming_it(small_csv, tmp_path):
    with socket.socket() as probe:  # a loopback port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    spec = quick_spec(small_csv, tmp_path, "x", executor="ray", address=address)
    with pytest.raises(UserError, match=f"Ray cluster at {address} does not answer"):
        executor_for(spec, None)


def test_the_cli_ranks_on_a_cluster_given_by_its_address(cluster, small_csv, factories, tmp_path):
    out = tmp_path / "out"
    args = ["rank", "--data", str(small_csv), "--output", str(out), "--quiet"]
    args += ["-c", "python:ray_factories:make", "--no-baseline", "--max-samples", "60"]
    args += ["--executor", "ray", "--address", cluster]
    result = CliRunner().invoke(app, args, env={"MODELSCOUT_STORE": str(tmp_path / "s.sqlite")})
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "results.json").read_text())["candidates"]
    assert [row["status"] for row in rows] == ["ranked"]


def test_without_ray_the_executor_name_says_what_to_install(small_csv, tmp_path):
    script = (
        "import sys; sys.modules['ray'] = None\n"
        "from modelscout.cli import app\n"
        f"app(['rank', '--data', {str(small_csv)!r}, '--output', {str(tmp_path)!r},"
        " '--executor', 'ray', '--quiet'])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'modelscout[ray]'" in lines[0], done.stderr
