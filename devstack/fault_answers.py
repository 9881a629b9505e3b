"""The answers an injected fault gives in place of AWS's (moto's), shaped as botocore
parses them: an error (`error_response`) and a throttled BatchGetItem's unprocessed
keys (`hand_back`). Used by the fault injector's hooks (`fault_injector.py`)."""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import AWSResponse

from .fault_rules import Rule


def hand_back(
    params: dict[str, Any], parsed: dict[str, Any], share: float, only: frozenset[str] | None
) -> None:
    """Make a BatchGetItem answer hand back the last `share` of its keys (or those of the
    `only` request ids) as unprocessed. A table left with no item is left out of
    `Responses`, as DynamoDB may do."""
    for table, request in params.get("RequestItems", {}).items():
        keys = list(request.get("Keys", []))
        if only is not None:
            back = [k for k in keys if k.get("request_id", {}).get("S") in only]
        else:
            count = max(1, round(len(keys) * share)) if keys else 0
            back = keys[len(keys) - count :]
        if not back:
            continue
        responses = parsed.setdefault("Responses", {})
        kept = [
            item
            for item in responses.get(table, [])
            if {k: item.get(k) for k in back[0]} not in back
        ]
        if kept:
            responses[table] = kept
        else:
            responses.pop(table, None)
        unprocessed = parsed.setdefault("UnprocessedKeys", {})
        unprocessed[table] = {**request, "Keys": back}


def error_response(rule: Rule) -> tuple[AWSResponse, dict[str, Any]]:
    """The rule's error: the response and parsed answer that stand for the call's (the
    after-call hook raises the parsed part as a ClientError)."""
    parsed = {
        "Error": {"Code": rule.code, "Message": rule.message or f"injected {rule.code}"},
        "ResponseMetadata": {"HTTPStatusCode": rule.status, "RequestId": "injected"},
    }
    return AWSResponse("https://injected.invalid", rule.status, {}, None), parsed
