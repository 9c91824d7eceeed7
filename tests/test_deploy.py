"""Deployment paths: the int8 variant (ONNX Runtime), the ONNX export (dynamo exporter), the
models kept with keep_artifacts, and warnings left to the user."""

import logging
import subprocess
import sys
import warnings

import numpy as np
import pytest
import yaml
from conftest import rewrite_timings
from typer.testing import CliRunner

from modelscout import build_spec, rank
from modelscout.backends.onnx import OnnxEncoder, export, int8_files
from modelscout.backends.text import load_text_encoder
from modelscout.backends.variants import parse_variant
from modelscout.catalog.candidate import describe, resolve_candidate
from modelscout.cli import app
from modelscout.errors import UserError
from modelscout.report import build_results
from modelscout.report.markdown import render_markdown

TEXTS = [
    "my order never arrived and I want a refund",
    "la aplicación se cierra al abrir la factura",
    "how do I change the password of my account",
    "das Paket kam beschädigt an",
    "the invoice shows the wrong amount twice",
    "can I upgrade my plan in the middle of the month",
]


def load(model_path):
    candidate = resolve_candidate(str(model_path))
    return load_text_encoder(candidate, describe(candidate))


def agreement(found: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(max abs difference, min cosine similarity) between two (N, D) feature sets."""
    cosine = (found * reference).sum(1) / (
        np.linalg.norm(found, axis=1) * np.linalg.norm(reference, axis=1)
    )
    return float(np.abs(found - reference).max()), float(cosine.min())


def test_int8_variant_encodes_close_to_fp32_and_logs_no_noise(tiny_st, caplog):
    fp32 = load(tiny_st)
    reference = fp32.encode(TEXTS)
    with caplog.at_level(logging.WARNING):
        files = int8_files(fp32)
    assert not caplog.records, [r.getMessage()[:120] for r in caplog.records]
    quantized = files.load(threads=1)
    assert isinstance(quantized, OnnxEncoder) and files.kept == {}
    assert not files.path.exists()  # a temporary file, removed once loaded
    features = quantized.encode(TEXTS, batch_size=4)
    assert features.shape == reference.shape and features.dtype == np.float32
    largest, cosine = agreement(features, reference)
    # int8 rounds every weight: close to fp32 but not equal to it
    assert 0 < largest < 0.1 and cosine > 0.99, (largest, cosine)
    timed, seconds = quantized.encode_timed(TEXTS, batch_size=4)
    assert agreement(timed, reference)[1] > 0.99 and len(seconds) == 2
    assert quantized.token_lengths(TEXTS).tolist() == fp32.token_lengths(TEXTS).tolist()


def test_int8_of_a_model_with_its_own_head_is_a_failed_row(small_csv, tiny_classifier):
    spec = build_spec(
        data=small_csv,
        candidates=[f"{tiny_classifier}+int8"],
        baseline=False,
        batch_sizes=[1],
        latency_budget_s=0.2,
    )
    row = build_results(rank(spec))["candidates"][0]
    assert row["status"] == "failed"
    assert row["reason"].startswith("int8: the ONNX path covers sentence encoders only")


def test_int8_without_the_onnx_extra_is_refused_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if it were not installed
    with pytest.raises(UserError, match=r"needs onnxscript: pip install 'modelscout\[onnx\]'"):
        parse_variant("int8")
    assert str(parse_variant("layers:2")) == "layers:2"


def test_onnx_export_uses_the_maintained_exporter_without_deprecation_warnings(tiny_st, tmp_path):
    encoder = load(tiny_st)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = export(encoder, tmp_path)
    noisy = [w for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    assert not noisy, [str(w.message)[:120] for w in noisy]
    session = OnnxEncoder(path, encoder, threads=1)
    largest, _ = agreement(session.encode(TEXTS), encoder.encode(TEXTS))
    assert largest < 1e-4


def test_keep_artifacts_keeps_the_exported_models_and_results_point_to_them(
    small_csv, tiny_st, tmp_path
):
    kept_in = tmp_path / "kept"
    spec = build_spec(
        data=small_csv,
        candidates=[str(tiny_st), f"{tiny_st}+int8"],
        baseline=False,
        onnx=True,
        keep_artifacts=kept_in,
        batch_sizes=[1],
        latency_budget_s=0.2,
        max_samples=60,
    )
    results = build_results(rank(spec))
    rows = {c["id"]: c for c in results["candidates"]}
    assert results["schema_version"] == "1.9"
    assert {c["status"] for c in rows.values()} == {"ranked"}, rows
    fp32, int8 = rows[str(tiny_st)], rows[f"{tiny_st}+int8"]
    assert set(fp32["artifacts"]) == {"onnx"} and set(int8["artifacts"]) == {"onnx", "int8"}
    for row in (fp32, int8):
        for path in row["artifacts"].values():
            assert path.startswith(str(kept_in.resolve())) and path.endswith(".onnx")
            assert OnnxEncoder(path, load(tiny_st), threads=1).encode(TEXTS).shape == (6, 32)
    assert fp32["metrics"]["deploy.onnx_ok"]["value"] == 1.0
    assert "already runs in ONNX Runtime" in int8["metrics"]["deploy.onnx_ok"]["detail"]["reason"]
    deployment = render_markdown(results).split("## Deployment")[1]
    assert "| not run: the int8 variant already runs in ONNX Runtime |" in deployment
    assert "fail:" not in deployment
    assert len({str(p.parent) for p in kept_in.glob("*/*.onnx")}) == 2  # a folder per candidate


def test_kept_models_deleted_since_the_last_run_are_written_again(
    small_csv, tiny_bert, tmp_path, isolated_store
):
    spec = build_spec(
        data=small_csv,
        candidates=[str(tiny_bert)],
        baseline=False,
        onnx=True,
        keep_artifacts=tmp_path / "kept",
        batch_sizes=[1],
        latency_budget_s=0.2,
    )
    first = build_results(rank(spec))["candidates"][0]["artifacts"]["onnx"]
    rewrite_timings(isolated_store, reliable=True, p50_ci_relative=0.0)  # settled: replayable
    assert build_results(rank(spec))["run"]["measured"] == 0  # all from the store
    (tmp_path / "kept" / first).unlink()
    again = build_results(rank(spec))
    assert again["candidates"][0]["artifacts"]["onnx"] == first and (tmp_path / first).is_file()
    assert again["run"]["measured"] > 0


def test_results_have_no_artifacts_when_none_were_asked_for(small_csv, tiny_bert, tmp_path):
    spec = build_spec(
        data=small_csv, candidates=[str(tiny_bert)], batch_sizes=[1], latency_budget_s=0.2
    )
    assert all(c["artifacts"] is None for c in build_results(rank(spec))["candidates"])


def test_unwritable_keep_artifacts_folder_is_a_one_line_error(small_csv, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        yaml.safe_dump({"data": str(small_csv), "keep_artifacts": str(blocker / "models")})
    )
    result = CliRunner().invoke(app, ["rank", "--spec", str(spec_file), "--output", tmp_path])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"folder {blocker / 'models'}" in lines[0], lines


def test_warnings_from_the_libraries_still_reach_the_user_after_a_model_is_loaded(tiny_st):
    # In a fresh interpreter, with Python's default filters (pytest installs its own).
    script = (
        "import sys, warnings\n"
        "from modelscout.backends.text import load_text_encoder\n"
        "from modelscout.catalog.candidate import describe, resolve_candidate\n"
        "candidate = resolve_candidate(sys.argv[1])\n"
        "load_text_encoder(candidate, describe(candidate)).encode(['a test'])\n"
        "for category in (FutureWarning, UserWarning):\n"
        "    warnings.warn_explicit(f'note {category.__name__}', category, 'modeling_utils.py',\n"
        "                           1, module='transformers.modeling_utils')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tiny_st)], capture_output=True, text=True, check=True
    )
    assert "FutureWarning: note FutureWarning" in done.stderr, done.stderr[-2000:]
    assert "UserWarning: note UserWarning" in done.stderr, done.stderr[-2000:]
