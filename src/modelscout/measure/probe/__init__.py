"""Cross-validated probes on frozen features, one module per task."""

from modelscout.measure.probe.classification import (
    PROBE_NAMES,
    PROBE_VERSION,
    ProbeJob,
    ProbeResult,
    cross_validate,
    cross_validate_many,
    linear_probe,
    probe_measurements,
)

__all__ = [
    "PROBE_NAMES",
    "PROBE_VERSION",
    "ProbeJob",
    "ProbeResult",
    "cross_validate",
    "cross_validate_many",
    "linear_probe",
    "probe_measurements",
]
