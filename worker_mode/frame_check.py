"""Is a frame file whole? Cheap checks of an image file's container, before anyone decodes it.

Decoders forgive too much: Blender's imbuf loads a JPEG or PNG with its end cut off (and
crashes on a cut-short OpenEXR), Pillow loads a PNG without its end too. These checks read
only headers and chunk boundaries, so they cost the same for any frame size.

Stdlib only, no bpy: the render process checks what Blender wrote, and the manager checks what
workers upload, with the same code (the extension zip leaves manager/ out, so it lives here).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

#: File name suffixes of the image formats checked here, by the format's name.
SUFFIX_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".exr": "EXR",
}

MAX_SIDE = 65536
"""Blender renders at most 65536 pixels a side; anything larger is a damaged header."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_EXR_MAGIC = b"v/1\x01"
_EXR_TILED = 0x200
_EXR_DEEP = 0x800
_EXR_MULTIPART = 0x1000
# Scan lines per chunk of each OpenEXR compression (NONE, RLE, ZIPS, ZIP, PIZ, PXR24, B44,
# B44A, DWAA, DWAB); a newer one is checked up to its offset table only.
_EXR_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
_EXR_MAX_HEADER = 16 * 1024 * 1024


class BadFrame(ValueError):
    """The file is not a whole image of its kind; the message says what is wrong."""


@dataclass(frozen=True)
class FrameFacts:
    """What the container says: its format and, where the header tells, its size."""

    format: str
    width: int | None = None
    height: int | None = None
    channels: list[str] = field(default_factory=list)
    """OpenEXR channel names ("R", "ViewLayer.Combined.R"); empty for other formats."""

    @property
    def layered(self) -> bool:
        """An OpenEXR with named layers, which Blender reads only as a multilayer image."""
        return any("." in name for name in self.channels)


def format_of(path: str | os.PathLike[str]) -> str | None:
    """The format a file's name promises, or None for files not checked here."""
    return SUFFIX_FORMATS.get(os.path.splitext(os.fspath(path))[1].lower())


def check_frame_file(path: str | os.PathLike[str], fmt: str | None = None) -> FrameFacts | None:
    """Raise BadFrame when the file is empty, not of ``fmt`` or cut short; None when ``fmt``
    (by default the one its name promises) is not a format checked here."""
    fmt = fmt or format_of(path)
    size = os.path.getsize(path)
    if size == 0:
        raise BadFrame("the file is empty")
    if fmt not in _CHECKS:
        return None
    with open(path, "rb") as f:
        try:
            facts = _CHECKS[fmt](f, size)
        except struct.error:
            raise BadFrame(f"the {fmt} header is cut short") from None
    for side in (facts.width, facts.height):
        if side is not None and not 0 < side <= MAX_SIDE:
            raise BadFrame(f"the {fmt} header gives an impossible size "
                           f"({facts.width}x{facts.height})")
    return facts


def _read(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) < n:
        raise BadFrame(f"the file ends inside {what}: it is cut short")
    return data


