"""Add-on preferences: where the manager is, and its access token."""

from __future__ import annotations

import bpy

from .client.api import ManagerAPI


class FarmhandPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    manager_url: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Manager URL",
        description="Address of the Farmhand (or Flamenco) manager, e.g. http://farm:8080",
        default="http://localhost:8080",
    )
    access_token: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Access Token",
        description="Only needed when the manager is configured with an access token",
        subtype="PASSWORD",
        default="",
    )
    registration_token: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Worker Registration Token",
        description=(
            "For Start Worker Mode: the manager's registration token, when it has one "
            "(FARMHAND_REGISTRATION_TOKEN is used when this is empty)"
        ),
        subtype="PASSWORD",
        default="",
    )
    show_all_job_types: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Show All Job Types",
        description=(
            "Also offer the manager's test job types and those of the older protocols, "
            "which render nothing an artist wants"
        ),
        default=False,
    )
    job_refresh_seconds: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Refresh Jobs Every",
        description="How often the Farm panel refreshes this file's jobs while any is running",
        default=5,
        min=2,
        max=600,
        subtype="TIME_ABSOLUTE",
    )

    download_frames: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Download Frames as They Finish",
        description=(
            "While the Farm panel follows this file's jobs, bring each finished frame into "
            "the job's render output folder"
        ),
        default=True,
    )

    def draw(self, context: bpy.types.Context) -> None:
        from . import farm_state

        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "manager_url")
        layout.prop(self, "access_token")
        layout.prop(self, "registration_token")
        layout.prop(self, "job_refresh_seconds")
        layout.prop(self, "download_frames")
        layout.prop(self, "show_all_job_types")
        row = layout.row()
        row.operator("farmhand.test_connection", icon="LINKED")
        if farm_state.STATE.connection_message:
            layout.label(
                text=farm_state.STATE.connection_message,
                icon="ERROR" if farm_state.STATE.connection_failed else "CHECKMARK",
            )
        if not bpy.app.online_access:
            layout.label(
                text="Online access is off (Preferences → System → Network): Farmhand is idle",
                icon="INTERNET_OFFLINE",
            )


def get_preferences(context: bpy.types.Context | None = None) -> FarmhandPreferences:
    """The one accessor for the add-on's preferences."""
    preferences = (context or bpy.context).preferences
    assert preferences is not None
    addon = preferences.addons[__package__]
    return addon.preferences  # type: ignore[return-value]


def manager_api(context: bpy.types.Context | None = None) -> ManagerAPI:
    """A client of the manager in the preferences (cheap: nothing is sent until asked)."""
    prefs = get_preferences(context)
    return ManagerAPI(prefs.manager_url, prefs.access_token)


classes = (FarmhandPreferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
