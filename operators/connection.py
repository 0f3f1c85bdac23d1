"""Talking to the manager on request: test the connection, refresh the job types."""

from __future__ import annotations

import bpy

from .. import farm_state
from ..client.api import ManagerError
from ..client.job_settings import JobType
from ..preferences import get_preferences, manager_api
from . import job_type_props, worker_tags
from .ui_types import OperatorResult

OFFLINE_MESSAGE = "Online access is off: allow it in Preferences → System → Network to use the farm"


def online_or_report(operator: bpy.types.Operator) -> bool:
    """Whether Blender may use the network; if not, say so on the operator."""
    if bpy.app.online_access:
        return True
    operator.report({"ERROR"}, OFFLINE_MESSAGE)
    return False


class FARMHAND_OT_test_connection(bpy.types.Operator):
    bl_idname = "farmhand.test_connection"
    bl_label = "Test Connection"
    bl_description = "Ask the manager for its version and how many workers are online"

    def execute(self, context: bpy.types.Context) -> set[OperatorResult]:
        if not online_or_report(self):
            return {"CANCELLED"}
        api = manager_api(context)
        try:
            message = api.farm_summary().describe()
        except ManagerError as exc:
            farm_state.STATE.connection_message = str(exc)
            farm_state.STATE.connection_failed = True
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        finally:
            api.close()
        farm_state.STATE.connection_message = message
        farm_state.STATE.connection_failed = False
        self.report({"INFO"}, message)
        return {"FINISHED"}


def refresh_job_types(context: bpy.types.Context) -> None:
    """Fetch the job types (raises ManagerError): the artist types, or all of them when the
    preferences ask, and keep the scene's choice if still offered; and the worker tags."""
    api = manager_api(context)
    try:
        catalog = api.job_type_catalog()
        served = {t.name: t for t in (JobType.from_api(r) for r in api.job_types())}
        worker_tags.refresh_worker_tags(api)
    finally:
        api.close()
    everything = get_preferences(context).show_all_job_types
    farm_state.STATE.catalog = catalog
    farm_state.STATE.job_types = {
        t.name: served[t.name] for t in catalog.offered(everything) if t.name in served
    }
    farm_state.STATE.job_types_error = ""
    job_type_props.install_job_type(context, job_type_props.chosen_job_type(context.scene))


class FARMHAND_OT_refresh_job_types(bpy.types.Operator):
    bl_idname = "farmhand.refresh_job_types"
    bl_label = "Refresh Job Types"
    bl_description = "Fetch the job types, their settings and the worker tags from the manager"

    def execute(self, context: bpy.types.Context) -> set[OperatorResult]:
        if not online_or_report(self):
            return {"CANCELLED"}
        try:
            refresh_job_types(context)
        except ManagerError as exc:
            farm_state.STATE.job_types_error = str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        count = len(farm_state.STATE.job_types)
        self.report({"INFO"}, f"{count} job type{'s' if count != 1 else ''} on the manager")
        return {"FINISHED"}


class FARMHAND_OT_eval_settings(bpy.types.Operator):
    bl_idname = "farmhand.eval_settings"
    bl_label = "Update From Scene"
    bl_description = "Compute the job settings that come from the scene again"

    def execute(self, context: bpy.types.Context) -> set[OperatorResult]:
        group = job_type_props.settings_group(context)
        if group is None:
            self.report({"ERROR"}, "No job type chosen; refresh job types")
            return {"CANCELLED"}
        try:
            job_type_props.evaluate_into(context, group)
        except Exception as exc:  # a preset's expression: report it by name
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


classes = (FARMHAND_OT_test_connection, FARMHAND_OT_refresh_job_types, FARMHAND_OT_eval_settings)
register, unregister = bpy.utils.register_classes_factory(classes)
