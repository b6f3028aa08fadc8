"""schemathesis extensions for `test_openapi_fuzz.py` (loaded through `SCHEMATHESIS_HOOKS`).

Bulk create takes NDJSON, which schemathesis cannot serialise by itself: the generated body
(bytes, or text with whatever it holds) goes on the wire as it is, so broken rows, bad UTF-8
and stray bytes all reach the parser.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode() + b"\n"
