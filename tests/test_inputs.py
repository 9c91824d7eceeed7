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


def test_the_cli_refuses_a_max_samples_below_classes_times_folds_in_one_line(tmp_path):
    data = tmp_path / "many.csv"
    data.write_text("text,label\n" + "".join(f"t{i},c{i % 1000}\n" for i in range(4000)))
    done = subprocess.run(
        [sys.executable, "-m", "modelscout", "rank", "--data", str(data), "--max-samples", "300"]
        + ["--folds", "3", "--output", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "error: max_samples 300 is below the 3,000 rows that 3-fold cross-validation on "
        "1,000 classes needs; raise --max-samples to 3000 or lower --folds"
    )
    assert not (tmp_path / "out").exists()
