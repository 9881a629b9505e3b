"""A token or a password goes over plain HTTP only to this machine (docs/local-stack.md:
"A token only travels over `https://`, or plain `http://` to this machine"). requests and
botocore would also route by the environment's HTTP_PROXY: with one set (and no NO_PROXY
naming localhost), the ID token for http://127.0.0.1:8000 and the password for the local
stack's moto would go, in clear text, to the proxy host. Plain-http loopback targets are
sent to directly; https:// targets keep the environment's proxies (a corporate network's
way out), where the proxy sees only TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from botocore.client import BaseClient
from click.testing import CliRunner

from support.cli_harness import Cli
from support.fake_api import FakeApi, Reply, fake_jwt, serve
from vpcctl.api import ApiClient
from vpcctl.auth import boto3_cognito
from vpcctl.commands import cli as vpcctl
from vpcctl.config import Target
from vpcctl.tokens import Tokens

ID_TOKEN = fake_jwt({"sub": "u-1", "exp": 4_000_000_000})
REQUEST_ID = "0b6f1c1e-6d1f-4c0e-9a53-2f1d2a3b4c5d"


@pytest.fixture
def proxy() -> Iterator[FakeApi]:
    """A listener standing for the proxy host: what reaches it left for another host."""
    yield from serve()


@pytest.fixture
def cli(tmp_path: Path, api: FakeApi) -> Cli:
    return Cli(tmp_path, api)


@pytest.fixture(autouse=True)
def _no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_the_id_token_never_goes_to_a_proxy_host_over_plain_http(
    cli: Cli, api: FakeApi, proxy: FakeApi, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # A corporate machine's proxy (here a listener standing in for proxy.corp:3128).
    monkeypatch.setenv(variable, proxy.url)
    cli.cache().store(
        api.url, Tokens(ID_TOKEN, "refresh-1", 4_000_000_000.0, "demo", "local-client-1")
    )
    api.script(
        "GET", f"/vpcs/{REQUEST_ID}", Reply(200, {"request_id": REQUEST_ID, "status": "QUEUED"})
    )

    cli.run("get", REQUEST_ID)

    sent_to_proxy = [r.headers.get("authorization", "") for r in proxy.received]
    assert not any(ID_TOKEN in h for h in sent_to_proxy), (
        "the bearer token went in clear text to the proxy host, not to the API URL checked"
    )


def test_the_password_never_goes_to_a_proxy_host_over_plain_http(
    cli: Cli, proxy: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    proxy.respond(
        "POST",
        "http://127.0.0.1:5999/",
        lambda r: Reply(400, {"__type": "NotAuthorizedException", "message": "x"}),
    )
    runtime = cli.runtime()
    runtime.cognito = boto3_cognito  # botocore, as `vpcctl login` really sends
    CliRunner().invoke(vpcctl, ["login"], obj=runtime)

    bodies = [r.body for r in proxy.received]
    assert not any(b"Demo-Password-1a" in b for b in bodies), (
        "the demo user's password went in clear text to the proxy host"
    )


def test_an_https_api_still_goes_through_the_environments_proxy() -> None:
    remote = requests.Session()
    ApiClient("https://api.example.com", _NoTokens(), session=remote)
    assert remote.trust_env  # HTTPS_PROXY and NO_PROXY are honoured
    local = requests.Session()
    ApiClient("http://127.0.0.1:8000", _NoTokens(), session=local)
    assert not local.trust_env


def test_the_cognito_client_of_aws_itself_still_goes_through_the_environments_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    deployed = boto3_cognito(Target("https://x.example", "c", "eu-west-1", None, None))
    assert isinstance(deployed, BaseClient)
    assert deployed.meta.config.proxies is None  # botocore's default: the environment's
    local = boto3_cognito(
        Target("http://127.0.0.1:8000", "c", "us-east-1", "http://127.0.0.1:5000", None)
    )
    assert isinstance(local, BaseClient)
    assert local.meta.config.proxies == {"http": None, "https": None}


class _NoTokens:
    def id_token(self) -> str:
        return ID_TOKEN

    def refresh(self) -> str:
        return ID_TOKEN
