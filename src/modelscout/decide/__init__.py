"""From measurements to a decision: criteria, ranking, Pareto set, and every sentence.

criteria.py (the criteria and their normalisation), rank.py (the weighted ranking, its
sensitivity, ``decide``), pareto.py, rationale.py (every sentence), variants.py,
stability.py, compare.py (what changed between two runs), confusions.py (the most confused
class pairs in sentences), records.py (``Row``, ``Decision``, ``LongTail``, ``Confusion``).
"""

from modelscout.decide.confusions import confusion_sentence, confusions
from modelscout.decide.criteria import CRITERIA, Criterion, normalized_criteria, weighted_scores
from modelscout.decide.pareto import PARETO_AXES, pareto_front
from modelscout.decide.rank import decide, sensitivity
from modelscout.decide.rationale import long_tail, long_tail_classes, timing_warnings
from modelscout.decide.records import Confusion, Decision, LongTail, Row
from modelscout.decide.stability import transferability_stability
from modelscout.decide.variants import variant_comparisons

__all__ = [
    "CRITERIA",
    "PARETO_AXES",
    "Confusion",
    "Criterion",
    "Decision",
    "LongTail",
    "Row",
    "decide",
    "confusion_sentence",
    "confusions",
    "long_tail",
    "long_tail_classes",
    "normalized_criteria",
    "pareto_front",
    "sensitivity",
    "timing_warnings",
    "transferability_stability",
    "variant_comparisons",
    "weighted_scores",
]
