"""The pixels of a small image that Blender's imbuf wrote, for the render process's checks.

imbuf (the only image code a render may use without Cycles syncing the scene again) has no
pixel access: the render process shrinks a frame with it, writes the shrunken copy in the
frame's own format, and reads that back here. Only the kinds imbuf writes for the common frame
formats are read: 8/16-bit PNG, and scan-line OpenEXR without compression or with RLE/ZIP.
Anything else answers None. Stdlib only; meant for images of a few thousand pixels.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}
"""PNG colour type -> samples per pixel (grey, RGB, grey+alpha, RGBA); palettes are not read."""


@dataclass(frozen=True)
class Pixels:
    width: int
    height: int
    rgba: list[tuple[float, float, float, float]]
    """Row by row; colour as stored (display-referred for PNG, scene-linear for OpenEXR)."""
    linear: bool


def read_pixels(path: str | Path) -> Pixels | None:
    data = Path(path).read_bytes()
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return _read_png(data)
        if data.startswith(b"v/1\x01"):
            return _read_exr(data)
    except (struct.error, zlib.error, ValueError, IndexError):
        return None
    return None


def _read_png(data: bytes) -> Pixels | None:
    pos = 8
    idat = bytearray()
    width = height = depth = color = interlace = 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body[:13])
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    channels = _PNG_CHANNELS.get(color)
    if channels is None or depth not in (8, 16) or interlace:
        return None
    size = depth // 8
    bpp = channels * size
    stride = width * bpp
    raw = zlib.decompress(bytes(idat))
    prev = bytearray(stride)
    top = (1 << depth) - 1
    out: list[tuple[float, float, float, float]] = []
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(kind, line, prev, bpp)
        for x in range(width):
            at = x * bpp
            values = [
                int.from_bytes(line[at + c * size : at + (c + 1) * size], "big") / top
                for c in range(channels)
            ]
            if channels <= 2:
                grey = values[0]
                out.append((grey, grey, grey, values[1] if channels == 2 else 1.0))
            else:
                out.append((values[0], values[1], values[2],
                            values[3] if channels == 4 else 1.0))
        prev = line
    return Pixels(width, height, out, linear=False)


def _unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> None:
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        if kind == 1:
            line[i] = (line[i] + a) & 255
        elif kind == 2:
            line[i] = (line[i] + b) & 255
        elif kind == 3:
            line[i] = (line[i] + (a + b) // 2) & 255
        elif kind == 4:
            c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        elif kind != 0:
            raise ValueError(f"PNG filter type {kind}")


_EXR_SAMPLE = {0: ("I", 4), 1: ("e", 2), 2: ("f", 4)}
"""OpenEXR pixel type -> (struct code, bytes): UINT, HALF, FLOAT."""


def _read_exr(data: bytes) -> Pixels | None:
    (version,) = struct.unpack("<I", data[4:8])
    if version & 0x1A00:  # tiled, deep or multi-part
        return None
    pos = 8
    channels: list[tuple[str, int]] = []
    compression = -1
    box = (0, 0, -1, -1)
    while data[pos] != 0:
        name_end = data.index(b"\0", pos)
        type_end = data.index(b"\0", name_end + 1)
        attribute, kind = data[pos:name_end], data[name_end + 1 : type_end]
        (length,) = struct.unpack("<i", data[type_end + 1 : type_end + 5])
        value = data[type_end + 5 : type_end + 5 + length]
        pos = type_end + 5 + length
        if kind == b"chlist":
            at = 0
            while value[at] != 0:
                end = value.index(b"\0", at)
                pixel_type, _, xs, ys = struct.unpack("<iB3xii", value[end + 1 : end + 17])
                if (xs, ys) != (1, 1) or pixel_type not in _EXR_SAMPLE:
                    return None
                channels.append((value[at:end].decode("latin-1"), pixel_type))
                at = end + 17
        elif attribute == b"compression":
            compression = value[0]
        elif attribute == b"dataWindow":
            box = struct.unpack("<4i", value[:16])
    pos += 1
    if compression not in (0, 1, 2, 3):
        return None
    names = [name for name, _ in channels]
    colour = ["R", "G", "B"] if {"R", "G", "B"} <= set(names) else ["Y"] * 3
    if not set(colour) <= set(names):
        return None
    width, height = box[2] - box[0] + 1, box[3] - box[1] + 1
    lines = 16 if compression == 3 else 1
    count = -(-height // lines)
    offsets = struct.unpack(f"<{count}Q", data[pos : pos + 8 * count])
    line_bytes = sum(_EXR_SAMPLE[t][1] for _, t in channels) * width
    planes: dict[str, list[float]] = {name: [] for name in names}
    for offset in sorted(offsets):
        y, size = struct.unpack("<ii", data[offset : offset + 8])
        block = data[offset + 8 : offset + 8 + size]
        rows = min(lines, box[3] - y + 1)
        if size < line_bytes * rows:
            block = _exr_unpack(block, compression)
        at = 0
        for _ in range(rows):
            for channel, pixel_type in channels:
                code, sample = _EXR_SAMPLE[pixel_type]
                planes[channel] += struct.unpack(f"<{width}{code}", block[at : at + width * sample])
                at += width * sample
    alpha = planes.get("A") or [1.0] * (width * height)
    r, g, b = (planes[c] for c in colour)
    return Pixels(width, height, list(zip(r, g, b, alpha, strict=True)), linear=True)


def _exr_unpack(block: bytes, compression: int) -> bytes:
    """Undo RLE or ZIP, then OpenEXR's byte predictor and its split into two halves."""
    if compression in (2, 3):
        packed = zlib.decompress(block)
    elif compression == 1:
        out = bytearray()
        i = 0
        while i < len(block):
            count = struct.unpack("b", block[i : i + 1])[0]
            if count < 0:
                out += block[i + 1 : i + 1 - count]
                i += 1 - count
            else:
                out += block[i + 1 : i + 2] * (count + 1)
                i += 2
        packed = bytes(out)
    else:
        raise ValueError(f"OpenEXR compression {compression}")
    t = bytearray(packed)
    for i in range(1, len(t)):
        t[i] = (t[i - 1] + t[i] - 128) & 255
    half = (len(t) + 1) // 2
    out = bytearray(len(t))
    out[0::2] = t[:half]
    out[1::2] = t[half:]
    return bytes(out)
