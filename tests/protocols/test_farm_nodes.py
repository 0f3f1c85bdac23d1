"""/farm with an RFAM-style node as the real one talks, and who may talk /farm and /potential."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from manager.config import Variable, VariableValue
from tests.conftest import Manager, free_port, submit
from tests.protocols.conftest import job_status, submit_frames
from tests.protocols.rfam_node import RfamNode

TOKEN = "only-our-nodes"


@pytest.fixture
def shares(tmp_path: Path) -> dict[str, str]:
    projects = tmp_path / "mnt" / "projects"
    projects.mkdir(parents=True)
    (projects / "shot.blend").write_bytes(b"BLENDER")
    return {"projects": str(projects)}


def test_node_with_the_default_config_renders_only_jobs_on_its_shares(
    manager: Manager, shares: dict[str, str]
) -> None:
    other = submit_frames(manager, "1", blendfile="other::shot.blend", priority=90)
    mine = submit_frames(manager, "1-2", blendfile="projects::shot.blend")
    node = RfamNode(manager.url, paths=shares, processes=4)  # provides: [] as shipped
    assert node.hello()
    assert sorted(Path(local).name for _, _, local in node.working) == ["shot.blend"] * 2
    assert all(Path(local).is_file() for _, _, local in node.working)
    node.finish_all()
    assert node.hello()
    assert job_status(manager, mine["id"]) == "completed"
    assert job_status(manager, other["id"]) == "queued"


def test_a_done_that_did_not_get_through_is_sent_again_ahead_of_identity(
    manager: Manager, shares: dict[str, str]
) -> None:
    job = submit_frames(manager, "5", blendfile="projects::shot.blend")
    node = RfamNode(manager.url, paths=shares)
    assert node.hello()
    node.finish_all()
    node.server = f"http://127.0.0.1:{free_port()}"  # the manager is unreachable for a beat
    assert not node.hello()
    node.server = manager.url
    assert node.must_send[0]["id"] == "done"  # so the next list starts with it
    assert node.hello()
    assert job_status(manager, job["id"]) == "completed"


def test_a_node_whose_job_is_deleted_while_it_renders_goes_on_with_other_work(
    manager: Manager, shares: dict[str, str]
) -> None:
    gone = submit_frames(manager, "1", blendfile="projects::shot.blend")
    node = RfamNode(manager.url, paths=shares)
    assert node.hello()
    assert manager.api("DELETE", f"/api/v3/jobs/{gone['id']}").status_code == 204
    node.finish_all()
    assert node.hello()  # the done of a task that is gone: let go, and not sent again
    assert node.must_send == []
    after = submit_frames(manager, "2", blendfile="projects::shot.blend")
    assert node.hello()
    node.finish_all()
    assert node.hello()
    assert job_status(manager, after["id"]) == "completed"


def test_a_nodes_version_stays_when_a_resent_done_carries_it_instead_of_identity(
    manager: Manager, shares: dict[str, str]
) -> None:
    submit_frames(manager, "5", blendfile="projects::shot.blend")
    node = RfamNode(manager.url, name="versioned", paths=shares, version="R4")
    assert node.hello()
    node.finish_all()
    node.server = f"http://127.0.0.1:{free_port()}"
    assert not node.hello()
    node.server = manager.url
    assert node.hello()
    (worker,) = manager.get("/api/v3/worker-mgt/workers").json()["workers"]
    assert worker["version"] == "R4"


# Frames on the share: the job's outputs -----------------------------------------------------


def png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 9), (shade, 40, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def blender_writing_renders(local_file: str, frame: Any) -> None:
    """What Blender does with a scene whose output path is ``//renders/shot_####``."""
    renders = Path(local_file).parent / "renders"
    renders.mkdir(exist_ok=True)
    (renders / f"shot_{frame:04d}.png").write_bytes(png(frame))


def submit_with_output(manager: Manager, output: str) -> dict[str, Any]:
    settings = {"blendfile": "projects::shot.blend", "frames": "1-2", "render_output_path": output}
    return submit(manager, "single-frame-render", settings=settings)