def _check_png(f: BinaryIO, size: int) -> FrameFacts:
    if f.read(8) != _PNG_SIGNATURE:
        raise BadFrame("it is not a PNG file (no PNG signature)")
    width = height = None
    pos = 8
    while True:
        length, kind = struct.unpack(">I4s", _read(f, 8, "a PNG chunk header"))
        end = pos + 12 + length
        if end > size:
            raise BadFrame(f"the PNG {kind.decode('latin-1')} chunk at byte {pos} runs past "
                           f"the end of the file ({size} bytes): it is cut short")
        if kind == b"IHDR":
            width, height = struct.unpack(">II", _read(f, 8, "the PNG header"))
            f.seek(end)
        elif kind == b"IEND":
            break
        else:
            f.seek(end)
        pos = end
        if pos == size:
            raise BadFrame("the PNG file ends before its IEND chunk: it is cut short")
    if width is None:
        raise BadFrame("the PNG file has no IHDR chunk")
    return FrameFacts("PNG", width, height)


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _check_jpeg(f: BinaryIO, size: int) -> FrameFacts:
    if f.read(2) != b"\xff\xd8":
        raise BadFrame("it is not a JPEG file (no start-of-image marker)")
    width = height = None
    while width is None:
        marker = _read(f, 2, "a JPEG marker")
        if marker[0] != 0xFF:
            raise BadFrame(f"the JPEG file has garbage at byte {f.tell() - 2}")
        if marker[1] in (0xD8, 0x01) or 0xD0 <= marker[1] <= 0xD7:
            continue
        if marker[1] in (0xD9, 0xDA):
            raise BadFrame("the JPEG file has no frame header before its image data")
        (length,) = struct.unpack(">H", _read(f, 2, "a JPEG segment"))
        if marker[1] in _JPEG_SOF:
            height, width = struct.unpack(">xHH", _read(f, 5, "the JPEG frame header"))
        else:
            f.seek(length - 2, os.SEEK_CUR)
        if f.tell() > size:
            raise BadFrame("the JPEG file ends inside a segment: it is cut short")
    # Entropy-coded data never holds FF D9 (an FF there is followed by 00), so the
    # end-of-image marker near the end means the encoder finished.
    f.seek(max(0, size - 32))
    if b"\xff\xd9" not in f.read():
        raise BadFrame("the JPEG file has no end-of-image marker: it is cut short")
    return FrameFacts("JPEG", width, height)


def _check_webp(f: BinaryIO, size: int) -> FrameFacts:
    riff, length, webp = struct.unpack("<4sI4s", _read(f, 12, "the WebP header"))
    if riff != b"RIFF" or webp != b"WEBP":
        raise BadFrame("it is not a WebP file (no RIFF/WEBP header)")
    if length + 8 > size:
        raise BadFrame(f"the WebP file should be {length + 8} bytes but is {size}: "
                       "it is cut short")
    return FrameFacts("WEBP")


def _check_bmp(f: BinaryIO, size: int) -> FrameFacts:
    magic, length = struct.unpack("<2sI", _read(f, 6, "the BMP header"))
    if magic != b"BM":
        raise BadFrame("it is not a BMP file (no BM header)")
    if length > size:
        raise BadFrame(f"the BMP file should be {length} bytes but is {size}: it is cut short")
    f.seek(18)
    width, height = struct.unpack("<ii", _read(f, 8, "the BMP header"))
    return FrameFacts("BMP", width, abs(height))


def _check_exr(f: BinaryIO, size: int) -> FrameFacts:
    magic, version = struct.unpack("<4sI", _read(f, 8, "the OpenEXR header"))
    if magic != _EXR_MAGIC:
        raise BadFrame("it is not an OpenEXR file (wrong magic number)")
    if version & 0xFF != 2:
        raise BadFrame(f"OpenEXR version {version & 0xFF} is not one this check knows")
    headers = [_exr_header(f)]
    if version & _EXR_MULTIPART:
        while _peek(f) != b"\0":
            headers.append(_exr_header(f))
        _read(f, 1, "the OpenEXR header list")
    first = headers[0]
    box = first.get("dataWindow")
    if not isinstance(box, tuple):
        raise BadFrame("the OpenEXR header has no dataWindow")
    xmin, ymin, xmax, ymax = box
    facts = FrameFacts("EXR", xmax - xmin + 1, ymax - ymin + 1, list(first.get("channels", [])))
    if version & _EXR_DEEP or any(h.get("type", b"").startswith(b"deep") for h in headers):
        return facts  # Deep data chunks have a layout of their own; the header is whole.
    counts = [_exr_chunk_count(h, bool(version & _EXR_TILED)) for h in headers]
    if any(count is None for count in counts):
        return facts
    total = sum(c for c in counts if c is not None)
    table_end = f.tell() + 8 * total
    if table_end > size:
        raise BadFrame("the OpenEXR file ends inside its offset table: it is cut short")
    offsets = struct.unpack(f"<{total}Q", f.read(8 * total))
    if any(o < table_end for o in offsets):
        raise BadFrame("the OpenEXR offset table is not filled in: the writer did not finish")
    last = max(offsets)
    if last >= size:
        raise BadFrame(f"the OpenEXR file is {size} bytes but has a chunk at byte {last}: "
                       "it is cut short")
    f.seek(last)
    part = headers[0]
    if version & _EXR_MULTIPART:
        (index,) = struct.unpack("<i", _read(f, 4, "the last OpenEXR chunk"))
        if not 0 <= index < len(headers):
            raise BadFrame(f"the last OpenEXR chunk names part {index}, of {len(headers)}")
        part = headers[index]
    tiled = bool(version & _EXR_TILED) or part.get("type") == b"tiledimage"
    _read(f, 16 if tiled else 4, "the last OpenEXR chunk")  # tile or scan line coordinates
    (length,) = struct.unpack("<i", _read(f, 4, "the last OpenEXR chunk"))
    if length < 0 or f.tell() + length > size:
        raise BadFrame("the last OpenEXR chunk runs past the end of the file: it is cut short")
    return facts


