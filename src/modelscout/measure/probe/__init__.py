"""Cross-validated probes on frozen features, one module per task (``PROBES`` by task)."""

from modelscout.measure.probe.base import (
    PROBES,
    ProbeJob,
    TaskProbe,
    cross_validate_many,
    probe_measurements,
    register_probe,
)
from modelscout.measure.probe.classification import (
    PROBE_NAMES,
    PROBE_VERSION,
    ProbeResult,
    cross_validate,
    linear_probe,
)
from modelscout.measure.probe.multilabel import MultilabelProbe
from modelscout.measure.probe.regression import RegressionProbe

__all__ = [
    "PROBES",
    "PROBE_NAMES",
    "PROBE_VERSION",
    "ProbeJob",
    "ProbeResult",
    "MultilabelProbe",
    "RegressionProbe",
    "TaskProbe",
    "cross_validate",
    "cross_validate_many",
    "linear_probe",
    "probe_measurements",
    "register_probe",
]
