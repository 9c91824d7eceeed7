"""The "no pre-trained model" baseline for images: raw pixels and gradient orientations.

What TF-IDF is for text: every image ranking can include it (candidate ``baseline:pixels``), so
the report can say how much a pre-trained model buys over a linear model on the pixels
themselves. Features per image: an 8 x 8 colour thumbnail and a HOG-like histogram of gradient
orientations over 4 x 4 cells of a 32 x 32 grey image (336 values), each part standardized
within the image; the usual linear probe (which standardizes each feature across images) then
fits on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from modelscout.backends.base import Backend, LoadOptions, register
from modelscout.data.images import load_image
from modelscout.records import Candidate, ModelMeta

VERSION = "pixels-v1"
CANDIDATE_ID = "baseline:pixels"
SIDE = 32  # pixels per side of the image the features are computed on
THUMB = 8  # colour thumbnail side
CELL = 8  # gradient histogram cell side: (SIDE / CELL)^2 = 16 cells
BINS = 9  # unsigned orientations, 20 degrees each (Dalal and Triggs, 2005)
GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 luma


def thumbnail(pixels: np.ndarray) -> np.ndarray:
    """(B, SIDE, SIDE, 3) uint8 -> (B, THUMB*THUMB*3) block means, standardized per image."""
    step = SIDE // THUMB
    blocks = pixels.reshape(len(pixels), THUMB, step, THUMB, step, 3).astype(np.float32)
    return _standardize(blocks.mean(axis=(2, 4)).reshape(len(pixels), -1))


def orientation_histograms(pixels: np.ndarray) -> np.ndarray:
    """(B, SIDE, SIDE, 3) uint8 -> (B, cells * BINS) HOG-like features.

    Per pixel of the grey image: the central-difference gradient (gx, gy), its magnitude and its
    unsigned orientation atan2(gy, gx) mod pi, voted by magnitude into one of BINS bins of its
    CELL x CELL cell; each cell's histogram is L2-normalized (no overlapping blocks, no
    interpolation between bins: a baseline, not a detector). Hand-written in numpy because
    scikit-image, whose ``hog`` does this, is not a dependency, and because this vectorizes over
    the batch.
    """
    grey = pixels.astype(np.float32) @ GREY  # (B, SIDE, SIDE)
    gx = np.zeros_like(grey)
    gy = np.zeros_like(grey)
    gx[:, :, 1:-1] = grey[:, :, 2:] - grey[:, :, :-2]
    gy[:, 1:-1, :] = grey[:, 2:, :] - grey[:, :-2, :]
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.minimum((angle * (BINS / np.pi)).astype(np.int64), BINS - 1)
    cells = SIDE // CELL
    # One flat histogram index per pixel (image, cell row, cell column, bin): a single
    # bincount sums every vote of the batch.
    rows = np.arange(SIDE) // CELL
    cell = rows[:, None] * cells + rows[None, :]  # (SIDE, SIDE)
    image = np.arange(len(pixels))[:, None, None] * (cells * cells)
    index = ((image + cell) * BINS + bins).ravel()
    total = len(pixels) * cells * cells * BINS
    sums = np.bincount(index, weights=magnitude.ravel(), minlength=total)
    histograms = sums.reshape(len(pixels), cells * cells, BINS).astype(np.float32)
    norms = np.linalg.norm(histograms, axis=-1, keepdims=True)
    return (histograms / (norms + 1e-6)).reshape(len(pixels), -1)


def _standardize(values: np.ndarray) -> np.ndarray:
    """Each row to mean 0 and standard deviation 1 (a flat row stays 0): brightness and
    contrast of the whole image do not move the features."""
    centred = values - values.mean(axis=1, keepdims=True)
    return centred / (centred.std(axis=1, keepdims=True) + 1e-6)


class PixelEncoder:
    """Raw-pixel features: image paths in, (B, 336) float32 out; no model, no torch."""

    modality = "image"
    pooling = "none"
    image_size = SIDE

    def preprocess(self, items: Sequence[str | Path | Image.Image]) -> np.ndarray:
        """(B,) image paths (or PIL images) -> (B, SIDE, SIDE, 3) uint8, the whole image
        squeezed to a square (nothing cropped away)."""
        images = [item if isinstance(item, Image.Image) else load_image(item) for item in items]
        # reducing_gap: Pillow shrinks by whole factors first, so a photo costs little more
        # than a thumbnail, at a negligible difference in the 32 x 32 result.
        return np.stack(
            [np.asarray(i.resize((SIDE, SIDE), Image.BILINEAR, reducing_gap=2.0)) for i in images]
        )

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """(B, SIDE, SIDE, 3) uint8 -> (B, 336) float32 features."""
        return np.concatenate([thumbnail(batch), orientation_histograms(batch)], axis=1)


def baseline_meta() -> ModelMeta:
    """No pre-trained weights: nothing to download, license or declare; it reads images."""
    return ModelMeta(
        modality="image",
        library="numpy",
        architecture="pixels + gradient orientations",
        disk_size_bytes=0,
        embedding_dim=THUMB * THUMB * 3 + (SIDE // CELL) ** 2 * BINS,
        image_size=SIDE,
    )


def load_pixel_encoder(candidate: Candidate, meta: ModelMeta, options: LoadOptions) -> PixelEncoder:
    """The pixel baseline: nothing to load, nothing that the options change."""
    return PixelEncoder()


register(Backend("pixels", "image", load_pixel_encoder, torch=False))
