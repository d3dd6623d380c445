"""The plan's JSON Schema, generated from the models; the committed copy is checked for drift."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from missionline.plan.models import Plan

SCHEMA_FILE = "plan.schema.json"


def plan_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of ``missionline.yaml``."""
    schema = Plan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "missionline plan (missionline.yaml)"
    return schema


def committed_schema_path() -> Path:
    """The schema file shipped in the package (editors point at a copy of it)."""
    return Path(str(resources.files("missionline.plan"))) / SCHEMA_FILE
