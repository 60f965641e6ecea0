"""PostgreSQL text-format column values as JSON-friendly Python values, by type OID.

Exact types stay exact: ``numeric`` (money!) stays a string, timestamps stay PostgreSQL's own
text; only types with a lossless JSON form are converted.
"""

from __future__ import annotations

import json
import math
from typing import Any

BOOL = 16
INT_TYPES = frozenset({20, 21, 23, 26})  # int8, int2, int4, oid
FLOAT_TYPES = frozenset({700, 701})  # float4, float8
JSON_TYPES = frozenset({114, 3802})  # json, jsonb


def convert(type_oid: int, text: str) -> Any:
    """Return ``text`` (PostgreSQL's output for ``type_oid``) as a JSON-friendly value."""
    if type_oid == BOOL:
        return text == "t"
    if type_oid in INT_TYPES:
        return int(text)
    if type_oid in FLOAT_TYPES:
        value = float(text)
        return value if math.isfinite(value) else text  # NaN/Infinity are not JSON
    if type_oid in JSON_TYPES:
        return json.loads(text)
    return text
