from pathlib import Path

import pytest

from modelscout.errors import UserError
from modelscout.spec import BASELINE_TFIDF, build_spec, load_spec


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_flags_override_the_spec_file_and_data_resolves_beside_it(tmp_path):
    spec_file = write(tmp_path, "data: d.csv\nseed: 3\nconstraints: {max_params: 100}\n")
    spec = build_spec(spec_file, seed=7, constraints={"max_memory_mb": 50})
    assert spec.seed == 7
    assert spec.data == tmp_path / "d.csv"
    assert spec.constraints.max_params == 100 and spec.constraints.max_memory_mb == 50


def test_unknown_setting_is_named_in_the_error(tmp_path):
    with pytest.raises(UserError, match=r"constraints\.max_latency: unknown setting"):
        load_spec(write(tmp_path, "data: d.csv\nconstraints: {max_latency: 3}\n"))


def test_malformed_yaml_names_the_line(tmp_path):
    with pytest.raises(UserError, match=r"not valid YAML at line \d+; fix its syntax"):
        load_spec(write(tmp_path, "data: d.csv\nseed: [1, 2\n"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"task": "classification", "target_transform": "log"}, "target_transform is for regr"),
        ({"task": "regression", "label_delimiter": ";"}, "label_delimiter is for multilabel"),
        ({"task": "classification", "quality_metric": "r2"}, "'r2' is not a classification"),
        ({"quality_metric": "f2"}, "unknown quality metric 'f2'; use one of accuracy"),
        ({"task": "ranking"}, "task: Input should be 'classification', 'multilabel' or"),
    ],
)
def test_task_settings_that_do_not_fit_the_task_are_one_line(settings, message):
    with pytest.raises(UserError, match=message):
        build_spec(data="d.csv", **settings)


def test_quality_metric_takes_short_and_full_names():
    assert build_spec(data="d.csv", task="regression", quality_metric="mae").quality_metric
    assert build_spec(data="d.csv", quality_metric="probe.micro_f1").task is None


def test_all_zero_weights_are_refused():
    with pytest.raises(UserError, match="all weights are 0"):
        build_spec(data="d.csv", weights={"quality": 0, "latency": 0, "memory": 0, "size": 0})


def test_missing_data_is_a_user_error():
    with pytest.raises(UserError, match="no data given"):
        build_spec(candidates=["x"])


def test_variants_are_derived_from_each_named_model_and_baseline_comes_last():
    spec = build_spec(data="d.csv", candidates=["a", "b+int8"], variants=["layers:3"])
    assert spec.all_candidates() == ["a", "b+int8", "a+layers:3", BASELINE_TFIDF]
    assert build_spec(data="d.csv", candidates=["a"], baseline=False).all_candidates() == ["a"]


def test_gpu_setting_takes_yaml_off_and_refuses_anything_but_auto_or_off(tmp_path):
    assert load_spec(write(tmp_path, "data: d.csv\ngpu: off\n")).gpu == "off"
    assert build_spec(data="d.csv").gpu == "auto"
    with pytest.raises(UserError, match="gpu: Input should be 'auto' or 'off'"):
        build_spec(data="d.csv", gpu="cuda")
