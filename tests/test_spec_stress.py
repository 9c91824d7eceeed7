"""stress: in the spec, and the robustness weight and max_quality_drop that need it."""

from __future__ import annotations

import pytest

from modelscout.errors import UserError
from modelscout.spec import Spec, build_spec


def _spec(**settings) -> Spec:
    return Spec.model_validate({"data": "x.csv", **settings})


def test_slices_are_given_as_names_with_an_optional_severity():
    spec = _spec(stress=["typos", "casing:0.5", {"kind": "blur", "severity": 0.8}])
    assert [p.name for p in spec.stress.perturbations] == ["typos:0.3", "casing:0.5", "blur:0.8"]
    assert [p.modality for p in spec.stress.perturbations] == ["text", "text", "image"]
    assert spec.stress.rows == 500
    assert _spec(stress={"perturbations": "typos:0.1", "rows": 50}).stress.rows == 50


@pytest.mark.parametrize(
    "stress, message",
    [
        (["typo"], "unknown perturbation 'typo'; use one of typos, char_noise"),
        (["typos:2"], "less than or equal to 1"),
        (["typos", "typos:0.3"], "perturbation typos:0.3 is named twice"),
        (["code_switching"], "code_switching needs a vocabulary"),
        ({"perturbations": []}, "at least 1 item"),
    ],
)
def test_a_bad_slice_is_one_line_naming_the_fix(stress, message):
    with pytest.raises(UserError, match="stress") as caught:
        build_spec(data="x.csv", stress=stress)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "settings, field",
    [
        ({"weights": {"robustness": 1}}, "weights.robustness"),
        ({"constraints": {"max_quality_drop": 0.1}}, "constraints.max_quality_drop"),
    ],
)
def test_robustness_needs_stress_slices(settings, field):
    with pytest.raises(UserError, match=f"{field} needs stress slices"):
        build_spec(data="x.csv", **settings)
    assert build_spec(data="x.csv", stress=["typos"], **settings).stress is not None
