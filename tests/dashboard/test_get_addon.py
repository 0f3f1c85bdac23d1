"""The dashboard's *Blender add-on* menu: the zip of the add-on and how to install it."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is not installed (see tests/dashboard/REQUIREMENTS.md)",
)
expect = sync_api.expect


def test_the_addon_menu_downloads_the_extension_zip_with_install_steps(
    page: Any, tmp_path: Path
) -> None:
    page.goto("/")
    menu = page.locator(".get-addon")
    expect(menu.locator(".get-addon-panel")).to_be_hidden()
    menu.locator("summary").click()
    panel = menu.locator(".get-addon-panel")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("Install from Disk")
    expect(panel).to_contain_text("Manager URL")
    with page.expect_download() as caught:
        panel.get_by_role("link", name="Download the add-on").click()
    download = caught.value
    assert download.suggested_filename.startswith("farmhand-")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    names = zipfile.ZipFile(saved).namelist()
    assert "blender_manifest.toml" in names and "operators/outputs.py" in names
