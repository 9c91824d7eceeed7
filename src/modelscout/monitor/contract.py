"""monitor.json as a typed model: what docs/monitor.md documents and ``modelscout monitor``
writes. Its own ``schema_version`` (not results.json's): a field added later gets a default,
so older files still validate. Every part forbids unknown keys."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# The tests a section may hold, in the order the reports list them (measure/drift.py's names)
TEST_ORDER = ("mmd", "classifier", "per_dimension", "psi", "estimated_accuracy")

SCHEMA_VERSION = "1.0"


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TestResult(_Closed):
    """One drift statistic (measure/drift.py's ``Test``)."""

    name: str = Field(description="mmd, classifier, per_dimension, psi or estimated_accuracy")
    statistic: float
    p_value: float | None = Field(description="null for psi and estimated_accuracy")
    detail: dict[str, Any] = Field(description="what it was run on (per test)")


class VerdictResult(_Closed):
    level: str = Field(description="no drift, drift or retrain recommended")
    exit_code: int = Field(description="0, 5 or 6")
    alpha: float = Field(description="the family-wise false-alarm rate it was judged at")
    reasons: list[str] = Field(description="one sentence per test that counted")


class Section(_Closed):
    """The tests on every row, or on one slice's rows."""

    column: str | None = Field(None, description="the slice column; null for every row")
    value: str | None = Field(None, description="the slice value; null for every row")
    rows: list[int] = Field(description="[reference rows, current rows]")
    tests: dict[str, TestResult]
    verdict: VerdictResult


class DataSet(_Closed):
    source: str
    fingerprint: str
    rows: int
    labelled: bool
    from_store: bool = Field(description="its features were read from the store, not encoded")


class Model(_Closed):
    id: str = Field(description="as given to --model (or the results.json's recommendation)")
    key: str = Field(description="source:revision+variants: what its features are stored by")
    source: str
    from_results: str | None = Field(None, description="the results.json it was read from")


class Rerank(_Closed):
    """``--rerank``: the selection run again on the current rows."""

    data: str
    recommendation: str | None
    chosen_still_wins: bool
    ranked: list[str] = Field(description="the ranked candidates, best first")
    sentence: str


class Tool(_Closed):
    name: str
    version: str


class MonitorReport(_Closed):
    """monitor.json."""

    schema_version: str
    tool: Tool
    created: str = Field(description="ISO 8601, UTC")
    model: Model
    modality: str
    task: str | None = Field(description="the reference labels' task; null without labels")
    reference: DataSet
    current: DataSet
    min_rows: int = Field(description="rows per set (and per slice) the tests need")
    verdict: VerdictResult = Field(description="overall: every row and every slice")
    overall: Section
    slices: list[Section]
    skipped_slices: list[str] = Field(description="why each slice value was not tested")
    rerank: Rerank | None = None
    notes: list[str]
