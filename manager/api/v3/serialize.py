"""Database rows as the v3 spec's response objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from client.blend_header import version_text
from manager.db.models import Job, JobBlock, SleepSchedule, Task, Worker, WorkerTag


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def job(row: Job) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "type": row.job_type,
        "type_etag": row.type_etag,
        "priority": row.priority,
        "settings": row.settings,
        "metadata": row.job_metadata,
        "submitter_platform": row.submitter_platform,
        "created": iso(row.created),
        "updated": iso(row.updated),
        "status": row.status,
        "activity": row.activity,
        "steps_completed": row.tasks_completed,
        "steps_total": row.tasks_total,
    }
    if row.delete_requested_at is not None:
        out["delete_requested_at"] = iso(row.delete_requested_at)
    if row.shaman_checkout_id:
        out["storage"] = {"shaman_checkout_id": row.shaman_checkout_id}
    if row.worker_tag_id:
        out["worker_tag"] = row.worker_tag_id
    # Farmhand's addition: the Blender that saved the file, which routes the job.
    if row.blender_version is not None:
        out["blender_version"] = version_text(row.blender_version)
        out["blender_exact"] = bool(row.blender_exact)
    return out


def task_worker(worker: Worker | None) -> dict[str, str] | None:
    if worker is None:
        return None
    return {"id": worker.id, "name": worker.name, "address": worker.address}


def task_summary(row: Task) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "status": row.status,
        "index_in_job": row.index_in_job,
        "priority": row.priority,
        "task_type": row.task_type,
        "updated": iso(row.updated),
        "steps_completed": row.steps_completed,
        "steps_total": row.steps_total,
    }
    worker = task_worker(row.worker)
    if worker:
        out["worker"] = worker
    return out


def task(row: Task, failed_by: list[Worker]) -> dict[str, Any]:
    out = task_summary(row)
    out.update(
        {
            "created": iso(row.created),
            "job_id": row.job_id,
            "activity": row.activity,
            "commands": row.commands,
            "failed_by_workers": [task_worker(w) for w in failed_by],
        }
    )
    if row.last_touched:
        out["last_touched"] = iso(row.last_touched)
    return out


def tag(row: WorkerTag) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "description": row.description}


def worker_summary(row: Worker) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "status": row.status,
        "version": row.software,
        "can_restart": row.can_restart,
    }
    if row.last_seen:
        out["last_seen"] = iso(row.last_seen)
    if row.status_requested:
        out["status_change"] = {"status": row.status_requested, "is_lazy": row.lazy_status_request}
    return out


def worker(row: Worker, current: Task | None) -> dict[str, Any]:
    out = worker_summary(row)
    out.update(
        {
            "ip_address": row.address,
            "platform": row.platform,
            "supported_task_types": row.supported_task_types,
            "tags": [tag(t) for t in row.tags],
        }
    )
    # Farmhand's additions: the Blender it renders with and its render devices.
    if row.blender_version is not None:
        out["blender_version"] = version_text(row.blender_version)
    hardware = (row.extra or {}).get("hardware")
    if isinstance(hardware, dict):
        out["hardware"] = hardware
    if current is not None:
        out["task"] = {**task_summary(current), "job_id": current.job_id}
    return out


def registered_worker(row: Worker) -> dict[str, Any]:
    return {
        "uuid": row.id,
        "name": row.name,
        "address": row.address,
        "status": row.status,
        "platform": row.platform,
        "current_task": "",
        "software": row.software,
        "supported_task_types": row.supported_task_types,
    }


def blocklist_entry(row: JobBlock, worker_name: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"worker_id": row.worker_id, "task_type": row.task_type}
    if worker_name is not None:
        out["worker_name"] = worker_name
    return out


def sleep_schedule(row: SleepSchedule) -> dict[str, Any]:
    return {
        "is_active": row.is_active,
        "days_of_week": row.days_of_week,
        "start_time": row.start_time,
        "end_time": row.end_time,
    }
