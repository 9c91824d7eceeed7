"""How well an estimator's scores rank candidates against their fine-tuned results."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from modelscout.measure.validation import check_vector


def evaluate_ranking(scores: ArrayLike, truth: ArrayLike) -> dict[str, float | bool]:
    r"""How well estimator scores rank candidate models against their true fine-tuned results.

    - ``weighted_tau``: weighted Kendall :math:`\tau_w` (Vigna, "A Weighted Correlation
      Index for Rankings with Ties", WWW 2015) with hyperbolic weights
      :math:`1/(r+1)`, so disagreements among the top candidates cost most
      (``scipy.stats.weightedtau``, the usual metric since LogME).
    - ``pearson``: Pearson correlation of scores and truth.
    - ``top1_regret``: :math:`\max_j t_j - t_{\arg\max_j s_j}`, what choosing the
      best-scored candidate loses against the best one, in the truth's unit; >= 0, 0 when
      the best-scored candidate is a truly best one.
    - ``top3_hit``: whether some truly best candidate is among the three best-scored.

    Correlations are NaN when scores or truth are constant.

    Shape:
        - scores: (M,) one estimator score per candidate, higher is better
        - truth: (M,) the measured result per candidate (e.g. fine-tuned accuracy)
    """
    s = check_vector(scores, "scores")
    t = check_vector(truth, "truth", len(s))
    constant = np.ptp(s) == 0 or np.ptp(t) == 0
    top3 = np.argsort(-s, kind="stable")[:3]
    return {
        "weighted_tau": float("nan") if constant else float(stats.weightedtau(s, t).statistic),
        "pearson": float("nan") if constant else float(stats.pearsonr(s, t).statistic),
        "top1_regret": float(t.max() - t[np.argmax(s)]),
        "top3_hit": bool(np.any(t[top3] == t.max())),
    }
