"""Presets for common CRM exports: a packaged mapping and a packaged plan per vendor.

``missionline import --preset hubspot FILES`` reads the files people download from the vendor
with the preset's mapping (``hubspot.yaml``); ``missionline init --from hubspot`` starts a
workspace whose plan (``hubspot-plan.yaml``) has the vendor's default stages, so that a first
import works without editing either file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from missionline.errors import MissionlineError

PRESETS = ("hubspot", "salesforce")


def _packaged(name: str, suffix: str) -> Path:
    """The packaged file ``<name><suffix>`` of a known preset."""
    if name not in PRESETS:
        known = ", ".join(PRESETS)
        raise MissionlineError(f"unknown preset {name!r}; the presets are: {known}")
    return Path(str(resources.files("missionline.presets"))) / f"{name}{suffix}"


def preset_mapping(name: str) -> Path:
    """Return the mapping file of a preset (``hubspot``, ``salesforce``)."""
    return _packaged(name, ".yaml")


def preset_plan(name: str) -> Path:
    """Return the plan file of a preset, whose lifecycle is the vendor's default stages."""
    return _packaged(name, "-plan.yaml")
