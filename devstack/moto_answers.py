"""DynamoDB's answers that carry items, written as JSON directly: applied wherever moto runs.

moto 5.2 writes every answer by walking the operation's output shape member by member,
each value through a picker that tries several spellings of its name. For an answer
holding items (GetItem, Query, BatchGetItem, an update's ALL_NEW, ...), that walk
visits every attribute value of every item, and it was most of the CPU a local stack's
moto spent: the reconciler reads its SUCCEEDED records every run (drift), so the cost
grew with the records held (measured with py-spy: 65% of the process's samples, with
30 requests held). The answer moto hands the serializer (`DynamoResult`) is already in
the wire's form ({"S": ...}, {"M": {...}}, ...), but for binary values (raw bytes,
base64 on the wire), timestamps (seconds on the wire) and members the output shape does
not name (left out); `plain_dynamodb_answers` writes it so, and leaves every other
answer (errors, table descriptions, other services) to moto's serializer.
`tests/unit/test_moto_answers.py` compares the two writings answer by answer.
"""

from __future__ import annotations

import base64
import calendar
import functools
import json
from datetime import datetime
from typing import Any

from moto.core.responses import ActionContext
from moto.dynamodb.responses import DynamoResult

_FIXED_MARK = "__vpc_provisioner_plain__"
# The operations whose answers are items (and counts, keys and consumed capacity): moto
# answers BatchWriteItem and TransactWriteItems otherwise (no `DynamoResult`).
ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "TransactGetItems",
    }
)


def plain_dynamodb_answers() -> None:
    """Write DynamoDB's item answers with `json.dumps`. Idempotent."""
    original = DynamoResult.execute_result
    if getattr(original, _FIXED_MARK, False):
        return

    @functools.wraps(original)
    def execute_result(self: DynamoResult, context: ActionContext) -> Any:
        operation = context.operation_model
        shape = operation.output_shape
        if operation.name not in ITEM_OPERATIONS or shape is None:
            return original(self, context)
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, plain_body(self.result, shape)

    setattr(execute_result, _FIXED_MARK, True)
    setattr(execute_result, "moto_serializer", original)  # noqa: B010 (for the test)
    DynamoResult.execute_result = execute_result  # type: ignore[method-assign,assignment]


def plain_body(result: Any, shape: Any) -> str:
    """The JSON of `result`: the members `shape` names, None left out, as the wire has them."""
    members = {
        name: value for name, value in result.items() if name in shape.members and value is not None
    }
    return json.dumps(members, default=_on_the_wire)


def _on_the_wire(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        seconds = calendar.timegm(value.timetuple())
        return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds
    raise TypeError(f"not JSON: {type(value).__name__}")
