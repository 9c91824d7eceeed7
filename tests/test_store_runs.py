"""Two real ``modelscout rank`` processes on one store at once."""

import json
import os
import sqlite3
import subprocess
import sys

import yaml
from conftest import rewrite_timings

from modelscout import build_spec, rank
from modelscout.report import build_results

QUICK = {"batch_sizes": [1], "max_samples": 60, "latency_budget_s": 0.2, "estimators": ["logme"]}


def test_two_runs_at_once_on_one_store_keep_everything_and_a_third_reuses_it(
    tmp_path, small_csv, tiny_bert, tiny_st, isolated_store
):
    spec_file = tmp_path / "quick.yaml"
    spec_file.write_text(yaml.safe_dump(QUICK))

    def command(out, *candidates):
        args = ["rank", "--spec", spec_file, "--data", small_csv, "--store", isolated_store]
        args += ["--output", out, "--quiet"] + [a for c in candidates for a in ("-c", c)]
        return [sys.executable, "-m", "modelscout", *map(str, args)]

    # The two share the TF-IDF baseline (its rows written by both) and one model each.
    runs = [
        subprocess.Popen(
            command(tmp_path / name, model), env=os.environ.copy(), stderr=subprocess.PIPE
        )
        for name, model in (("a", tiny_bert), ("b", tiny_st))
    ]
    errors = [process.communicate(timeout=300)[1].decode() for process in runs]
    assert [process.returncode for process in runs] == [0, 0], errors
    first = [json.loads((tmp_path / name / "results.json").read_text()) for name in "ab"]
    for results in first:
        assert {c["status"] for c in results["candidates"]} == {"ranked"}
        assert results["run"]["measured"] + results["run"]["reused"] == sum(
            len(c["metrics"]) for c in results["candidates"]
        )
    db = sqlite3.connect(isolated_store)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()

    rewrite_timings(isolated_store, reliable=True, p50_ci_relative=0.0)  # settled: replayable
    spec = build_spec(spec_file, data=small_csv, candidates=[str(tiny_bert), str(tiny_st)])
    results = build_results(rank(spec))
    assert results["run"]["measured"] == 0
    assert results["run"]["reused"] == sum(len(c["metrics"]) for c in results["candidates"])
    # every figure of the two runs is one the third read back (the baseline, in both, was
    # measured twice at once: the row that stays is one of the two)
    later = {c["id"]: c["metrics"] for c in results["candidates"]}
    seen = {}
    for earlier in first:
        for candidate in earlier["candidates"]:
            for name, metric in candidate["metrics"].items():
                seen.setdefault((candidate["id"], name), []).append(metric["value"])
    assert set(seen) == {(c, n) for c, metrics in later.items() for n in metrics}
    for (cid, name), values in seen.items():
        assert later[cid][name]["value"] in values, (cid, name)
