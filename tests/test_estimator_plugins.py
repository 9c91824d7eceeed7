"""Third-party estimators: real entry points in the ``modelscout.estimators`` group.

Each test writes a small installed distribution (a module plus its ``.dist-info`` with an
``entry_points.txt``) into a temporary folder on ``sys.path``, as pip would leave it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from modelscout import build_spec
from modelscout.errors import UserError
from modelscout.measure.transferability import registry
from modelscout.measure.transferability.logme import logme
from modelscout.measure.transferability.names import known_estimator_names
from modelscout.transferability import ESTIMATORS, HEAD_ESTIMATORS, get_estimator

SRC = Path(__file__).resolve().parents[1] / "src"

CENTROID_GAP = '''
import numpy as np


def centroid_gap(features, labels):
    """Spread of the class centroids over the spread of the features."""
    features, labels = np.asarray(features, dtype=float), np.asarray(labels)
    centroids = np.stack([features[labels == c].mean(axis=0) for c in np.unique(labels)])
    return float(centroids.std(axis=0).sum() / features.std(axis=0).sum())
'''

HEAD_AGREEMENT = """
import numpy as np

from modelscout.measure.transferability.registry import Estimator


def _agreement(source_probs, labels):
    return float(np.mean(np.asarray(source_probs).argmax(axis=1) == np.asarray(labels)))


AGREEMENT = Estimator(
    "head_agreement", _agreement, "fraction", needs="source_probs", label="head agreement"
)
"""

Installer = Callable[[str, str, dict[str, str]], None]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Installer]:
    """Installs distributions into ``tmp_path`` (on ``sys.path``); the registry forgets them."""
    modules: list[str] = []

    def installer(module: str, source: str, entry_points: dict[str, str]) -> None:
        (tmp_path / module).mkdir()
        (tmp_path / module / "__init__.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{module}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[modelscout.estimators]\n{lines}")
        modules.append(module)

    monkeypatch.syspath_prepend(str(tmp_path))
    registry.clear_plugin_cache()
    yield installer
    registry.clear_plugin_cache()
    for module in modules:
        sys.modules.pop(module, None)


def _clusters(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], 30)
    return rng.normal(size=(3, 8))[labels] + rng.normal(size=(90, 8)), labels


def test_plugin_function_is_listed_with_default_record_and_runs(install):
    install("gapplugin", CENTROID_GAP, {"centroid_gap": "gapplugin:centroid_gap"})
    features, labels = _clusters()
    estimator = ESTIMATORS["centroid_gap"]
    assert list(ESTIMATORS)[-1] == "centroid_gap"
    assert (estimator.unit, estimator.direction, estimator.needs) == ("score", "higher", "features")
    assert estimator.tasks == ("classification",) and estimator.label == "centroid_gap"
    score = estimator(features, labels)
    assert type(score) is float and score > estimator(features, np.roll(labels, 1))
    assert "centroid_gap" not in HEAD_ESTIMATORS


def test_plugin_estimator_record_keeps_what_it_declares(install):
    install("headplugin", HEAD_AGREEMENT, {"head_agreement": "headplugin:AGREEMENT"})
    estimator = HEAD_ESTIMATORS["head_agreement"]
    assert (estimator.unit, estimator.needs, estimator.label) == (
        "fraction",
        "source_probs",
        "head agreement",
    )
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert estimator(probs, [0, 1, 1, 1]) == 0.75


def test_spec_accepts_a_plugin_name_and_lists_it_when_rejecting_another(install):
    install("gapplugin", CENTROID_GAP, {"centroid_gap": "gapplugin:centroid_gap"})
    spec = build_spec(data="d.csv", estimators=["centroid_gap", "logme", "centroid_gap"])
    assert spec.estimators == ["centroid_gap", "logme"]
    with pytest.raises(
        UserError, match="unknown estimator 'centroid_gapp'; use any of .*nce, centroid_gap"
    ):
        build_spec(data="d.csv", estimators=["centroid_gapp"])


def test_broken_plugin_is_one_warning_naming_it_and_the_others_still_load(install):
    install(
        "mixedplugin",
        CENTROID_GAP + "NOT_AN_ESTIMATOR = 3\n",
        {
            "centroid_gap": "mixedplugin:centroid_gap",
            "vanished": "mixedplugin.gone:score",
            "constant": "mixedplugin:NOT_AN_ESTIMATOR",
        },
    )
    with pytest.warns(registry.EstimatorPluginWarning) as caught:
        available = list(ESTIMATORS)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert messages[0].startswith("estimator plugin 'constant' (mixedplugin:NOT_AN_ESTIMATOR)")
    assert "neither an Estimator nor a function" in messages[0]
    assert messages[1].startswith("estimator plugin 'vanished' (mixedplugin.gone:score)")
    assert "ModuleNotFoundError" in messages[1]
    assert available[-1] == "centroid_gap" and "logme" in available
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loaded once: reading again warns no more
        assert "vanished" not in ESTIMATORS
    with pytest.raises(UserError, match="'vanished' is installed but its plugin failed to load"):
        get_estimator("vanished")


def test_plugin_cannot_replace_a_builtin_estimator(install):
    install("impostor", CENTROID_GAP, {"logme": "impostor:centroid_gap"})
    with pytest.warns(registry.EstimatorPluginWarning, match="'logme' is a built-in estimator"):
        assert ESTIMATORS["logme"].function is logme
    assert known_estimator_names().count("logme") == 1


def test_spec_check_reads_plugin_names_without_importing_any_estimator(install, tmp_path):
    install("gapplugin", CENTROID_GAP, {"centroid_gap": "gapplugin:centroid_gap"})
    check = (
        "import sys\n"
        "from modelscout.spec import build_spec\n"
        "build_spec(data='d.csv', estimators=['centroid_gap', 'logme'])\n"
        "print(sorted({'scipy', 'sklearn', 'numpy', 'gapplugin'} & set(sys.modules)))\n"
    )
    path = os.pathsep.join([str(SRC), str(tmp_path)])
    done = subprocess.run(
        [sys.executable, "-c", check],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"