def test_frames_a_node_renders_onto_its_share_are_listed_and_downloaded(
    manager: Manager, shares: dict[str, str]
) -> None:
    # The manager's own folder for the share: a variable named after it.
    mounted = VariableValue(platform="all", value=shares["projects"])
    manager.settings.variables["projects"] = Variable(values=[mounted])
    job = submit_with_output(manager, "projects::renders/shot_####")
    node = RfamNode(manager.url, paths=shares, processes=2, blender=blender_writing_renders)
    assert node.hello()
    node.finish_all()
    assert node.hello()
    assert job_status(manager, job["id"]) == "completed"
    assert manager.farm.frame_collections.wait_idle()  # read off the share after the answer

    listing = manager.get(f"/api/farmhand/jobs/{job['id']}/outputs").json()
    assert [f["name"] for f in listing["files"]] == ["shot_0001.png", "shot_0002.png"]
    for frame, item in enumerate(listing["files"], start=1):
        download = manager.get(item["url"])
        assert download.status_code == 200
        assert download.content == png(frame)


def test_a_share_the_manager_has_no_folder_for_is_said_on_the_job(
    manager: Manager, shares: dict[str, str]
) -> None:
    job = submit_with_output(manager, "projects::renders/shot_####")
    node = RfamNode(manager.url, paths=shares, processes=2, blender=blender_writing_renders)
    assert node.hello()
    node.finish_all()
    assert node.hello()
    assert manager.farm.frame_collections.wait_idle()
    info = manager.get(f"/api/v3/jobs/{job['id']}").json()
    assert info["status"] == "completed"
    assert "no folder" in info["activity"] and "'projects'" in info["activity"]
    assert manager.get(f"/api/farmhand/jobs/{job['id']}/outputs").json()["files"] == []
    for task in manager.get(f"/api/v3/jobs/{job['id']}/tasks").json()["tasks"]:
        assert "no folder" in manager.get(f"/api/v3/tasks/{task['id']}/logtail").text


@pytest.mark.parametrize(
    ("output", "named"),
    [
        ("renders/shot_####", "share::path"),
        ("/mnt/renders/shot_####", "share::path"),
        ("projects::../../etc/shot_####", "'..'"),
    ],
)
def test_an_output_path_that_is_no_safe_share_path_is_refused_on_submission(
    manager: Manager, output: str, named: str
) -> None:
    for job_type in ("single-frame-render", "video-render"):
        settings = {
            "blendfile": "projects::shot.blend",
            "frames": "1-2",
            "render_output_path": output,
        }
        answer = manager.post(
            "/api/v3/jobs",
            json={
                "name": "out",
                "type": job_type,
                "priority": 50,
                "submitter_platform": "linux",
                "settings": settings,
            },
        )
        assert answer.status_code == 400, answer.text
        assert named in answer.json()["message"]
    assert manager.get("/api/v3/jobs").json()["jobs"] == []


# Locked down: a registration token --------------------------------------------------------


def register(manager: Manager, name: str, token: str = TOKEN) -> Any:
    identity = {"id": "identity", "name": name, "provides": [], "version": "R4"}
    return manager.post(f"/farm/register/{token}/farm", json=[identity])


def test_a_node_registers_with_the_token_and_works_on_its_own_url(
    manager: Manager, shares: dict[str, str]
) -> None:
    manager.settings.registration_token = TOKEN
    job = submit_frames(manager, "1", blendfile="projects::shot.blend")

    # The unmodified node pointed at the register URL prints what it is told to use.
    node = RfamNode(f"{manager.url}/farm/register/{TOKEN}", name="render-07", paths=shares)
    assert node.hello() and node.working == []
    (registered,) = node.printed
    assert registered["id"] == "registered" and registered["name"] == "render-07"
    assert registered["server"].startswith(f"{manager.url}/farm/node/")

    node.server = registered["server"]
    assert node.hello()
    assert len(node.working) == 1
    node.finish_all()
    assert node.hello()
    assert job_status(manager, job["id"]) == "completed"


