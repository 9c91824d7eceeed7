"""modelscout monitor on images (issue #15: every modality the core supports): a tiny real ViT
watching handwritten digits against other digits of the same kind (no drift) and against the
same digits under heavy noise (drift), folders of class sub-folders as rank reads them."""

from __future__ import annotations

import shutil

import pytest
from PIL import Image

from modelscout import api
from modelscout.cli.demo import write_digits
from modelscout.data.perturb import perturb_images


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """reference/ and same/: 10 digits x 12 images each, alternate rows of scikit-learn's
    digits; noisy/: same/'s images under noise at severity 1."""
    root = tmp_path_factory.mktemp("digits")
    every = write_digits(root / "all", 24, 32)
    for folder in ("reference", "same", "noisy"):
        (root / folder).mkdir()
    for digit in sorted(p for p in every.iterdir() if p.is_dir()):
        files = sorted(digit.glob("*.png"))
        for index, path in enumerate(files):
            kept = root / ("reference" if index % 2 == 0 else "same") / digit.name
            kept.mkdir(exist_ok=True)
            shutil.copy(path, kept / path.name)
        same = sorted((root / "same" / digit.name).glob("*.png"))
        images = [Image.open(p).convert("RGB") for p in same]
        (root / "noisy" / digit.name).mkdir()
        for path, image in zip(same, perturb_images(images, "noise", 1.0, seed=0), strict=True):
            image.save(root / "noisy" / digit.name / path.name)
    return root


def _watch(digits, tiny_vit, current):
    return api.monitor(
        str(tiny_vit),
        digits / current,
        data=digits / "reference",
        store=digits / "store.sqlite",
        output=digits / f"out-{current}",
        folds=3,
        gpu="off",
    )


def test_images_of_one_kind_are_no_drift_and_noisy_ones_are(digits, tiny_vit):
    same = _watch(digits, tiny_vit, "same")
    assert same.modality == "image" and same.reference.rows == same.current.rows == 120
    assert same.verdict.level == "no drift", same.verdict.reasons
    assert (digits / "out-same" / "monitor.html").is_file()
    noisy = _watch(digits, tiny_vit, "noisy")
    assert noisy.reference.from_store  # the reference was encoded once, by the first call
    assert noisy.verdict.level != "no drift" and noisy.verdict.exit_code in (5, 6)
    assert noisy.overall.tests["mmd"].p_value < 0.01
