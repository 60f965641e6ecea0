"""Offline validation of rendered objects: Kubernetes' own schemas and Strimzi's MM2 schema.

Kubernetes objects are checked with ``kubernetes-validate`` (the Kubernetes OpenAPI schemas it
ships, strict: unknown fields are errors) for ``KUBERNETES_VERSION``. ``KafkaMirrorMaker2``
resources are checked against ``schemas/kafkamirrormaker2-v1beta2.schema.json``, a schema
derived from Strimzi's published API (see ``schemas/README.md`` for where it comes from and what
it does not cover). Needs the ``dev`` extra (kubernetes-validate, jsonschema).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import kubernetes_validate

KUBERNETES_VERSION = "1.34"
STRIMZI_SCHEMA = "kafkamirrormaker2-v1beta2.schema.json"


@cache
def _strimzi_validator() -> jsonschema.Draft202012Validator:
    text = resources.files("streamdr.deploy").joinpath("schemas", STRIMZI_SCHEMA).read_text()
    return jsonschema.Draft202012Validator(json.loads(text))


def _where(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


def validation_errors(objects: list[dict[str, Any]]) -> list[str]:
    """Return every problem found in ``objects`` as ``Kind/name: path: message`` (empty: valid)."""
    errors: list[str] = []
    for obj in objects:
        if obj.get("kind") == "KafkaMirrorMaker2":
            for e in _strimzi_validator().iter_errors(obj):
                path = "/".join(str(p) for p in e.absolute_path)
                errors.append(f"{_where(obj)}: {path}: {e.message}")
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.absolute_path)
            errors.append(f"{_where(obj)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{_where(obj)}: no Kubernetes {KUBERNETES_VERSION} schema: {exc}")
    return errors
