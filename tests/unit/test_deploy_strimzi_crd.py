"""The vendored Strimzi CRD: unchanged, and used strictly like the API server would use it."""

import copy
import hashlib
import re
from importlib import resources
from pathlib import Path

import jsonschema
from ruamel.yaml import YAML

from streamdr.deploy.validate import STRIMZI_CRD, STRIMZI_VERSION, strict_schema, validation_errors
from tests.unit.test_deploy_k8s import mm2

# Of install/cluster-operator/048-Crd-kafkamirrormaker2.yaml at Strimzi tag 0.51.0 (README.md).
CRD_SHA256 = "4f3f64f1bc41e471fda94229ecbda7318543fa2b83773b1b976315373ebae720"


def _schemas_dir():
    return resources.files("streamdr.deploy").joinpath("schemas")


def test_the_vendored_crd_is_strimzis_file_unchanged_with_its_license():
    data = _schemas_dir().joinpath(STRIMZI_CRD).read_bytes()
    assert hashlib.sha256(data).hexdigest() == CRD_SHA256
    assert "Apache License" in _schemas_dir().joinpath("LICENSE-strimzi").read_text()
    readme = _schemas_dir().joinpath("README.md").read_text()
    assert CRD_SHA256 in readme and STRIMZI_VERSION in readme


def test_rendered_mirror_makers_validate_against_the_crd_in_both_apis():
    old = mm2("dr", "v1beta2") + mm2("primary", "v1beta2")
    assert len(old) == 2  # v1beta2: the heartbeat-only mirror into primary too
    new = mm2("dr") + mm2("primary")
    assert [r["apiVersion"] for r in new] == ["kafka.strimzi.io/v1"]  # no flow into primary
    assert validation_errors(old + new) == []


def test_the_v1_resource_shown_in_deployment_md_is_valid_and_matches_the_renderer():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```", doc, re.S | re.M)
    (block,) = [b for b in blocks if "kind: KafkaMirrorMaker2" in b]
    shown = YAML(typ="safe").load(block)
    assert validation_errors([shown]) == []
    (rendered,) = mm2("dr")
    assert shown["apiVersion"] == rendered["apiVersion"]
    assert shown["spec"].keys() == rendered["spec"].keys()
    assert shown["spec"]["target"].keys() == rendered["spec"]["target"].keys()
    mirror = rendered["spec"]["mirrors"][0]
    assert shown["spec"]["mirrors"][0]["source"] == mirror["source"]


def test_v1_refuses_the_v1beta2_layout():
    # (0.51's v1beta2 schema already accepts the v1 layout, so the reverse is not refused.)
    (v1,) = mm2("dr")
    (v1beta2,) = mm2("dr", "v1beta2")
    as_new = {**v1beta2, "apiVersion": "kafka.strimzi.io/v1"}
    errors = validation_errors([as_new])
    assert any("'target' is a required property" in e for e in errors)
    assert any("connectCluster" in e for e in errors)  # removed in v1
    connect_topics = copy.deepcopy(v1)
    del connect_topics["spec"]["target"]["groupId"]  # v1 makes the Connect group explicit
    assert any("groupId" in e for e in validation_errors([connect_topics]))


def test_crd_validation_is_strict_and_checks_strimzis_own_rules():
    (kmm2,) = mm2("dr", "v1beta2")
    unknown = copy.deepcopy(kmm2)
    unknown["spec"]["clusters"][0]["bootstrapServer"] = "typo:9092"
    assert any("bootstrapServer" in e for e in validation_errors([unknown]))
    tls = next(c for c in kmm2["spec"]["clusters"] if "tls" in c)
    both = copy.deepcopy(kmm2)
    entry = next(c for c in both["spec"]["clusters"] if "tls" in c)["tls"]["trustedCertificates"]
    entry[0]["certificate"] = "ca.crt"  # oneOf: certificate or pattern, not both
    assert tls["tls"]["trustedCertificates"][0].get("pattern")
    assert any("trustedCertificates/0" in e for e in validation_errors([both]))
    old = {**kmm2, "apiVersion": "kafka.strimzi.io/v1alpha1"}
    (error,) = validation_errors([old])
    assert "not served by Strimzi 0.51.0 (served: v1, v1beta2)" in error


def test_strict_schema_closes_structural_objects_only():
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "nullable": True},
            "free": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"x": {"type": "integer"}},
            },
        },
        "oneOf": [{"properties": {"a": {}}, "required": ["a"]}],
    }
    validator = jsonschema.Draft4Validator(strict_schema(schema))
    assert validator.is_valid({"a": None, "free": {"x": 1, "y": 2}})
    assert not validator.is_valid({"a": "x", "b": 1})
    assert not validator.is_valid({"free": {}})  # the oneOf still applies
