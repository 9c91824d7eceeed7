"""Perturbations for stress slices (data/perturb.py): each changes what it says, as much as
its severity asks, the same way on every run."""

import numpy as np
import pytest
from PIL import Image

from modelscout.data.perturb import IMAGE, TEXT, perturb_images, perturb_texts

TEXTS = [
    "how do i activate my new card before my trip",
    "Why was my transfer to another account declined yesterday",
    "what is the exchange rate for euros",
] * 20


@pytest.mark.parametrize("kind", sorted(TEXT))
def test_every_text_perturbation_is_seeded_per_row_and_changes_the_text(kind):
    options = {"vocabulary": ["tarjeta", "cuenta", "pago"]} if kind == "code_switching" else {}
    once = perturb_texts(TEXTS, kind, 0.6, seed=1, **options)
    assert once == perturb_texts(TEXTS, kind, 0.6, seed=1, **options)
    assert sum(a != b for a, b in zip(once, TEXTS, strict=True)) > len(TEXTS) / 3
    # a row is perturbed the same way whatever rows come with it
    assert perturb_texts(TEXTS[:1], kind, 0.6, seed=1, **options)[0] == once[0]


def test_more_severity_changes_more():
    def changed(kind, severity):
        found = perturb_texts(TEXTS, kind, severity, seed=0)
        return sum(
            sum(x != y for x, y in zip(a.split(), b.split(), strict=False))
            + abs(len(a.split()) - len(b.split()))
            for a, b in zip(found, TEXTS, strict=True)
        )

    for kind in ("typos", "drop_words", "duplicate_words", "truncation"):
        assert changed(kind, 0.2) < changed(kind, 0.8), kind


def test_truncation_and_casing_do_what_they_say():
    assert perturb_texts(["a b c d e f g h i j"], "truncation", 0.7, 0) == ["a b c"]
    assert perturb_texts(["Card Declined"], "casing", 0.9, 0) == ["CARD DECLINED"]
    assert perturb_texts(["Card Declined"], "casing", 0.1, 0) == ["card declined"]


@pytest.mark.parametrize("kind", sorted(IMAGE))
def test_every_image_perturbation_keeps_the_size_changes_the_pixels_and_is_seeded(kind):
    rng = np.random.default_rng(0)
    pixels = np.clip(rng.normal(128, 40, size=(32, 32, 3)), 0, 255).astype(np.uint8)
    pixels[8:24, 8:24] = 250  # a shape, so that blur and rotation have something to move
    image = Image.fromarray(pixels)
    once = perturb_images([image], kind, 0.7, seed=3)[0]
    again = perturb_images([image], kind, 0.7, seed=3)[0]
    assert once.size == image.size
    out = np.asarray(once.convert("RGB"), dtype=float)
    assert np.abs(out - pixels).mean() > 2.0, kind
    assert np.array_equal(out, np.asarray(again.convert("RGB"), dtype=float))
