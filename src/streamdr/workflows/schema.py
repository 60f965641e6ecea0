"""The JSON Schema of a workflow file, for editors and CI (`streamdr workflows schema`)."""

from __future__ import annotations

from typing import Any

from streamdr.settings.limits import MAX_SECONDS
from streamdr.workflows.model import DURATION, GUARANTEES, NAME, SEMVER, Workflow

SCHEMA_ID = "https://streamdr.dev/schemas/workflow-v1.json"


def workflow_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of one workflow file."""
    schema = Workflow.model_json_schema(mode="validation")
    # rto/rpo accept "30s", "5m", "1h" or seconds; pydantic would describe an ISO duration.
    duration = {
        "anyOf": [
            {"type": "string", "pattern": DURATION.pattern},
            {"type": "number", "minimum": 0, "maximum": MAX_SECONDS},
            {"type": "null"},
        ],
        "default": None,
    }
    for key in ("rto", "rpo"):
        description = schema["properties"][key].get("description")
        schema["properties"][key] = {**duration, "description": description or "e.g. 30s, 5m, 1h"}
    for props in (schema["properties"], schema["$defs"]["TransformationRef"]["properties"]):
        for key in ("name", "client"):
            if key in props:
                props[key]["pattern"] = NAME.pattern
    schema["$defs"]["TransformationRef"]["properties"]["version"]["pattern"] = SEMVER.pattern
    # `delivery: at-least-once` (the guarantee alone) is accepted as well as the mapping.
    schema["properties"]["delivery"] = {
        "anyOf": [{"enum": list(GUARANTEES)}, {"$ref": "#/$defs/DeliveryMode"}],
        "description": "The guarantee, or a mapping: guarantee, ordering, max_in_flight, batch.",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }
