"""Flamenco's own Blender add-on (3.9), played from its behaviour: it compares the manager's
``shortversion`` with its own version, knows the manager only as a URL (no token setting),
and on connecting fetches the version, shared storage, job types and worker tags."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

import pytest
import requests

import manager as farmhand
from tests.conftest import Manager, job_body

#: Released add-ons and a beta: each must see its own version.
ADDON_VERSIONS = ["3.9-beta1", "3.8", "3.9"]
ADDON_VERSION = ADDON_VERSIONS[0]
TOKEN = "studio-secret"


#: The add-on's job-type panel, a PropertyGroup of ``bpy.props`` built from the served
#: settings. Its generated API client hands every number of ``propargs`` over as a float;
#: the add-on turns only ``min`` and ``max`` back into the setting's type and passes the
#: other arguments to ``bpy.props`` as they came.
JOB_TYPE_PANELS = """
import json, sys
import bpy

PROPERTIES = {"bool": bpy.props.BoolProperty, "string": bpy.props.StringProperty,
              "int32": bpy.props.IntProperty, "float": bpy.props.FloatProperty}
TYPES = {"bool": bool, "string": str, "int32": int, "float": float}

def as_received(value):
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if number else value

for job_type in json.load(sys.stdin)["job_types"]:
    annotations = {}
    for setting in job_type["settings"]:
        kwargs = {k: as_received(v) for k, v in (setting.get("propargs") or {}).items()}
        for bound in ("min", "max"):
            if bound in kwargs:
                kwargs[bound] = TYPES[setting["type"]](kwargs[bound])
        if "choices" in setting:
            items = [(choice, choice, "") for choice in setting["choices"]]
            prop = bpy.props.EnumProperty(name=setting["key"], items=items, **kwargs)
        else:
            prop = PROPERTIES[setting["type"]](name=setting["key"], **kwargs)
        annotations[setting["key"]] = prop
    name = "PANEL_PG_" + job_type["name"].replace("-", "_")
    group = type(name, (bpy.types.PropertyGroup,), {"__annotations__": annotations})
    bpy.utils.register_class(group)
    print("registered", job_type["name"])
"""


class Addon:
    """Calls ``<manager URL>/api/v3/...`` as the add-on's generated client does."""

    def __init__(self, manager_url: str, version: str = ADDON_VERSION) -> None:
        self.host = manager_url.rstrip("/")
        self.version = version
        self.http = requests.Session()
        self.http.headers["User-Agent"] = f"Flamenco/{version} (Blender add-on)"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.host + "/api/v3" + path, timeout=30, **kwargs)

    def connect(self) -> list[int]:
        """The add-on's *Fetch*: what it asks for, the statuses it got."""
        paths = ["/version", "/configuration/shared-storage/users/linux", "/jobs/types"]
        return [self.call("GET", p).status_code for p in [*paths, "/worker-mgt/tags"]]

    def version_mismatch(self) -> bool:
        return self.call("GET", "/version").json()["shortversion"] != self.version


@pytest.mark.parametrize("addon_version", ADDON_VERSIONS)
def test_the_addon_sees_its_own_version_and_ours_is_kept(
    manager: Manager, addon_version: str
) -> None:
    addon = Addon(manager.url, addon_version)
    assert addon.connect() == [200, 200, 200, 200]
    assert not addon.version_mismatch()  # no forced submission needed
    version = addon.call("GET", "/version").json()
    assert version["farmhand_version"] == farmhand.__version__


@pytest.mark.parametrize(
    "user_agent", ["python-requests/2.32", "Flamenco/4.0 (Blender add-on)", "Flamenco/3.9"]
)
def test_other_callers_are_answered_the_flamenco_version_spoken(
    manager: Manager, user_agent: str
) -> None:
    answer = requests.get(f"{manager.url}/api/v3/version", headers={"User-Agent": user_agent})
    assert answer.json()["shortversion"] == "3.9"


def test_with_an_access_token_the_addon_uses_a_manager_url_holding_it(manager: Manager) -> None:
    manager.settings.access_token = TOKEN
    assert Addon(manager.url).connect() == [200, 401, 401, 401]  # version is public
    assert Addon(f"{manager.url}/access/wrong").connect() == [401] * 4
    addon = Addon(f"{manager.url}/access/{TOKEN}/")
    assert addon.connect() == [200, 200, 200, 200]
    assert not addon.version_mismatch()

    # Packing through Shaman and submitting go through the same URL.
    blend = b"BLENDER-v500 a packed file"
    digest = hashlib.sha256(blend).hexdigest()
    stored = addon.call("POST", f"/shaman/files/{digest}/{len(blend)}", data=blend)
    assert stored.status_code == 204, stored.text
    submitted = addon.call("POST", "/jobs", json=job_body("frames-noop"))
    assert submitted.status_code == 200, submitted.text
    job = addon.call("GET", f"/jobs/{submitted.json()['id']}")
    assert job.status_code == 200 and job.json()["status"] == "queued"
    assert requests.get(f"{manager.url}/api/v3/jobs/{job.json()['id']}").status_code == 401


def test_the_addon_can_draw_every_served_job_type(manager: Manager) -> None:
    """A ``propargs`` argument that bpy takes only as an integer (``precision``, ``step``)
    arrives as a float and fails the panel's registration, and with it the whole job type."""
    served = Addon(manager.url).call("GET", "/jobs/types")
    assert served.status_code == 200
    names = [job_type["name"] for job_type in served.json()["job_types"]]
    drawn = subprocess.run(
        [sys.executable, "-c", JOB_TYPE_PANELS],
        input=json.dumps(served.json()),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    registered = [
        line.split()[1] for line in drawn.stdout.splitlines() if line.startswith("registered ")
    ]
    assert registered == names