def test_without_credentials_nothing_gets_in(manager: Manager, shares: dict[str, str]) -> None:
    manager.settings.registration_token = TOKEN
    submit_frames(manager, "1", blendfile="projects::shot.blend")
    intruder = RfamNode(manager.url, name="intruder", paths=shares)
    assert not intruder.hello() and intruder.errors == 1
    response = manager.post(
        "/farm", json=[{"id": "identity", "name": "intruder", "provides": ["blender"]}]
    )
    assert response.status_code == 401
    assert "register" in response.json()["message"]
    assert register(manager, "intruder", token="guess").status_code == 403
    guessed = RfamNode(f"{manager.url}/farm/node/not-a-secret", name="intruder", paths=shares)
    assert not guessed.hello()
    assert manager.get("/api/v3/worker-mgt/workers").json()["workers"] == []


def test_a_registered_name_cannot_be_taken_over(manager: Manager, shares: dict[str, str]) -> None:
    manager.settings.registration_token = TOKEN
    first = register(manager, "render-07").json()[0]["server"]
    assert register(manager, "render-07").status_code == 409
    # Another node's secret does not open this node's name, nor does the open door.
    second = register(manager, "render-08").json()[0]["server"]
    assert not RfamNode(second, name="render-07", paths=shares).hello()
    manager.settings.registration_token = None
    response = manager.post("/farm", json=[{"id": "identity", "name": "render-07", "provides": []}])
    assert response.status_code == 401
    assert RfamNode(first, name="render-07", paths=shares).hello()


def test_a_node_reports_only_on_its_own_tasks(manager: Manager, shares: dict[str, str]) -> None:
    manager.settings.registration_token = TOKEN
    job = submit_frames(manager, "1", blendfile="projects::shot.blend")
    a = RfamNode(register(manager, "a").json()[0]["server"], name="a", paths=shares)
    b = RfamNode(register(manager, "b").json()[0]["server"], name="b", paths=shares)
    assert a.hello() and len(a.working) == 1
    b.working = list(a.working)  # b claims a's task as its own
    b.finish_all()
    assert b.hello()
    assert job_status(manager, job["id"]) == "active"
    uuid = a.working[0][0]
    assert manager.get(f"/api/v3/tasks/{uuid}").json()["status"] == "active"
    b.working = list(a.working)
    assert b.hello() and b.killed == [uuid]  # its report is answered: stop


def test_open_manager_keeps_the_open_door(manager: Manager, shares: dict[str, str]) -> None:
    assert register(manager, "n").status_code == 403  # nothing to register with
    assert RfamNode(manager.url, paths=shares).hello()
    assert manager.post("/potential", json="cluster-b").status_code == 200


def test_potential_needs_the_access_token_or_a_node_url(manager: Manager) -> None:
    manager.settings.registration_token = TOKEN
    submit_frames(manager, "1", blendfile="projects::shot.blend")
    assert manager.post("/potential", json="cluster-b").status_code == 401
    server = register(manager, "cluster-b").json()[0]["server"]
    (listed,) = manager.post(
        f"{server.removeprefix(manager.url)}/potential", json="cluster-b"
    ).json()
    assert listed["file"] == "projects::shot.blend" and listed["requires"] == []
    # A node's URL lists jobs for that node's name only.
    assert (
        manager.post(f"{server.removeprefix(manager.url)}/potential", json="cluster-c").status_code
        == 401
    )
    manager.settings.access_token = "studio"
    assert manager.post("/potential", json="cluster-c").status_code == 401
    response = manager.post(
        "/potential", json="cluster-c", headers={"Authorization": "Bearer studio"}
    )
    assert response.status_code == 200 and len(response.json()) == 1


def test_with_only_an_access_token_nodes_register_with_it(
    manager: Manager, shares: dict[str, str]
) -> None:
    job = submit_frames(manager, "1", blendfile="projects::shot.blend")
    manager.settings.access_token = "studio"
    assert not RfamNode(manager.url, name="intruder", paths=shares).hello()
    assert register(manager, "render-07", token="guess").status_code == 403
    node = RfamNode(register(manager, "render-07", token="studio").json()[0]["server"])
    node.name, node.paths = "render-07", shares
    assert node.hello() and len(node.working) == 1
    node.finish_all()
    assert node.hello()
    manager.settings.access_token = None
    assert job_status(manager, job["id"]) == "completed"
