"""An unreadable 5xx from a JSON-protocol AWS service (DynamoDB, SSM, API Gateway) ends a
deploy in one line, as one from STS does (docs/deploy.md, "When a deploy stops").
botocore makes such a page (a proxy's, AWS's front end's) the error's message and the
status its code: the page was printed whole, 2 to 44 lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from infra.aws import ensure_page_token_secret, exit_code_of, table_exists
from infra.deploy import Deployer

# What Envoy (in front of many endpoints, and corporate proxies) answers: not JSON, two lines.
PAGE = b"upstream connect error or disconnect/reset before headers.\nreset reason: overflow"


def _answers(status: int, body: bytes) -> Any:
    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    def answer(**_: Any) -> AWSResponse:
        return AWSResponse("https://aws.example", status, {}, Raw())

    return answer


def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


@pytest.mark.parametrize(
    ("event", "call"),
    [
        (
            "before-send.dynamodb.DescribeTable",
            lambda s: table_exists(s.client("dynamodb"), "dev", "vpc-provisioner-dev"),
        ),
        (
            "before-send.ssm.GetParameter",
            lambda s: ensure_page_token_secret(s.client("ssm"), "/x/dev/k", "d", print),
        ),
        (
            "before-send.api-gateway.GetAccount",
            lambda s: Deployer(s)._require_api_gateway_logging("eu-west-1"),
        ),
    ],
)
def test_an_unreadable_5xx_from_a_json_service_is_one_line(
    event: str,
    call: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _environment(monkeypatch, tmp_path)
    session = boto3.session.Session()
    session.events.register(event, _answers(502, PAGE))

    assert exit_code_of(lambda: call(session)) == 1

    err = capsys.readouterr().err
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, f"not one line:\n{err}"


# A proxy's or CloudFront's 503 page: HTML, but not starting with `<html>` (botocore's test
# for a generic error page), so the JSON parsers make the whole page the error's message.
HTML_PAGE = (
    b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n<HTML><HEAD>'
    b"<TITLE>ERROR: The request could not be satisfied</TITLE>\n</HEAD><BODY>\n"
    + b"<p>503 Service Unavailable ...</p>\n" * 40
    + b"</BODY></HTML>"
)


def test_an_html_5xx_page_from_ssm_is_one_short_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _environment(monkeypatch, tmp_path)
    session = boto3.session.Session()
    session.events.register("before-send.ssm.GetParameter", _answers(503, HTML_PAGE))

    assert (
        exit_code_of(
            lambda: ensure_page_token_secret(session.client("ssm"), "/x/dev/k", "d", print)
        )
        == 1
    )

    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert len(err) < 400, f"{len(err)} characters"
    assert "GetParameter was answered 503 with something that is not an AWS response" in err
