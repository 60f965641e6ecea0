"""The batch envelope and answer the code produces validate against the documented schemas."""

import json
from pathlib import Path

import jsonschema

from streamdr.pipeline.batch import encode_batch, parse_results
from tests.unit.test_pipeline_batching import _items

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_encoded_envelope_matches_the_documented_schema():
    schema = json.loads((SCHEMAS / "batch-envelope-v1.json").read_text())
    _, body = encode_batch(_items(3))
    jsonschema.validate(json.loads(body), schema)


def test_documented_answer_shape_is_what_the_sender_parses():
    schema = json.loads((SCHEMAS / "batch-response-v1.json").read_text())
    answer = {
        "batch_id": "b1-" + "0" * 40,
        "results": [
            {"idempotency_key": "k0", "status": "applied"},
            {"idempotency_key": "k1", "status": "rejected", "error": "bad row"},
        ],
    }
    jsonschema.validate(answer, schema)
    assert [r.status for r in parse_results(answer, ["k0", "k1"])] == ["applied", "rejected"]
