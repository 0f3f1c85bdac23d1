"""What a worker uploads as a frame must be a whole image: checked before it is stored.

A worker checks its frames too, but the manager is where a frame starts to count, and a copy
can break on the worker's disk after that check. Files are judged by their name's suffix:
images Pillow reads must decode, OpenEXR must have a whole header and every chunk its offset
table promises; videos and anything else are stored as they come.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError, features

from manager.core.errors import BadInput
from worker_mode.frame_check import MAX_SIDE, BadFrame, check_frame_file

PILLOW_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".tga": "TGA",
}
"""Frame suffixes whose files must decode with Pillow, and the format they must be."""

_DECODER_FEATURE = {"JPEG": "jpg", "TIFF": "libtiff", "WEBP": "webp", "PNG": "zlib"}
"""The Pillow feature each format needs; without it a good frame would be refused."""

MAX_DECODED_PIXELS = 40_000_000
"""Frames up to this size (8K UHD is 33 million pixels) are fully decoded; larger ones get
the container check only, so one upload cannot take gigabytes of the manager's memory."""


class UnusableFrame(BadInput):
    """An uploaded frame that is not a whole image; nothing of it is kept."""


def check_uploaded_frame(path: Path, name: str) -> None:
    """Raise UnusableFrame, naming ``name`` and the reason, unless the file is a whole image."""
    suffix = Path(name).suffix.lower()
    fmt = PILLOW_FORMATS.get(suffix) or ("EXR" if suffix == ".exr" else None)
    if fmt is None:
        return
    try:
        check_frame_file(path, fmt)
    except BadFrame as exc:
        raise UnusableFrame(f"{name}: {exc}") from None
    if fmt == "EXR" or not features.check(_DECODER_FEATURE.get(fmt, "zlib")):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path, formats=[fmt]) as image:
                width, height = image.size
                if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
                    raise UnusableFrame(f"{name}: an image of {width}x{height} pixels")
                if width * height <= MAX_DECODED_PIXELS:
                    image.load()
        except UnidentifiedImageError:
            raise UnusableFrame(f"{name}: it is not a {fmt} image") from None
        except Image.DecompressionBombError:
            return  # too large for Pillow to open at all; the container check passed
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
            raise UnusableFrame(f"{name}: it does not decode as {fmt} ({exc})") from None
