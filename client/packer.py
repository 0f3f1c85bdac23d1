"""Pack a .blend with its dependencies and send them to the manager's file store. No bpy.

blender-asset-tracer (BAT) finds what the file uses (images, linked libraries, caches,
sequences) and rewrites paths that point outside the project to ``_outside_project/...``, so
the packed copy is self-contained. Nothing is copied: BAT hands each file to
:class:`_CollectingTransferer`, which only notes it. Then every file is hashed, the manager is
asked which ones it lacks, only those are uploaded, and a checkout records the whole set.

The job then names its file as Flamenco does: ``{jobs}/<checkout path>/<file in project>``;
a worker replaces ``{jobs}`` by the folder it lays its checkouts out in.
"""

from __future__ import annotations

import gzip
import logging
import os
import pathlib
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from blender_asset_tracer import pack as bat_pack
from blender_asset_tracer.blendfile.exceptions import BlendFileError, SegmentationFault
from blender_asset_tracer.pack import progress as bat_progress
from blender_asset_tracer.pack import transfer as bat_transfer
from blender_asset_tracer.trace import expanders as bat_expanders

from . import shaman
from .api import ManagerAPI, ManagerError
from .shaman import FileEntry, UploadOutcome
from .submission import SubmissionError

log = logging.getLogger(__name__)

#: ``on_progress(step, fraction)``, as ``client/submission.py`` defines it.
ProgressCallback = Callable[[str, float], None]

JOBS_VARIABLE = "{jobs}"
#: BAT's note at the top of a pack; the farm has no use for it.
PACK_INFO = "pack-info.txt"
GZIP_MAGIC = b"\x1f\x8b"
#: How often a file someone else is uploading is asked about again before sending it anyway.
DEFER_ROUNDS = 20
DEFER_WAIT_S = 0.5

# Share of the progress bar per phase.
_TRACE, _HASH, _UPLOAD = (0.0, 0.1), (0.1, 0.3), (0.3, 0.9)


def _node_tree_of_id(block: Any) -> Iterator[Any]:
    """BAT 1.23 reads every ID's node tree from ``compositing_node_group`` in files of Blender
    5.0 (subversion 4 on), a field only scenes have: materials' images in linked libraries
    went unseen. Use the field the block actually has."""
    field = (
        b"compositing_node_group"
        if block.dna_type.has_field(b"compositing_node_group")
        else b"nodetree"
    )
    tree = block.get_pointer(field, None)
    if tree is not None:
        yield from bat_expanders._expand_generic_nodetree(tree)


bat_expanders._expand_generic_nodetree_id = _node_tree_of_id


class PackError(SubmissionError):
    """Packing could not be done; the message says why in words (a submission error, so the
    add-on and the CLI show it like any other)."""


@dataclass
class PackResult:
    checkout_id: str
    """The checkout's path on the manager (the job's ``storage.shaman_checkout_id``)."""
    blendfile: str
    """What the job's ``blendfile`` setting must be: ``{jobs}/<checkout>/<file>``."""
    files: list[FileEntry]
    uploaded: list[str] = field(default_factory=list)
    """Checkout paths of the files that were sent; the rest the manager already had."""
    uploaded_bytes: int = 0
    missing: list[Path] = field(default_factory=list)
    """Dependencies that do not exist on this machine (the render will miss them too)."""


