"""Write the built-in demo's data, src/modelscout/examples/intents.csv, from CLINC150.

CLINC150 (Larson et al., EMNLP 2019, CC BY 3.0) is read from ../shared/datasets/clinc150_small.json
(keys train/val/test/oos_*, each a list of [text, intent]). The demo keeps a few hundred rows so
it ranks in about a minute: 14 banking, credit-card and travel intents chosen in confusable
groups (credit_limit vs credit_limit_change, bill_balance vs bill_due vs pay_bill, travel_alert vs
travel_notification, ...), and 25 `train` rows of each, drawn with a fixed seed. On these the
TF-IDF baseline falls clearly behind the sentence encoder (docs/decisions.md has the figures).
Run from the repository root:

    python tools/make_demo_data.py [path/to/clinc150_small.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "datasets" / "clinc150_small.json"
TARGET = ROOT / "src" / "modelscout" / "examples" / "intents.csv"
INTENTS = [
    "bill_balance",
    "bill_due",
    "credit_limit",
    "credit_limit_change",
    "credit_score",
    "improve_credit_score",
    "new_card",
    "pay_bill",
    "redeem_rewards",
    "replacement_card_duration",
    "report_lost_card",
    "rewards_balance",
    "travel_alert",
    "travel_notification",
]
ROWS_PER_INTENT = 25
SEED = 0


def demo_rows(source: Path) -> pd.DataFrame:
    """``ROWS_PER_INTENT`` train rows of each of ``INTENTS``, shuffled; columns text, label."""
    train = pd.DataFrame(json.loads(source.read_text(encoding="utf-8"))["train"])
    train.columns = ["text", "label"]
    chosen = train[train["label"].isin(INTENTS)].groupby("label", group_keys=False)
    picked = chosen.sample(n=ROWS_PER_INTENT, random_state=SEED)
    return picked.sample(frac=1, random_state=SEED).reset_index(drop=True)


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else SOURCE
    demo_rows(source).to_csv(TARGET, index=False)
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
