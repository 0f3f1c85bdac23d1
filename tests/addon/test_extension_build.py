"""The extension zip: built by Blender's own builder, valid, and holding only the add-on."""

from __future__ import annotations

import tomllib
import zipfile
from pathlib import Path

from tests.addon.conftest import blender_ext, run_blender_session
from tests.conftest import REPO, Manager


def test_built_zip_passes_blenders_validate(extension_zip: Path) -> None:
    result = blender_ext("validate", str(extension_zip))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def test_zip_holds_the_addon_and_not_the_manager_tests_or_benches(extension_zip: Path) -> None:
    names = zipfile.ZipFile(extension_zip).namelist()
    for needed in (
        "blender_manifest.toml",
        "__init__.py",
        "preferences.py",
        "farm_state.py",
        "operators/submit.py",
        "panels/farm.py",
        "client/api.py",
        "client/job_settings.py",
        "client/packer.py",
        "worker_mode/worker.py",
        # Packing without shared storage needs it, and Blender does not ship it.
        "wheels/blender_asset_tracer-1.23-py3-none-any.whl",
    ):
        assert needed in names
    tops = {n.split("/")[0] for n in names}
    for left_out in (
        "manager",
        "tests",
        "bench",
        ".venv",
        ".venv-typecheck",
        "farm",
        "pyproject.toml",
        "README.md",
        ".git",
        "test-artifacts",
    ):
        assert left_out not in tops
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_manifest_declares_id_version_and_permissions() -> None:
    manifest = tomllib.loads((REPO / "blender_manifest.toml").read_text())
    assert manifest["id"] == "farmhand"
    assert manifest["blender_version_min"] == "4.2.0"
    assert set(manifest["permissions"]) == {"network", "files"}
    assert all(reason.strip() for reason in manifest["permissions"].values())
    # Bundled wheels are listed and present; the packer's library is one of them.
    assert any("blender_asset_tracer" in wheel for wheel in manifest["wheels"])
    for wheel in manifest["wheels"]:
        assert (REPO / wheel).is_file(), wheel


def test_the_manager_serves_the_zip_blenders_builder_makes(
    extension_zip: Path, module_manager: Manager, tmp_path: Path
) -> None:
    response = module_manager.get("/extension.zip")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == \
        f'attachment; filename="{extension_zip.name}"'
    served_path = tmp_path / extension_zip.name
    served_path.write_bytes(response.content)
    served, built = zipfile.ZipFile(served_path), zipfile.ZipFile(extension_zip)
    files = sorted(n for n in built.namelist() if not n.endswith("/"))
    assert sorted(served.namelist()) == files
    assert all(served.read(name) == built.read(name) for name in files)
    result = blender_ext("validate", str(served_path))
    assert result.returncode == 0 and "Success" in result.stdout, result.stdout + result.stderr
    # Built once; the same bytes again while no file of the add-on changed.
    assert module_manager.get("/extension.zip").content == response.content


def test_the_served_zip_installs_and_the_dashboard_links_to_it(
    module_manager: Manager, tmp_path: Path
) -> None:
    served = tmp_path / "farmhand.zip"
    served.write_bytes(module_manager.get("/extension.zip").content)
    result = run_blender_session(served, tmp_path / "bpy", [("installed", {})],
                                 manager=module_manager.url)["installed"]
    assert result["enabled"] and result["panel"]
    assert {"submit_job", "download_frames", "open_dashboard"} <= set(result["operators"])
    page = module_manager.get("/").text
    assert 'href="/extension.zip"' in page
    assert "Install from Disk" in page