class _CollectingTransferer(bat_transfer.FileTransferer):
    """Notes where BAT would put each file instead of copying it."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[Path, PurePosixPath]] = []

    def run(self) -> None:
        for src, dst, _action in self.iter_queue():
            self.pairs.append((Path(src), PurePosixPath(dst.as_posix())))


class _FarmPacker(bat_pack.Packer):
    """BAT's packer with a virtual target: the checkout's root, ``/``."""

    collected: list[tuple[Path, PurePosixPath]] = []

    def _make_target_path(self, target: str) -> pathlib.PurePath:
        return PurePosixPath("/")

    def _create_file_transferer(self) -> bat_transfer.FileTransferer:
        return _CollectingTransferer()

    def _on_file_transfer_finished(self, *, file_transfer_completed: bool) -> None:
        assert isinstance(self._file_transferer, _CollectingTransferer)
        self.collected = list(self._file_transferer.pairs)


class _TraceProgress(bat_progress.Callback):
    def __init__(self, report: Callable[[str], None]) -> None:
        self._report = report

    def trace_blendfile(self, filename: pathlib.Path) -> None:
        self._report(f"Finding dependencies: {filename.name}")

    def missing_file(self, filename: pathlib.Path) -> None:
        log.warning("missing dependency: %s", filename)


def pack_and_upload(
    api: ManagerAPI,
    blendfile: Path,
    checkout_id: str,
    *,
    project: Path | None = None,
    on_progress: ProgressCallback | None = None,
    allow_missing: bool = False,
) -> PackResult:
    """Send ``blendfile`` and everything it uses; returns the checkout the job refers to.

    A file the .blend uses that is not on disk stops the packing (PackError naming it) before
    anything is uploaded, unless ``allow_missing``: a farm render with a missing texture is
    hours of wrong frames.

    ``project`` is the folder whose layout is kept in the checkout (default: the file's own
    folder); dependencies outside it go to ``_outside_project/``.
    """
    progress = on_progress or (lambda step, fraction: None)
    blendfile = blendfile.absolute()
    project = (project or blendfile.parent).absolute()
    if not blendfile.is_file():
        raise PackError(f"{blendfile} does not exist")
    try:
        blendfile.relative_to(project)
    except ValueError:
        raise PackError(f"{blendfile} is not inside the project folder {project}") from None

    progress("Finding dependencies", _TRACE[0])
    packer = _FarmPacker(blendfile, project, "/")
    with packer:
        packer.progress_cb = _TraceProgress(lambda text: progress(text, _TRACE[0]))
        try:
            packer.strategise()
            if packer.missing_files and not allow_missing:
                raise PackError(_describe_missing(blendfile, sorted(packer.missing_files)))
            packer.execute()
        except bat_pack.Aborted as exc:
            raise PackError(f"packing failed: {exc}") from exc
        except OSError as exc:
            raise PackError(f"cannot read {blendfile} or a file it uses: {exc}") from exc
        except (BlendFileError, NotImplementedError, SegmentationFault) as exc:
            raise PackError(f"{blendfile} or a file it uses is not a .blend: {exc}") from exc
        missing = sorted(packer.missing_files)
        for src, _dst in packer.collected:
            if src.parent == packer._rewrite_in:
                _make_gzip_reproducible(src)
        # Rewritten .blend files live in the packer's temporary folder: hash and send them
        # before it is cleaned up.
        entries = _hash_all(packer.collected, progress)
        blend_in_checkout = PurePosixPath(packer.output_path.as_posix()).relative_to("/")
        result = _send(api, entries, checkout_id, progress)
    result.blendfile = f"{JOBS_VARIABLE}/{result.checkout_id}/{blend_in_checkout}"
    result.missing = missing
    progress("Files are on the farm", _UPLOAD[1])
    return result


def _describe_missing(blendfile: Path, missing: list[Path]) -> str:
    shown = ", ".join(str(path) for path in missing[:3])
    more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    files = "a file that is" if len(missing) == 1 else f"{len(missing)} files that are"
    return f"Cannot pack {blendfile.name}: it uses {files} missing: {shown}{more}"


def _make_gzip_reproducible(path: Path) -> None:
    """BAT gzips a rewritten compressed .blend with the time and its temporary name in the
    header, so each pack of the same file would differ and be uploaded again. Rewrite it with
    neither (the compressed bytes themselves are the same every time)."""
    with open(path, "rb") as f:
        if f.read(2) != GZIP_MAGIC:
            return
    fixed = path.with_name(path.name + ".gz")
    with gzip.open(path, "rb") as src, open(fixed, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
    os.replace(fixed, path)


def _hash_all(
    pairs: list[tuple[Path, PurePosixPath]], progress: ProgressCallback
) -> list[FileEntry]:
    wanted = [(src, dst) for src, dst in pairs if dst.as_posix() != f"/{PACK_INFO}"]
    entries: dict[str, FileEntry] = {}
    for index, (src, dst) in enumerate(sorted(wanted, key=lambda pair: str(pair[1]))):
        fraction = _HASH[0] + (_HASH[1] - _HASH[0]) * index / max(1, len(wanted))
        progress(f"Checking {src.name}", fraction)
        path = dst.relative_to("/").as_posix()
        try:
            sha256, size = shaman.sha256_of(src)
        except OSError as exc:
            raise PackError(f"cannot read {src}: {exc}") from exc
        entries[path] = FileEntry(src, path, sha256, size)
    return list(entries.values())


def _send(
    api: ManagerAPI, entries: list[FileEntry], checkout_id: str, progress: ProgressCallback
) -> PackResult:
    result = PackResult(checkout_id="", blendfile="", files=entries)
    for attempt in range(2):
        _upload_missing(api, entries, progress, result)
        try:
            result.checkout_id = shaman.create_checkout(api, checkout_id, entries)
            return result
        except ManagerError as exc:
            # 424: a file went missing between upload and checkout (garbage collection of
            # a file it had long had); ask again and send it.
            if exc.status != 424 or attempt:
                raise
            log.info("checkout refused (%s); sending missing files again", exc)
    raise AssertionError("unreachable")


def _upload_missing(
    api: ManagerAPI, entries: list[FileEntry], progress: ProgressCallback, result: PackResult
) -> None:
    progress("Asking the manager which files it lacks", _HASH[1])
    by_path = {e.path: e for e in entries}
    wanted = [by_path[p] for p in shaman.missing_files(api, entries) if p in by_path]
    total = sum(e.size for e in wanted) or 1
    sent = 0

    def on_bytes(n: int) -> None:
        nonlocal sent
        sent += n
        fraction = min(_UPLOAD[1], _UPLOAD[0] + (_UPLOAD[1] - _UPLOAD[0]) * sent / total)
        progress(f"Uploading {current.path}", fraction)

    queue = list(wanted)
    rounds = 0
    while queue:
        current = queue.pop(0)
        can_defer = rounds < DEFER_ROUNDS
        before = sent
        outcome = shaman.upload(api, current, on_bytes, can_defer=can_defer)
        if outcome == UploadOutcome.DEFERRED:
            sent = before
            queue.append(current)
            rounds += 1
            time.sleep(DEFER_WAIT_S)
            continue
        if outcome == UploadOutcome.STORED:
            result.uploaded.append(current.path)
            result.uploaded_bytes += current.size
        log.info("uploaded %s (%s)", current.path, outcome)
