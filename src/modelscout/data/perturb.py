"""Perturbations of the user's own rows, for stress slices (issue #15): what the inputs of an
operation look like when they are worse than the evaluation data.

Text: typos (a character swapped, dropped, doubled or replaced by a keyboard neighbour),
character noise (any character replaced), casing, truncation, dropped or duplicated words,
and code-switching (words replaced by words from another vocabulary: the data's other
languages). Images (Pillow): blur, noise, JPEG compression, brightness, contrast, rotation,
downscaling. Each takes a ``severity`` in (0, 1] and a NumPy generator, so that a slice is
the same rows perturbed the same way on every run (seed per row: ``perturb_texts``).

Written by hand: nlpaug and TextAttack do this for text but pull model downloads and NLTK data
for their default augmenters; the character-level ones are a few lines each.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from io import BytesIO
from typing import Any

import numpy as np

# QWERTY neighbours: a typo is mostly the key next to the right one
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
NEIGHBOURS = {
    key: "".join(
        _ROWS[r2][c2]
        for r2 in range(max(0, r - 1), min(len(_ROWS), r + 2))
        for c2 in range(max(0, c - 1), c + 2)
        if c2 < len(_ROWS[r2]) and (r2, c2) != (r, c)
    )
    for r, row in enumerate(_ROWS)
    for c, key in enumerate(row)
}


def _typo(word: str, rng: np.random.Generator) -> str:
    if len(word) < 2:
        return word
    i = int(rng.integers(0, len(word) - 1))
    kind = int(rng.integers(0, 4))
    if kind == 0:  # two neighbouring characters swapped
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:  # one dropped
        return word[:i] + word[i + 1 :]
    if kind == 2:  # one doubled
        return word[: i + 1] + word[i] + word[i + 1 :]
    near = NEIGHBOURS.get(word[i].lower())
    if not near:
        return word
    return word[:i] + near[int(rng.integers(0, len(near)))] + word[i + 1 :]


def typos(text: str, severity: float, rng: np.random.Generator) -> str:
    """Each word mistyped with probability ``severity``."""
    words = text.split(" ")
    return " ".join(_typo(w, rng) if rng.random() < severity else w for w in words)


def char_noise(text: str, severity: float, rng: np.random.Generator) -> str:
    """Each letter or digit replaced by a random one with probability ``severity`` / 4."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(
        alphabet[int(rng.integers(0, len(alphabet)))]
        if ch.isalnum() and rng.random() < severity / 4
        else ch
        for ch in text
    )


def casing(text: str, severity: float, rng: np.random.Generator) -> str:
    """All upper case above severity 0.5 (shouting), else all lower case (no capitals)."""
    return text.upper() if severity > 0.5 else text.lower()


def truncate(text: str, severity: float, rng: np.random.Generator) -> str:
    """The first ``1 - severity`` of the words, at least one."""
    words = text.split()
    keep = max(1, int(round(len(words) * (1 - severity))))
    return " ".join(words[:keep])


def drop_words(text: str, severity: float, rng: np.random.Generator) -> str:
    """Each word dropped with probability ``severity`` / 2 (at least one word kept)."""
    words = text.split()
    kept = [w for w in words if rng.random() >= severity / 2]
    return " ".join(kept or words[:1])


def duplicate_words(text: str, severity: float, rng: np.random.Generator) -> str:
    """Each word said twice with probability ``severity`` / 2."""
    out = []
    for word in text.split():
        out += [word, word] if rng.random() < severity / 2 else [word]
    return " ".join(out)


def code_switch(
    text: str, severity: float, rng: np.random.Generator, vocabulary: Sequence[str] = ()
) -> str:
    """Each word replaced with probability ``severity`` / 2 by a word of ``vocabulary`` (the
    words of the data's rows in other languages); unchanged without one."""
    if not vocabulary:
        return text
    return " ".join(
        vocabulary[int(rng.integers(0, len(vocabulary)))] if rng.random() < severity / 2 else w
        for w in text.split()
    )


TEXT: dict[str, Callable[..., str]] = {
    "typos": typos,
    "char_noise": char_noise,
    "casing": casing,
    "truncation": truncate,
    "drop_words": drop_words,
    "duplicate_words": duplicate_words,
    "code_switching": code_switch,
}


def perturb_texts(
    texts: Sequence[str],
    kind: str,
    severity: float,
    seed: int,
    rows: Sequence[int] | None = None,
    **options: Any,
) -> list[str]:
    """``texts`` perturbed by ``kind`` at ``severity``; text i always with the generator
    seeded by (seed, rows[i]) (``rows``: the texts' rows in the data; their positions when
    None), so that a row's perturbation does not depend on which rows come with it."""
    perturb = TEXT[kind]
    keys = range(len(texts)) if rows is None else rows
    return [
        perturb(text, severity, np.random.default_rng([seed, int(key)]), **options)
        for key, text in zip(keys, texts, strict=True)
    ]


# -- images (Pillow) ---------------------------------------------------------------------------
def _blur(image: Any, severity: float, rng: np.random.Generator) -> Any:
    from PIL import ImageFilter

    return image.filter(ImageFilter.GaussianBlur(radius=0.5 + 3.5 * severity))


def _noise(image: Any, severity: float, rng: np.random.Generator) -> Any:
    from PIL import Image

    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    noisy = pixels + rng.normal(0.0, 60.0 * severity, size=pixels.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def _jpeg(image: Any, severity: float, rng: np.random.Generator) -> Any:
    from PIL import Image

    buffer = BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=max(5, int(95 - 90 * severity)))
    return Image.open(BytesIO(buffer.getvalue())).convert("RGB")


def _brightness(image: Any, severity: float, rng: np.random.Generator) -> Any:
    from PIL import ImageEnhance

    return ImageEnhance.Brightness(image).enhance(1.0 - 0.7 * severity)


def _contrast(image: Any, severity: float, rng: np.random.Generator) -> Any:
    from PIL import ImageEnhance

    return ImageEnhance.Contrast(image).enhance(1.0 - 0.7 * severity)


def _rotation(image: Any, severity: float, rng: np.random.Generator) -> Any:
    angle = 45.0 * severity * (1 if rng.random() < 0.5 else -1)
    return image.rotate(angle, expand=False)


def _downscale(image: Any, severity: float, rng: np.random.Generator) -> Any:
    width, height = image.size
    factor = 1.0 - 0.85 * severity
    small = image.resize((max(1, int(width * factor)), max(1, int(height * factor))))
    return small.resize((width, height))


IMAGE: dict[str, Callable[..., Any]] = {
    "blur": _blur,
    "noise": _noise,
    "jpeg": _jpeg,
    "brightness": _brightness,
    "contrast": _contrast,
    "rotation": _rotation,
    "downscale": _downscale,
}


def perturb_images(
    images: Sequence[Any],
    kind: str,
    severity: float,
    seed: int,
    rows: Sequence[int] | None = None,
) -> list[Any]:
    """PIL images perturbed by ``kind`` at ``severity``, image i seeded by (seed, rows[i])
    (their positions when ``rows`` is None), as ``perturb_texts``."""
    perturb = IMAGE[kind]
    keys = range(len(images)) if rows is None else rows
    return [
        perturb(image, severity, np.random.default_rng([seed, int(key)]))
        for key, image in zip(keys, images, strict=True)
    ]
