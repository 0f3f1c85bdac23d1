"""Farmhand manager: the farm's HTTP API, scheduler, database and dashboard (no bpy)."""

__version__ = "0.1.0"
NAME = "Farmhand"
