"""The extension zip: built by Blender's own builder, valid, and holding only the add-on."""

from __future__ import annotations

import tomllib
import zipfile
from pathlib import Path

from tests.addon.conftest import blender_ext
from tests.conftest import REPO


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
