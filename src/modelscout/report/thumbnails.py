"""Thumbnails of the example images results.json names, as data URIs for report.html.

Formatting, not computing: a thumbnail is the picture of a file that results.json already
names (a confused pair's example), so it is made here, at render time, and the report stays
one self-contained file. A file that is gone or unreadable since the run gets no thumbnail;
the report shows its name instead of failing.
"""

from __future__ import annotations

import base64
from io import BytesIO
from pathlib import Path

from PIL import Image

from modelscout.data.images import load_image

THUMBNAIL_PX = 96  # the longer side of a thumbnail
JPEG_QUALITY = 80  # small enough to embed a few dozen, clear enough to tell classes apart


def thumbnail_uri(path: str | Path, size: int = THUMBNAIL_PX) -> str | None:
    """``data:image/jpeg;base64,...`` of the image at ``path`` scaled to fit ``size`` x
    ``size`` pixels (aspect kept, never enlarged), or None when the file cannot be read."""
    try:
        image = load_image(path)
        image.thumbnail((size, size))
        buffer = BytesIO()
        image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    # Gone, unreadable, no image (UnidentifiedImageError is an OSError), or grown too large.
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
