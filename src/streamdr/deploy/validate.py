"""Offline validation of rendered objects: Kubernetes' own schemas and Strimzi's MM2 CRD.

Kubernetes objects are checked with ``kubernetes-validate`` (the Kubernetes OpenAPI schemas it
ships, strict: unknown fields are errors) for ``KUBERNETES_VERSION``. ``KafkaMirrorMaker2``
resources are checked against the ``openAPIV3Schema`` of the version they name in Strimzi's own
CRD file, vendored unchanged as ``schemas/048-Crd-kafkamirrormaker2.yaml`` (Strimzi
``STRIMZI_VERSION``; see ``schemas/README.md``). Needs the ``dev`` extra (kubernetes-validate,
jsonschema).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import kubernetes_validate
from ruamel.yaml import YAML

KUBERNETES_VERSION = "1.34"
STRIMZI_VERSION = "0.51.0"
STRIMZI_CRD = "048-Crd-kafkamirrormaker2.yaml"
STRIMZI_GROUP = "kafka.strimzi.io"
_VALUE_ONLY = frozenset({"oneOf", "anyOf", "allOf", "not"})


@cache
def _strimzi_versions() -> dict[str, dict[str, Any]]:
    """Return the served versions of the vendored CRD: name -> openAPIV3Schema."""
    text = resources.files("streamdr.deploy").joinpath("schemas", STRIMZI_CRD).read_text()
    crd = YAML(typ="safe", pure=True).load(text)
    return {
        v["name"]: v["schema"]["openAPIV3Schema"]
        for v in crd["spec"]["versions"]
        if v.get("served")
    }


def strict_schema(node: Any, *, structural: bool = True) -> Any:
    """Return an OpenAPI v3 structural schema as a JSON Schema that refuses unknown fields.

    The API server's strict field validation (``kubectl apply --validate=strict``) rejects a
    field the schema does not declare unless ``x-kubernetes-preserve-unknown-fields`` is set;
    JSON Schema allows it unless ``additionalProperties`` is false, so that is added. Not under
    ``oneOf``/``anyOf``/``allOf``/``not``: there ``properties`` only constrain values (a
    structural schema declares its fields outside them). ``nullable`` becomes a ``null`` type.
    """
    if isinstance(node, list):
        return [strict_schema(n, structural=structural) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: strict_schema(v, structural=structural and k not in _VALUE_ONLY) for k, v in node.items()
    }
    if (
        structural
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


@cache
def _strimzi_validator(version: str) -> jsonschema.Draft4Validator:
    # OpenAPI 3.0 schema objects are a draft-4 dialect (boolean exclusiveMinimum and the like).
    return jsonschema.Draft4Validator(strict_schema(_strimzi_versions()[version]))


def _where(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


def _strimzi_errors(obj: dict[str, Any]) -> list[str]:
    group, _, version = str(obj.get("apiVersion", "")).partition("/")
    if group != STRIMZI_GROUP or version not in _strimzi_versions():
        return [
            f"{_where(obj)}: apiVersion {obj.get('apiVersion')!r} is not served by Strimzi "
            f"{STRIMZI_VERSION} (served: {', '.join(sorted(_strimzi_versions()))})"
        ]
    return [
        f"{_where(obj)}: {'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in _strimzi_validator(version).iter_errors(obj)
    ]


def validation_errors(objects: list[dict[str, Any]]) -> list[str]:
    """Return every problem found in ``objects`` as ``Kind/name: path: message`` (empty: valid)."""
    errors: list[str] = []
    for obj in objects:
        if obj.get("kind") == "KafkaMirrorMaker2":
            errors += _strimzi_errors(obj)
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.absolute_path)
            errors.append(f"{_where(obj)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{_where(obj)}: no Kubernetes {KUBERNETES_VERSION} schema: {exc}")
    return errors
