"""One set of path rules for every folder that names from elsewhere are resolved in, on the
manager and on workers: a path one side accepts is one the other accepts too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from manager.core.errors import BadInput
from manager.storage.paths import check_relative_path
from tests.conftest import Manager, job_body
from tests.storage.test_worker_file_cache import MemoryFetcher
from worker_mode.file_cache import CacheError, FileCache
from worker_mode.job_outputs import download_matching
from worker_mode.safe_paths import StorageRoot, UnsafePath, relative_path

SAFE = ["shot.blend", "proj/shot/shot.blend", "a b/c-d_e.f", "frames/0001.png", "{x}/y"]
UNSAFE = [
    "",
    "/etc/passwd",
    "../evil",
    "a/../../evil",
    "a/./b",
    "a//b",
    "a/",
    "C:/evil",
    "c:evil",
    "a\\..\\evil",
    "\\\\nas\\share\\evil",
    "con",
    "proj/NUL.txt",
    "lpt1.png",
    "a\u0000b",
    "tab\there",
    "trailing.",
    "trailing /x",
    "a:b",
    "x" * 256,
    "/".join(["d"] * 600),
]


@pytest.mark.parametrize("value", SAFE)
def test_safe_relative_paths_pass_everywhere(value: str, tmp_path: Path) -> None:
    assert relative_path(value).as_posix() == value
    assert check_relative_path(value, "name").as_posix() == value
    assert StorageRoot(tmp_path).path(value) == tmp_path.joinpath(*value.split("/"))


@pytest.mark.parametrize("value", UNSAFE)
def test_unsafe_paths_are_refused_alike_by_manager_and_worker(value: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafePath):
        relative_path(value)
    with pytest.raises(BadInput, match="^name: "):
        check_relative_path(value, "name")
    with pytest.raises(UnsafePath):
        StorageRoot(tmp_path).path(value)
    cache = FileCache(tmp_path / "cache", MemoryFetcher([]))
    with pytest.raises(ValueError):
        cache.resolve("{jobs}/" + value)


def test_a_link_that_leads_out_is_refused_and_one_inside_is_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "inside").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (root / "out-dir").symlink_to(outside)
    (root / "out-file.txt").symlink_to(outside / "secret.txt")
    (root / "in-dir").symlink_to(root / "inside")
    folder = StorageRoot(root)
    for value in ("out-dir/secret.txt", "out-file.txt", "out-dir/new/file.txt"):
        with pytest.raises(UnsafePath, match="outside"):
            folder.path(value)
    assert folder.path("in-dir/file.txt") == root / "in-dir" / "file.txt"


def test_a_file_where_a_folder_is_needed_is_refused(tmp_path: Path) -> None:
    (tmp_path / "frame.png").write_text("x")
    with pytest.raises(UnsafePath, match="is a file"):
        StorageRoot(tmp_path).path("frame.png/x.png", make_parents=True)


class _Listing:
    """The manager's answers to the worker's output listing and downloads."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.status_code = 200

    def get(self, path: str, **_kwargs: Any) -> Any:
        if path.endswith("/outputs"):
            return self
        raise AssertionError(f"nothing must be downloaded, asked for {path}")

    def json(self) -> dict[str, Any]:
        return {"files": [{"name": n, "size": 1} for n in self.names]}

    def __enter__(self) -> _Listing:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None


@pytest.mark.parametrize("name", ["..", "frames/..", "."])
def test_a_worker_refuses_an_output_listed_under_a_name_that_leads_out(
    tmp_path: Path, name: str
) -> None:
    folder = tmp_path / "job" / "frames-for-video"
    with pytest.raises(CacheError, match="output"):
        download_matching(_Listing([name]), "j", "*", folder, lambda _line: None)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["frames-for-video", "job"]


# The same verdict on both sides -----------------------------------------------------------------


@pytest.mark.parametrize(
    "blendfile",
    [
        "{jobs}/co/../..",
        "{jobs}/co/../../etc/passwd",
        "{jobs}/../x.blend",
        "{jobs}/co\\shot.blend",
        "{jobs}/C:/shot.blend",
        "{jobs}/co/con.blend",
        "{jobs}co/shot.blend",
        "{jobs}/",
        "/mnt/render/../../etc/passwd",
        "R:\\render\\..\\secret.blend",
        "shots/\u0000.blend",
    ],
)
def test_a_blend_file_the_worker_would_refuse_is_refused_at_submission(
    manager: Manager, blendfile: str, tmp_path: Path
) -> None:
    settings = {
        "frames": "1", "chunk_size": 1, "render_output_root": "/tmp/out",
        "add_path_components": 0, "render_output_path": "/tmp/out/######",
        "blendfile": blendfile, "format": "PNG", "image_file_extension": ".png",
        "scene": "Scene",
    }
    body = job_body("simple-blender-render", settings=settings)
    for path in ("/api/v3/jobs/check", "/api/v3/jobs"):
        response = manager.post(path, json=body)
        assert response.status_code == 400, response.text
        assert "settings.blendfile" in response.json()["message"]
    assert manager.get("/api/v3/jobs").json()["jobs"] == []
    if blendfile.startswith("{jobs}"):
        with pytest.raises((ValueError, CacheError)):
            FileCache(tmp_path, MemoryFetcher([])).resolve(blendfile)


@pytest.mark.parametrize(
    "blendfile",
    ["{jobs}/proj/shot/shot.blend", "/mnt/render/shot.blend", "R:\\render\\shot.blend",
     "\\\\nas\\render\\shot.blend", "{render}/shot.blend", "projects/shot.blend"],
)
def test_blend_files_on_shared_storage_or_in_a_checkout_are_accepted(
    manager: Manager, blendfile: str
) -> None:
    settings = {
        "frames": "1", "chunk_size": 1, "render_output_root": "/tmp/out",
        "add_path_components": 0, "render_output_path": "/tmp/out/######",
        "blendfile": blendfile, "format": "PNG", "image_file_extension": ".png",
        "scene": "Scene",
    }
    body = job_body("simple-blender-render", settings=settings)
    assert manager.post("/api/v3/jobs/check", json=body).status_code == 204


def test_other_path_settings_are_checked_too(manager: Manager) -> None:
    settings = {
        "frames": "1", "chunk_size": 1, "render_output_root": "/tmp/out/../../etc",
        "add_path_components": 0, "render_output_path": "/tmp/out/######",
        "blendfile": "/mnt/shot.blend", "format": "PNG", "image_file_extension": ".png",
        "scene": "Scene",
    }
    body = job_body("simple-blender-render", settings=settings)
    response = manager.post("/api/v3/jobs", json=body)
    assert response.status_code == 400
    assert "settings.render_output_root" in response.json()["message"]