def _peek(f: BinaryIO) -> bytes:
    at = f.tell()
    data = f.read(1)
    f.seek(at)
    return data


def _cstring(f: BinaryIO, what: str) -> bytes:
    out = bytearray()
    while (byte := f.read(1)) != b"\0":
        if not byte:
            raise BadFrame(f"the file ends inside {what}: it is cut short")
        out += byte
        if len(out) > 255:
            raise BadFrame(f"the OpenEXR header has an overlong {what}")
    return bytes(out)


def _exr_header(f: BinaryIO) -> dict[str, Any]:
    """One part's attributes; only those the checks need are decoded."""
    attrs: dict[str, Any] = {}
    start = f.tell()
    while True:
        name = _cstring(f, "an OpenEXR attribute name")
        if not name:
            return attrs
        kind = _cstring(f, "an OpenEXR attribute type")
        (length,) = struct.unpack("<i", _read(f, 4, "the OpenEXR header"))
        if length < 0 or f.tell() + length - start > _EXR_MAX_HEADER:
            raise BadFrame(f"the OpenEXR attribute {name.decode('latin-1')} has a broken size")
        value = _read(f, length, "the OpenEXR header")
        key = name.decode("latin-1")
        if kind == b"box2i":
            attrs[key] = struct.unpack("<4i", value[:16])
        elif kind == b"compression":
            attrs[key] = value[0]
        elif kind == b"tiledesc":
            attrs[key] = struct.unpack("<IIB", value[:9])
        elif kind == b"chlist":
            attrs[key] = [n.decode("latin-1") for n in _exr_channel_names(value)]
        elif kind == b"int":
            attrs[key] = struct.unpack("<i", value[:4])[0]
        elif kind == b"string":
            attrs[key] = value


def _exr_channel_names(value: bytes) -> list[bytes]:
    names = []
    pos = 0
    while pos < len(value) and value[pos] != 0:
        end = value.index(b"\0", pos)
        names.append(value[pos:end])
        pos = end + 1 + 16  # pixel type, pLinear + reserved, x and y sampling
    return names


def _exr_chunk_count(header: dict[str, Any], tiled: bool) -> int | None:
    """Chunks in a part's offset table; None where that needs more than this check reads."""
    if isinstance(header.get("chunkCount"), int):
        return int(header["chunkCount"])
    box = header.get("dataWindow")
    if not isinstance(box, tuple):
        raise BadFrame("the OpenEXR header has no dataWindow")
    xmin, ymin, xmax, ymax = box
    width, height = xmax - xmin + 1, ymax - ymin + 1
    if width <= 0 or height <= 0:
        raise BadFrame(f"the OpenEXR dataWindow is empty ({width}x{height})")
    if tiled or header.get("type") == b"tiledimage":
        tiles = header.get("tiles")
        if not isinstance(tiles, tuple):
            raise BadFrame("the tiled OpenEXR header has no tile description")
        tile_x, tile_y, mode = tiles
        if mode & 0x0F != 0 or not tile_x or not tile_y:
            return None  # Mipmaps: levels of their own.
        return -(-width // tile_x) * -(-height // tile_y)
    lines = _EXR_LINES_PER_CHUNK.get(header.get("compression", -1))
    if lines is None:
        return None
    return -(-height // lines)


_CHECKS = {
    "PNG": _check_png,
    "JPEG": _check_jpeg,
    "WEBP": _check_webp,
    "BMP": _check_bmp,
    "EXR": _check_exr,
}
