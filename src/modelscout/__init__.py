"""modelscout: choose the right pre-trained model for your task, your data and your machine.

import modelscout
spec = modelscout.load_spec("spec.yaml")
decision = modelscout.rank(spec)
print(decision.recommendation, decision.rationale)
"""

__version__ = "0.1.0"

from modelscout.api import rank, rank_and_report  # noqa: E402
from modelscout.spec import Spec, build_spec, load_spec  # noqa: E402

__all__ = ["Spec", "__version__", "build_spec", "load_spec", "rank", "rank_and_report"]
