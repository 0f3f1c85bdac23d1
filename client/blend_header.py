"""Which Blender saved a .blend file, from its header; no bpy.

The submitter says it with the job, and the manager reads it itself when a client did not
(the Flamenco add-on): the scheduler sends a job only to workers whose Blender can open it.

A .blend starts with ``BLENDER``, then either the header Blender used up to 4.5,
``-v402`` (pointer size ``_``/``-``, endianness ``v``/``V``, three digits of version), or the
one of Blender 5.0, ``17-01v0500`` (header size, format version, endianness, four digits).
Compressed files (zstd from Blender 3.0, gzip before) hold that header in their first bytes.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
_HEAD = 64
"""Bytes of the (decompressed) file enough to hold either header."""

_HEADER = re.compile(rb"BLENDER(?:[_-][vV](\d{3})|\d\d-\d\d[vV](\d{4}))")


class NotABlendFile(ValueError):
    """The bytes are no .blend header (or a compressed one this Python cannot read)."""


def version_number(text: str) -> int:
    """``"4.2.3"`` or ``"4.2"`` as 402 (major * 100 + minor). Raises ValueError."""
    match = re.match(r"\s*(\d+)\.(\d+)", text)
    if match is None:
        raise ValueError(f"{text!r} is not a Blender version like 4.2")
    major, minor = int(match.group(1)), int(match.group(2))
    if minor > 99 or major > 99:
        raise ValueError(f"{text!r} is not a Blender version like 4.2")
    return major * 100 + minor


def version_text(number: int) -> str:
    """402 as ``"4.2"``."""
    return f"{number // 100}.{number % 100}"


def version_from_header(head: bytes) -> int:
    """The version (major * 100 + minor) in the first bytes of a .blend, compressed or not."""
    data = _decompressed_head(head)
    match = _HEADER.match(data)
    if match is None:
        raise NotABlendFile("no Blender file header")
    return int(match.group(1) or match.group(2))


def saved_with(path: Path) -> int:
    """The version of the Blender that saved ``path``. Raises OSError, NotABlendFile."""
    with open(path, "rb") as f:
        head = f.read(_HEAD)
        if head.startswith((ZSTD_MAGIC, GZIP_MAGIC)):
            head += f.read(64 * 1024)  # a compressed frame may need more to yield 64 bytes
    return version_from_header(head)


def _decompressed_head(head: bytes) -> bytes:
    if head.startswith(GZIP_MAGIC):
        try:
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, _HEAD)
        except zlib.error as exc:
            raise NotABlendFile(f"unreadable gzip data: {exc}") from None
    if head.startswith(ZSTD_MAGIC):
        try:
            import zstandard  # Blender bundles it; the manager and the CLI depend on it
        except ImportError:
            raise NotABlendFile("the file is zstd-compressed and zstandard is missing") from None
        try:
            return zstandard.ZstdDecompressor().decompressobj().decompress(head)[:_HEAD]
        except zstandard.ZstdError as exc:
            raise NotABlendFile(f"unreadable zstd data: {exc}") from None
    return head
