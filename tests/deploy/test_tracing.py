"""X-Ray: every function traces (Chalice's `xray`), and may write its traces."""

from __future__ import annotations

from typing import Any

from deploy.test_cloudformation import as_list, statements
from infra.stage import FUNCTIONS


def _functions(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in sam["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_every_function_of_the_cloudformation_output_is_traced(sam: dict[str, Any]) -> None:
    functions = _functions(sam)
    assert len(functions) == len(FUNCTIONS)
    assert {name: f.get("Tracing") for name, f in functions.items()} == dict.fromkeys(
        functions, "Active"
    )


def test_every_function_of_the_terraform_output_is_traced(tf: dict[str, Any]) -> None:
    functions = tf["resource"]["aws_lambda_function"]
    assert len(functions) == len(FUNCTIONS)
    for name, function in functions.items():
        assert function["tracing_config"] == {"mode": "Active"}, name


def test_every_functions_role_may_write_its_traces_and_nothing_else_of_x_ray(
    sam: dict[str, Any],
) -> None:
    for function in FUNCTIONS:
        tracing = [
            s
            for s in statements(sam, function)
            if any(str(a).startswith("xray:") for a in as_list(s["Action"]))
        ]
        assert tracing == [
            {
                "Sid": "Tracing",
                "Effect": "Allow",
                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                "Resource": "*",
            }
        ], function
