"""The add-on's panels."""

from __future__ import annotations

from . import farm

register, unregister = farm.register, farm.unregister
