"""The packer: a real .blend with a texture and a linked library goes to a real manager, and a
worker that cannot see the artist's folder lays it out and renders it with real Blender."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from client.api import ManagerAPI
from client.packer import PackError, pack_and_upload
from tests.client.conftest import BLUE, GREEN, RED, near, pixel, run_bpy, write_texture
from tests.conftest import Manager, register_worker
from worker_mode.file_cache import FileCache, HttpFetcher, Manifest


def api_for(manager: Manager) -> ManagerAPI:
    """The packer's client, every answer checked against the spec (but for streamed uploads,
    whose bodies the checker cannot read back; test_shaman_api checks those answers)."""

    def check(response: requests.Response, *args: object, **kwargs: object) -> None:
        if isinstance(response.request.body, bytes | str | None):
            manager.checker.check(response)

    session = requests.Session()
    session.hooks["response"].append(check)
    return ManagerAPI(manager.url, session=session)


def test_pack_uploads_the_file_and_everything_it_uses(
    manager: Manager, submitter_dir: Path
) -> None:
    steps: list[tuple[str, float]] = []
    result = pack_and_upload(
        api_for(manager),
        submitter_dir / "project" / "shot.blend",
        "shot",
        on_progress=lambda step, fraction: steps.append((step, fraction)),
    )
    paths = {f.path for f in result.files}
    assert "shot.blend" in paths and "textures/red.png" in paths
    outside = [p for p in paths if p.startswith("_outside_project/")]
    assert {Path(p).name for p in outside} == {"lib.blend", "blue.png"}
    assert sorted(result.uploaded) == sorted(paths)
    assert result.checkout_id == "shot"
    assert result.blendfile == "{jobs}/shot/shot.blend"
    assert not result.missing
    fractions = [f for _, f in steps]
    assert fractions == sorted(fractions) and fractions[-1] >= 0.9
    assert any(step.startswith("Uploading") for step, _ in steps)

    manifest = manager.get("/api/farmhand/checkouts/shot").json()
    assert {f["path"] for f in manifest["files"]} == paths


def test_second_submit_after_changing_a_texture_uploads_only_that_texture(
    manager: Manager, submitter_dir: Path
) -> None:
    api = api_for(manager)
    blend = submitter_dir / "project" / "shot.blend"
    first = pack_and_upload(api, blend, "shot")
    again = pack_and_upload(api, blend, "shot")
    assert again.uploaded == [] and again.checkout_id != first.checkout_id
    write_texture(submitter_dir / "project" / "textures" / "red.png", GREEN)
    changed = pack_and_upload(api, blend, "shot")
    assert changed.uploaded == ["textures/red.png"]
    assert changed.uploaded_bytes == (submitter_dir / "project/textures/red.png").stat().st_size


def test_packing_a_file_that_does_not_exist_is_a_clear_error(
    manager: Manager, tmp_path: Path
) -> None:
    with pytest.raises(PackError, match="does not exist"):
        pack_and_upload(api_for(manager), tmp_path / "nope.blend", "x")


def test_worker_renders_the_checkout_without_the_artists_folder(
    manager: Manager, submitter_dir: Path, tmp_path: Path
) -> None:
    api = api_for(manager)
    result = pack_and_upload(api, submitter_dir / "project" / "shot.blend", "shot")
    # The worker's machine: nothing of the artist's folder is there.
    shutil.rmtree(submitter_dir)
    worker = register_worker(manager)
    fetcher = HttpFetcher(manager.url, (worker.id, worker.secret))
    cache = FileCache(tmp_path / "worker-cache", fetcher)
    manifest = Manifest.from_json(fetcher_manifest(manager, result.checkout_id))
    folder = cache.materialise(manifest)
    blend = cache.resolve(result.blendfile)
    assert Path(blend) == folder / "shot.blend"

    out = tmp_path / "frame.png"
    used = run_bpy("render", blend, str(out))
    used_paths = [line[5:] for line in used.splitlines() if line.startswith("uses:")]
    assert len(used_paths) == 3
    assert all(Path(p).is_relative_to(cache.root.resolve()) for p in used_paths), used_paths
    assert near(pixel(out, 8, 16), RED)
    assert near(pixel(out, 24, 16), BLUE)


def fetcher_manifest(manager: Manager, checkout: str) -> dict[str, object]:
    return dict(manager.get(f"/api/farmhand/checkouts/{checkout}").json())


def test_packing_something_that_is_not_a_blend_is_a_submission_error(
    manager: Manager, tmp_path: Path
) -> None:
    from client.submission import SubmissionError

    fake = tmp_path / "fake.blend"
    fake.write_bytes(b"not a blend file at all")
    with pytest.raises(SubmissionError, match="not a .blend"):
        pack_and_upload(api_for(manager), fake, "x")
    assert manager.get("/api/farmhand/checkouts/x").status_code == 404


def test_missing_texture_stops_the_packing_by_name_unless_allowed(
    manager: Manager, submitter_dir: Path
) -> None:
    (submitter_dir / "project" / "textures" / "red.png").unlink()
    api = api_for(manager)
    missing = r"Cannot pack shot\.blend: it uses a file that is missing: .*red\.png"
    with pytest.raises(PackError, match=missing):
        pack_and_upload(api, submitter_dir / "project" / "shot.blend", "shot")
    assert manager.get("/api/farmhand/checkouts/shot").status_code == 404  # nothing sent
    result = pack_and_upload(
        api, submitter_dir / "project" / "shot.blend", "shot", allow_missing=True
    )
    assert [path.name for path in result.missing] == ["red.png"]
