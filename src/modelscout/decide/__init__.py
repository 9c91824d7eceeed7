"""From measurements to a decision: criteria, ranking, Pareto set, and every sentence.

criteria.py (the criteria and their normalisation), rank.py (the weighted ranking, its
sensitivity, ``decide``), pareto.py, rationale.py (every sentence), variants.py,
stability.py, compare.py (what changed between two runs), confusions.py (the most confused
class pairs in sentences), baselines.py (whether a candidate beats the baselines and the mean
predictor), records.py (``Row``, ``Decision``, ``LongTail``, ``Confusion``). Quality is the
run's quality metric (``metrics.quality_metric``), in every part.
"""

from modelscout.data.tail import long_tail_classes
from modelscout.decide.baselines import MEAN_PREDICTOR
from modelscout.decide.confusions import confusion_sentence, confusions
from modelscout.decide.criteria import (
    Criterion,
    criteria_for,
    normalized_criteria,
    weighted_scores,
)
from modelscout.decide.pareto import pareto_axes, pareto_front
from modelscout.decide.rank import decide, run_quality, sensitivity
from modelscout.decide.rationale import long_tail, timing_warnings
from modelscout.decide.records import Confusion, Decision, LongTail, Row
from modelscout.decide.stability import transferability_stability
from modelscout.decide.variants import variant_comparisons

__all__ = [
    "MEAN_PREDICTOR",
    "Confusion",
    "Criterion",
    "Decision",
    "LongTail",
    "Row",
    "criteria_for",
    "decide",
    "confusion_sentence",
    "confusions",
    "long_tail",
    "long_tail_classes",
    "normalized_criteria",
    "pareto_axes",
    "pareto_front",
    "run_quality",
    "sensitivity",
    "timing_warnings",
    "transferability_stability",
    "variant_comparisons",
    "weighted_scores",
]
