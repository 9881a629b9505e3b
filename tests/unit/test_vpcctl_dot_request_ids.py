"""A REQUEST_ID that is no id goes to the API as one path segment, which answers 404 (exit
4). `.`, `..` and the empty id cannot be one: requests and urllib3 remove dot segments
(even percent-encoded ones, which requests decodes first), and an empty one leaves
/vpcs/. So `vpcctl get .` would send GET /vpcs/ (the local stack's gateway routes it to
the listing: exit 0, a listing shown as if it were a request) and `vpcctl delete ..`
DELETE / (a 403: exit 3, "not logged in"). They are refused as no such request (exit 4,
docs/local-stack.md's exit codes) before anything is sent, never anywhere but
/vpcs/{id}."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli_harness import Cli
from support.fake_api import FakeApi, Reply


@pytest.mark.parametrize("command", ["get", "delete", "wait"])
@pytest.mark.parametrize("given", [".", "..", ""])
def test_an_id_no_url_can_carry_is_no_such_request_and_is_never_sent(
    tmp_path: Path, api: FakeApi, command: str, given: str
) -> None:
    cli = Cli(tmp_path, api)
    cli.login()
    # What the local stack answers GET /vpcs/ with (Chalice routes it to GET /vpcs).
    api.script("GET", "/vpcs/", Reply(200, {"items": [], "next_token": None}))

    result = cli.run(command, given)

    paths = [r.path for r in api.received if r.path.startswith(("/vpcs", "/"))]
    assert all(p.startswith("/vpcs/") and p != "/vpcs/" for p in paths), paths
    assert result.exit_code == 4, (result.exit_code, result.output)
    assert "No request with id" in result.stderr
    assert paths == []  # refused before anything was sent
