import numpy as np

from modelscout.store import Measurement, Store


def test_measurements_and_features_round_trip_and_are_keyed_by_settings(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.put_features(
            "cand",
            "data",
            "1",
            np.arange(6, dtype=np.float32).reshape(2, 3),
            Measurement("latency.p95_ms@1", 4.2, "ms", settings={"batch": 1}),
        )
        store.put(
            "cand",
            "data",
            Measurement(
                "probe.macro_f1",
                0.8,
                "fraction",
                0.01,
                {"folds": 5},
                detail={"per_class_f1": {"a": 1.0}},
            ),
        )
    with Store(tmp_path / "s.sqlite") as store:
        found = store.get("cand", "data", "probe.macro_f1", "1", {"folds": 5})
        assert (found.value, found.spread, found.reused) == (0.8, 0.01, True)
        assert found.detail == {"per_class_f1": {"a": 1.0}}
        assert store.get("cand", "data", "probe.macro_f1", "1", {"folds": 3}) is None
        assert store.get("cand", "other-data", "probe.macro_f1", "1", {"folds": 5}) is None
        assert store.get("cand", "data", "latency.p95_ms@1", "1", {"batch": 1}).value == 4.2
        assert store.get_features("cand", "data", "1").tolist() == [[0, 1, 2], [3, 4, 5]]
        assert store.get_features("cand", "data", "2") is None
