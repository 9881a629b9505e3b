"""`vpcctl create` names its Idempotency-Key whenever the request may have been accepted
(docs/local-stack.md, exit 5: "a create that may have reached the API ... then names its
Idempotency-Key"). It leaves the hint out only when nothing was ever sent: the stack was
down from the first attempt. When the first POST reached the API (here its 503 says the
request was stored) and the stack stops before the retry, whose connection is refused,
the error is still StackNotRunning (exit 5), but it names the key, in text and --json:
a rerun without it would send a new key and make a second VPC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli_harness import Cli, json_err
from support.fake_api import FakeApi, Reply

VPC_SPEC = {
    "vpc": {"cidr": "10.30.0.0/16", "name": "apps"},
    "subnets": [{"cidr": "10.30.1.0/24", "az": "us-east-1a"}],
}
STORED_NOT_QUEUED = {
    "Code": "ServiceUnavailable",
    "Message": "The request was stored but could not be queued; retry with the same "
    "Idempotency-Key to complete it.",
}


@pytest.mark.parametrize("as_json", [False, True])
def test_a_create_whose_stack_stops_after_it_was_accepted_names_its_key(
    tmp_path: Path, api: FakeApi, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    cli = Cli(tmp_path, api)
    cli.login()
    (cli.cwd / "spec.json").write_text(json.dumps(VPC_SPEC))
    api.script("POST", "/vpcs", Reply(503, STORED_NOT_QUEUED, {"Retry-After": "1"}))

    def stack_stops(seconds: float) -> None:  # `make run` ended (Ctrl-C) during the wait
        api.close()

    monkeypatch.setattr(cli.time, "sleep", stack_stops)
    result = cli.run("create", "-f", "spec.json", *(["--json"] if as_json else []))

    assert len(api.calls("POST", "/vpcs")) == 1  # the request reached the API
    assert result.exit_code == 5
    shown = json.dumps(json_err(result)) if as_json else result.stderr
    assert "--idempotency-key key-1" in shown, shown
