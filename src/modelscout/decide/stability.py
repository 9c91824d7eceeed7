"""Did each transferability estimator's ranking settle before the whole sample?"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import kendalltau

from modelscout.decide.records import Row

FULL = "1.0"
HALF = 0.5


def transferability_stability(rows: list[Row], estimators: list[str]) -> list[dict[str, Any]]:
    """Did each estimator's ranking of the candidates settle before the whole sample?

    From the values on nested subsamples (``detail.subsamples``): the top candidate and
    Kendall's tau against the full-sample ranking at each fraction. "Settled" means the half
    sample already picks the same top candidate and orders the rest nearly alike (tau >= 0.8).
    """
    out = []
    for name in estimators:
        scored = [
            r
            for r in rows
            if name in r.outcome.measurements
            and (r.outcome.measurements[name].detail or {}).get("subsamples")
        ]
        if len(scored) < 2:
            continue
        values = {r.id: r.outcome.measurements[name].detail["subsamples"] for r in scored}
        fractions = sorted({f for v in values.values() for f in v}, key=float)
        if FULL not in fractions:
            continue
        full = [values[cid].get(FULL) for cid in values]
        top, tau = {}, {}
        for fraction in fractions:
            column = [values[cid].get(fraction) for cid in values]
            if any(v is None for v in column + full):
                continue
            top[fraction] = list(values)[int(np.argmax(column))]
            tau[fraction] = float(kendalltau(column, full).statistic)
        half = next((f for f in fractions if float(f) == HALF), None)
        settled = half in top and top[half] == top[FULL] and tau[half] >= 0.8
        out.append({"estimator": name, "top": top, "kendall_tau_vs_full": tau, "settled": settled})
    return out
