"""Bad input is told before anything slow: no scikit-learn, SciPy, matplotlib or torch yet."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("sklearn", "scipy", "matplotlib", "torch", "transformers")

CHECK = """
import sys
import modelscout
from modelscout.errors import UserError
spec = modelscout.build_spec(data=sys.argv[1], candidates=sys.argv[2:])
try:
    modelscout.rank(spec)
except UserError as error:
    print(error)
    print(",".join(m for m in {heavy!r} if m in sys.modules) or "none")
"""


def _rank_in_a_fresh_process(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", CHECK.format(heavy=HEAVY), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout.strip().splitlines()


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        ("body,label\nhello,a\nworld,b\n", "no text column 'text'"),
        ("text,label\nhello,a\nworld,a\n", "only one class"),
    ],
)
def test_a_data_error_comes_before_any_heavy_import(tmp_path, rows, error):
    data = tmp_path / "bad.csv"
    data.write_text(rows)
    message, imported = _rank_in_a_fresh_process(data)
    assert error in message and imported == "none"


def test_a_candidate_error_comes_before_any_heavy_import(tmp_path, tiny_bert):
    data = tmp_path / "ok.csv"
    data.write_text("text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(20)))
    message, imported = _rank_in_a_fresh_process(data, f"{tiny_bert}+layers:9")
    assert "layers:9 keeps every layer" in message and imported == "none"
